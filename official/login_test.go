package official

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestStrangersCannotLockOut (issue 16, finding 4): five (or fifty)
// failed logins used to lock an account for 15 minutes, so anyone could
// keep the officials out. Now no account is ever locked: whatever
// strangers send under an official's name, from any address, the
// official's password and code still sign in; every failure is in the
// operations log and the official is told of them at the next login. A
// stranger sharing the official's address can exhaust that address's
// budget, but not the budget of the device token the official's client
// holds; and only the device token's holder can exhaust its budget.
func TestStrangersCannotLockOut(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testServiceWith(t, &now, Limits{Refill: time.Hour}) // budgets do not refill during the test
	ctx := context.Background()
	secret, _ := NewTOTPSecret()
	if _, err := s.Bootstrap(ctx, "admin", "correct horse battery", secret); err != nil {
		t.Fatal(err)
	}
	login := func(client, device string) (*LoginResult, error) {
		now = now.Add(30 * time.Second) // a fresh code each time
		code, _ := TOTPCode(secret, now)
		return s.Login(ctx, Attempt{Client: client, Device: device, User: "admin", Password: "correct horse battery", Code: code})
	}
	first, err := login("192.0.2.1", "")
	if err != nil || len(first.Device) != 64 || first.Notice.Failed != 0 {
		t.Fatalf("first login: %+v %v", first, err)
	}
	// Fifty strangers' attempts under the official's name, from five
	// addresses: wrong codes, wrong passwords, malformed.
	for i := range 50 {
		a := Attempt{Client: fmt.Sprintf("198.51.100.%d", i%5), User: "admin", Password: "guess guess guess", Code: fmt.Sprintf("%06d", i)}
		if i%10 == 9 {
			a.Code = "12345x"
		}
		if _, err := s.Login(ctx, a); !errors.Is(err, ErrLogin) {
			t.Fatalf("stranger's attempt %d: %v", i, err)
		}
	}
	r, err := login("192.0.2.1", "")
	if err != nil {
		t.Fatalf("the official after fifty strangers' failures: %v", err)
	}
	if r.Notice.Failed != 50 || r.Notice.Last.IsZero() {
		t.Fatalf("notice %+v, want 50 failures", r.Notice)
	}
	ops, _ := s.Operations(ctx, 60)
	refused := 0
	for _, o := range ops {
		if o.Action == "login" && o.Outcome == "refused" && o.User == "admin" {
			refused++
		}
	}
	if refused != 50 {
		t.Fatalf("%d failures in the operations log, want 50", refused)
	}
	// A stranger at the official's own address spends its budget…
	shared := "203.0.113.9"
	var rl error
	for i := range 20 {
		_, rl = s.Login(ctx, Attempt{Client: shared, User: "admin", Password: "guess guess guess", Code: fmt.Sprintf("%06d", i)})
	}
	if !errors.Is(rl, ErrRateLimited) || RetryAfter(rl) <= 0 {
		t.Fatalf("an address over its budget: %v", rl)
	}
	// …which stops a client without a device token there, but not the
	// official's client, which holds one.
	if _, err := login(shared, ""); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("no device token, address over budget: %v", err)
	}
	if _, err := login(shared, first.Device); err != nil {
		t.Fatalf("device token, address over budget: %v", err)
	}
	// An unknown or another user's device token is no better than none.
	// (The last digit changed, whatever it was.)
	last := "0"
	if strings.HasSuffix(r.Device, "0") {
		last = "1"
	}
	if _, err := login(shared, r.Device[:len(r.Device)-1]+last); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("a wrong device token: %v", err)
	}
	// The device token's own budget: its holder's failures.
	for range 5 {
		_, err := s.Login(ctx, Attempt{Client: shared, Device: first.Device, User: "admin", Password: "wrong wrong wrong", Code: "000000"})
		if !errors.Is(err, ErrLogin) {
			t.Fatalf("failure under the device token: %v", err)
		}
	}
	if _, err := login(shared, first.Device); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("device token after 5 failures, address over budget: %v", err)
	}
	if _, err := login("192.0.2.77", first.Device); err != nil {
		t.Fatalf("device token after 5 failures, from an address within budget: %v", err)
	}
	now = now.Add(16 * time.Minute)
	if _, err := login(shared, first.Device); err != nil {
		t.Fatalf("device token after its window: %v", err)
	}
}

// TestLoginCostBounded (issue 16, finding 1): an attempt without a valid
// code never reaches the password hash (64 MiB each at the production
// cost), for a real account as for an unknown name; addresses are
// budgeted (IPv6 by /64); password hashing is bounded with a short queue.
func TestLoginCostBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testService(t, &now)
	s.cfg.Argon2 = DefaultArgon2
	if err := s.makeDecoy(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	secret, _ := NewTOTPSecret()
	if _, err := s.Bootstrap(ctx, "admin", "correct horse battery", secret); err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range 20 {
		user := "admin"
		if i%2 == 1 {
			user = fmt.Sprintf("ghost-%d", i)
		}
		if _, err := s.Login(ctx, Attempt{Client: fmt.Sprintf("198.51.100.%d", i), User: user, Password: "guess guess guess", Code: fmt.Sprintf("%06d", i)}); !errors.Is(err, ErrLogin) {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&m1)
	if d := m1.TotalAlloc - m0.TotalAlloc; d > 16<<20 {
		t.Fatalf("20 attempts without a valid code allocated %d MiB: the password was hashed", d>>20)
	}
	// Addresses: a budget of 10, IPv6 by /64.
	for i := range 10 {
		s.Login(ctx, Attempt{Client: fmt.Sprintf("2001:db8:1:2::%x", i), User: "nobody", Password: "x", Code: "000000"})
	}
	_, err := s.Login(ctx, Attempt{Client: "2001:db8:1:2:ffff::1", User: "nobody", Password: "x", Code: "000000"})
	if !errors.Is(err, ErrRateLimited) || RetryAfter(err) <= 0 || RetryAfter(err) > 6*time.Second {
		t.Fatalf("11th attempt from one /64: %v (retry after %v)", err, RetryAfter(err))
	}
	if _, err := s.Login(ctx, Attempt{Client: "2001:db8:1:3::1", User: "nobody", Password: "x", Code: "000000"}); !errors.Is(err, ErrLogin) {
		t.Fatalf("another /64: %v", err)
	}
	now = now.Add(6 * time.Second)
	if _, err := s.Login(ctx, Attempt{Client: "2001:db8:1:2::1", User: "nobody", Password: "x", Code: "000000"}); !errors.Is(err, ErrLogin) {
		t.Fatalf("after the refill: %v", err)
	}
	// The hash gate: one at a time, one waiting, the next refused at once.
	g := newHashGate(Limits{Hashes: 1, Queue: 1, Wait: 100 * time.Millisecond})
	rel, err := g.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		r, err := g.acquire(ctx)
		if err == nil {
			r()
		}
		waited <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := g.acquire(ctx); !errors.Is(err, ErrBusy) || RetryAfter(err) <= 0 {
		t.Fatalf("third caller: %v", err)
	}
	rel()
	rel() // idempotent
	if err := <-waited; err != nil {
		t.Fatalf("the waiting caller: %v", err)
	}
	rel, _ = g.acquire(ctx)
	if _, err := g.acquire(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("a wait longer than the limit: %v", err)
	}
	rel()
}
