package otp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newM(t *testing.T, c *clock) *Manager[string] {
	t.Helper()
	m, err := NewManager[string](Config{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerifyOnce(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	m := newM(t, c)
	id, code, exp, err := m.Start("voter-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		t.Fatalf("code %q is not 6 digits", code)
	}
	if !exp.Equal(c.t.Add(5 * time.Minute)) {
		t.Errorf("expiry %v", exp)
	}
	v, _, err := m.Verify(id, code)
	if err != nil || v != "voter-1" {
		t.Fatalf("Verify = %q, %v", v, err)
	}
	if _, _, err := m.Verify(id, code); !errors.Is(err, ErrUsed) {
		t.Errorf("reuse: %v, want ErrUsed", err)
	}
	if _, _, err := m.Verify("nope", code); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown: %v", err)
	}
}

func TestCodeStoredOnlyHashed(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	m := newM(t, c)
	id, code, _, _ := m.Start("v")
	ch := m.live[id]
	if bytes.Contains(ch.mac[:], []byte(code)) {
		t.Fatal("challenge holds the code in clear")
	}
	// The same code under another challenge id has another MAC.
	if m.mac(id, code) == m.mac(id+"x", code) {
		t.Fatal("MAC does not bind the challenge id")
	}
}

func wrongCode(code string) string {
	if code[0] == '9' {
		return "0" + code[1:]
	}
	return string(code[0]+1) + code[1:]
}

func TestAttemptsAndLockout(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	m := newM(t, c)
	id, code, _, _ := m.Start("v")
	for i := 4; i >= 1; i-- {
		_, left, err := m.Verify(id, wrongCode(code))
		if !errors.Is(err, ErrWrongCode) || left != i {
			t.Fatalf("attempt: left=%d err=%v, want %d", left, err, i)
		}
	}
	if _, _, err := m.Verify(id, wrongCode(code)); !errors.Is(err, ErrLocked) {
		t.Fatalf("5th wrong code: %v, want ErrLocked", err)
	}
	if _, _, err := m.Verify(id, code); !errors.Is(err, ErrLocked) {
		t.Fatalf("right code after lockout: %v, want ErrLocked", err)
	}
	if _, _, _, err := m.Resend(id); !errors.Is(err, ErrLocked) {
		t.Fatalf("resend after lockout: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	m := newM(t, c)
	id, code, _, _ := m.Start("v")
	c.add(5 * time.Minute)
	if _, _, err := m.Verify(id, code); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
	if _, _, err := m.Verify(id, code); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired twice: %v", err)
	}
	// Old spent and expired ids are forgotten after a while.
	c.add(time.Hour)
	m.Start("w")
	if len(m.spent) != 0 || len(m.live) != 1 {
		t.Errorf("sweep left %d spent, %d live", len(m.spent), len(m.live))
	}
}

func TestResend(t *testing.T) {
	c := &clock{time.Unix(1e9, 0)}
	m := newM(t, c)
	id, code1, _, _ := m.Start("v")
	if _, _, _, err := m.Resend(id); !errors.Is(err, ErrThrottled) {
		t.Fatalf("immediate resend: %v", err)
	}
	if d := m.RetryAfter(id); d != time.Minute {
		t.Errorf("RetryAfter = %v", d)
	}
	c.add(61 * time.Second)
	code2, _, v, err := m.Resend(id)
	if err != nil || v != "v" {
		t.Fatalf("resend: %v", err)
	}
	if code1 != code2 {
		if _, _, err := m.Verify(id, code1); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("old code after resend: %v", err)
		}
	}
	c.add(61 * time.Second)
	if _, _, _, err := m.Resend(id); err != nil {
		t.Fatal(err)
	}
	c.add(61 * time.Second)
	if _, _, _, err := m.Resend(id); !errors.Is(err, ErrSendLimit) {
		t.Fatalf("4th send: %v", err)
	}
}

func TestCodesLookUniform(t *testing.T) {
	m, _ := NewManager[int](Config{Digits: 6})
	var counts [10]int
	for i := 0; i < 2000; i++ {
		_, code, _, _ := m.Start(i)
		counts[code[0]-'0']++
	}
	for d, n := range counts {
		if n < 120 || n > 290 { // expectation 200; far outside means a bias
			t.Errorf("first digit %d appears %d times in 2000 codes", d, n)
		}
	}
}

func TestConfigRejected(t *testing.T) {
	for _, c := range []Config{{Digits: 4}, {Digits: 11}, {TTL: -1}} {
		if _, err := NewManager[int](c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestLogSenderMasksPhone(t *testing.T) {
	var b bytes.Buffer
	s := &LogSender{W: &b}
	if err := s.Send(context.Background(), "+996700123456", "code 123456"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "700123456") || !strings.Contains(b.String(), "+996*******56") {
		t.Errorf("log line %q", b.String())
	}
}

func TestGateway(t *testing.T) {
	var got map[string]string
	var auth string
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		_ = json.NewDecoder(r.Body).Decode(&got)
		if fail {
			w.WriteHeader(502)
		}
	}))
	defer srv.Close()
	if _, err := NewGateway(GatewayConfig{URL: "http://sms.example", APIKey: "k", SenderID: "S"}); err == nil {
		t.Error("plain http gateway accepted")
	}
	g, err := NewGateway(GatewayConfig{URL: srv.URL, APIKey: "secret", SenderID: "SHAILOO"})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Send(context.Background(), "+996700123456", "hello"); err != nil {
		t.Fatal(err)
	}
	if got["to"] != "+996700123456" || got["text"] != "hello" || got["from"] != "SHAILOO" || auth != "Bearer secret" {
		t.Errorf("gateway got %v, auth %q", got, auth)
	}
	fail = true
	if err := g.Send(context.Background(), "+996700123456", "hello"); !errors.Is(err, ErrSend) {
		t.Errorf("5xx: %v", err)
	}
}

func TestConcurrentVerifyOneWins(t *testing.T) {
	m, _ := NewManager[int](Config{})
	for round := 0; round < 20; round++ {
		id, code, _, _ := m.Start(round)
		var wins, used int32
		var wg sync.WaitGroup
		var mu sync.Mutex
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := m.Verify(id, code)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrUsed):
					used++
				}
			}()
		}
		wg.Wait()
		if wins != 1 || used != 3 {
			t.Fatalf("round %d: %d successes, %d ErrUsed", round, wins, used)
		}
	}
}
