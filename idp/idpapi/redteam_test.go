package idpapi

// The red-team suite: the lockout attacks of issue 16 (finding 3) run
// against the identity service on a loopback listener, each bounded in
// requests and wall-clock time, each asserting the target that spec §8.11
// states. Simulated addresses reach the service as X-Forwarded-For through
// a trusted proxy on 127.0.0.1, as voters do through the ballot box's
// forwarder (spec/14-web.md); nothing leaves the machine.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"evote/idp"
	"evote/idp/registry"
)

// redTeam is a test world whose identity service also listens on loopback
// behind a trusted proxy.
type redTeam struct {
	*env
	url string
	hc  *http.Client
}

func newRedTeam(t *testing.T) *redTeam {
	t.Helper()
	e := newEnv(t)
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h, err := New(e.svc, e.issuer, Options{TrustedProxies: []string{"127.0.0.1"}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	hc := srv.Client()
	hc.Timeout = 10 * time.Second
	return &redTeam{env: e, url: srv.URL, hc: hc}
}

// post sends a JSON request over loopback as if from addr.
func (r *redTeam) post(addr, path string, body any) (int, map[string]any, http.Header) {
	r.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, r.url+path, bytes.NewReader(raw))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	resp, err := r.hc.Do(req)
	if err != nil {
		r.t.Errorf("POST %s: %v", path, err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Errorf("POST %s: answer is not JSON: %v", path, err)
	}
	return resp.StatusCode, out, resp.Header
}

func (r *redTeam) start(addr, pin, doc, birth string) (int, map[string]any, http.Header) {
	return r.post(addr, "/v1/auth/start", map[string]string{"pin": pin, "document_number": doc, "birth_date": birth})
}

func (r *redTeam) startAs(addr string, p *registry.SimPerson) (int, map[string]any, http.Header) {
	return r.start(addr, p.PIN.Digits(), p.DocumentNumber, p.BirthDate.Format(time.DateOnly))
}

// wrongDoc returns the i-th wrong document number for p.
func wrongDoc(p *registry.SimPerson, i int) string {
	d := fmt.Sprintf("AC%07d", 1000000+i%9000000)
	if d == p.DocumentNumber {
		d = fmt.Sprintf("AC%07d", 9999999-i%9000000)
	}
	return d
}

// awaitCode waits, at most 5 s, for a code texted to phone after its first
// n messages, and returns it.
func (e *env) awaitCode(phone string, n int) string {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		msgs := e.sms.Messages(phone)
		for i := len(msgs) - 1; i >= n; i-- {
			if m := codeRe.FindStringSubmatch(msgs[i].Text); m != nil {
				return m[1]
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.t.Fatalf("no code texted within 5 s")
	return ""
}

// typing is how long a voter takes to read the texted code and type it.
const typing = 5 * time.Second

// voterSignsIn is the real voter's whole sign-in from addr, first try only:
// it fails the test unless both factors succeed at once.
func (r *redTeam) voterSignsIn(addr string, p *registry.SimPerson, what string) {
	r.t.Helper()
	n := len(r.sms.Messages(p.Phone))
	st, ch, _ := r.startAs(addr, p)
	if st != http.StatusOK {
		r.t.Fatalf("%s: the voter's start was refused: %d %v", what, st, ch)
	}
	code := r.awaitCode(p.Phone, n)
	r.clock.add(typing)
	st, body, _ := r.post(addr, "/v1/auth/verify", map[string]string{"challenge_id": ch["challenge_id"].(string), "code": code, "device_key": devicePub(newDevice(r.t))})
	if st != http.StatusOK {
		r.t.Fatalf("%s: the voter's verify was refused: %d %v", what, st, body)
	}
}

// disclosed reports whether an answer to a start tells its caller whether
// the details match the register's.
func disclosed(st int, b map[string]any) bool {
	switch st {
	case http.StatusOK:
		return b["unconfirmed"] != true
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// TestRedTeamStrangerCannotLockOutVoter (issue 16, finding 3, attack 1): a
// stranger who knows the voter's PIN hammers it with wrong documents from
// many addresses, fast and then slowly (one request just before each of the
// voter's); the voter, with correct details from home, signs in at the
// first try every time.
func TestRedTeamStrangerCannotLockOutVoter(t *testing.T) {
	r := newRedTeam(t)
	victim := r.person(nil, 0)
	pin, birth := victim.PIN.Digits(), victim.BirthDate.Format(time.DateOnly)
	home := "203.0.113.99"
	deadline := time.Now().Add(60 * time.Second)

	// Fast: 4 workers, 200 addresses, while the voter signs in 5 times.
	ctx, cancel := context.WithCancel(context.Background())
	var sent atomic.Int64
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(sent.Add(1))
				if i > 1500 {
					return
				}
				r.start(fmt.Sprintf("198.18.%d.%d", i/200%250, i%200+1), pin, wrongDoc(victim, i), birth)
			}
		}()
	}
	for k := 0; k < 5; k++ {
		for sent.Load() < int64(40*(k+1)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		r.voterSignsIn(home, victim, fmt.Sprintf("during the flood, sign-in %d", k+1))
		r.clock.add(18 * time.Second)
	}
	cancel()
	wg.Wait()
	t.Logf("stranger sent %d wrong documents during the voter's 5 sign-ins", sent.Load())

	// Slow: one wrong document every 5 minutes for 2 hours, each just
	// before the voter tries.
	for k := 0; k < 24; k++ {
		r.clock.add(5 * time.Minute)
		r.start(fmt.Sprintf("198.19.0.%d", k+1), pin, wrongDoc(victim, 5000+k), birth)
		if k%6 == 5 {
			r.voterSignsIn(home, victim, fmt.Sprintf("slow stranger, hour %.1f", float64(k+1)/12))
		}
	}
}

// TestRedTeamNeighbourBehindNAT (attack 2): people behind one address (a
// dormitory, a carrier's NAT) share it; a neighbour failing again and
// again, on their own PIN and on the voter's, does not keep the voter out.
func TestRedTeamNeighbourBehindNAT(t *testing.T) {
	r := newRedTeam(t)
	nat := "100.64.0.1"
	voter, neighbour := r.person(nil, 0), r.person(nil, 1)
	for i := 0; i < 40; i++ {
		p := neighbour
		if i%2 == 1 {
			p = voter
		}
		st, b, _ := r.start(nat, p.PIN.Digits(), wrongDoc(p, i), p.BirthDate.Format(time.DateOnly))
		if st == http.StatusTooManyRequests {
			t.Fatalf("neighbour's failure %d, paced within the rate limit, was refused: %v", i+1, b)
		}
		r.clock.add(1100 * time.Millisecond)
	}
	r.voterSignsIn(nat, voter, "after 40 failures of a neighbour behind the same address")

	// A neighbour who bursts uses the address's rate limit: the voter waits
	// at most the second the answer names, then signs in.
	for i := 0; i < 12; i++ {
		r.start(nat, neighbour.PIN.Digits(), wrongDoc(neighbour, 100+i), neighbour.BirthDate.Format(time.DateOnly))
	}
	n := len(r.sms.Messages(voter.Phone))
	st, b, h := r.startAs(nat, voter)
	if st == http.StatusTooManyRequests {
		wait, _ := strconv.Atoi(h.Get("Retry-After"))
		if errCode(b) != "rate_limited" || wait < 1 || wait > 1 {
			t.Fatalf("after a neighbour's burst: %d %v (Retry-After %q), want rate_limited for 1 s", st, b, h.Get("Retry-After"))
		}
		r.clock.add(time.Duration(wait) * time.Second)
		st, b, _ = r.startAs(nat, voter)
	}
	if st != http.StatusOK {
		t.Fatalf("after a neighbour's burst and the wait: %d %v", st, b)
	}
	code := r.awaitCode(voter.Phone, n)
	r.clock.add(typing)
	if st, b, _ := r.post(nat, "/v1/auth/verify", map[string]string{"challenge_id": b["challenge_id"].(string), "code": code, "device_key": devicePub(newDevice(t))}); st != http.StatusOK {
		t.Fatalf("verify after a neighbour's burst: %d %v", st, b)
	}
}

// TestRedTeamGuessingBounded (attack 3): a stranger with the PIN but not
// the document guesses from 60 addresses for 2 hours. At most 5 answers,
// plus one per 15 minutes, tell whether a guess matched (spec §8.11); when
// the guess is right after that, the answer looks exactly like a wrong
// one, and only the voter's phone learns of it.
func TestRedTeamGuessingBounded(t *testing.T) {
	r := newRedTeam(t)
	victim := r.person(nil, 0)
	pin, birth := victim.PIN.Digits(), victim.BirthDate.Format(time.DateOnly)
	const step, hours = 20 * time.Second, 2
	budget := 5 + int(hours*time.Hour/(15*time.Minute))
	informative, guesses := 0, 0
	var wrong map[string]any
	// First a burst of 24 concurrent guesses, the right one among them: no
	// more of them are told whether they matched than the PIN has answers.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := 0; k < 24; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc := wrongDoc(victim, 100000+k)
			if k == 17 {
				doc = victim.DocumentNumber
			}
			st, b, _ := r.start(fmt.Sprintf("198.51.101.%d", k+1), pin, doc, birth)
			mu.Lock()
			defer mu.Unlock()
			if disclosed(st, b) {
				informative++
			}
		}()
	}
	wg.Wait()
	if informative > 5 {
		t.Fatalf("a burst of 24 concurrent guesses got %d answers that tell, the PIN has 5", informative)
	}
	r.clock.add(step)
	for tick := 0; tick < int(hours*time.Hour/step); tick++ {
		for k := 0; k < 2; k++ {
			guesses++
			st, b, _ := r.start(fmt.Sprintf("198.51.100.%d", guesses%60+1), pin, wrongDoc(victim, guesses), birth)
			if disclosed(st, b) {
				informative++
			}
		}
		r.clock.add(step)
	}
	// The stranger spends whatever answer a refill just brought, so that
	// the right guess comes when no answer is left.
	for k := 0; wrong == nil || k < 5; k++ {
		guesses++
		st, b, _ := r.start(fmt.Sprintf("198.51.100.%d", guesses%60+1), pin, wrongDoc(victim, guesses), birth)
		if !disclosed(st, b) {
			wrong = b
			break
		}
		informative++
	}
	t.Logf("%d guesses in %d h, %d told whether they matched (bound %d), %d register lookups", guesses, hours, informative, budget, r.fake.Requests())
	if informative > budget {
		t.Fatalf("%d answers told whether the document matched, bound %d", informative, budget)
	}
	if wrong == nil || wrong["unconfirmed"] != true {
		t.Fatalf("no unconfirmed answer to compare the right guess with: %v", wrong)
	}
	// Now the right document: the answer is shaped like the wrong ones,
	// resend and a wrong code answer alike, and the code goes to the phone.
	n := len(r.sms.Messages(victim.Phone))
	st, right, _ := r.startAs("198.51.100.200", victim)
	if st != http.StatusOK || disclosed(st, right) || !sameKeys(right, wrong) || right["phone_hint"] != nil {
		t.Fatalf("the right guess is told apart: %d %v, a wrong one %v", st, right, wrong)
	}
	for _, ch := range []map[string]any{wrong, right} {
		id := ch["challenge_id"].(string)
		st1, b1, _ := r.post("198.51.100.200", "/v1/auth/resend", map[string]string{"challenge_id": id})
		st2, b2, _ := r.post("198.51.100.200", "/v1/auth/verify", map[string]string{"challenge_id": id, "code": "000000", "device_key": devicePub(newDevice(t))})
		if fmt.Sprintf("%d %s %d %s %v", st1, errCode(b1), st2, errCode(b2), attemptsLeft(b2)) != "400 invalid_input 401 wrong_code 4" {
			t.Errorf("challenge %s: resend %d %v, wrong code %d %v", id, st1, b1, st2, b2)
		}
	}
	r.awaitCode(victim.Phone, n)
}

func attemptsLeft(b map[string]any) any {
	e, _ := b["error"].(map[string]any)
	return e["attempts_left"]
}

func sameKeys(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// TestRedTeamDetailsWithoutPhone (attack 4): a stranger who has the
// voter's PIN, document and birth date but not the phone starts, resends
// and guesses codes from 40 addresses for 3 hours. It never signs in, the
// phone gets at most 5 texts plus one per 15 minutes, and each challenge
// (so each code) takes at most 5 tries; once it stops, the voter signs in
// within 15 minutes.
func TestRedTeamDetailsWithoutPhone(t *testing.T) {
	r := newRedTeam(t)
	victim := r.person(nil, 0)
	const step, hours = 30 * time.Second, 3
	limit := 5 + int(hours*time.Hour/(15*time.Minute))
	issued, challenges := 0, 0
	want := "wrong_code wrong_code wrong_code wrong_code challenge_locked challenge_locked challenge_locked"
	for tick := 0; tick < int(hours*time.Hour/step); tick++ {
		addr := fmt.Sprintf("192.0.2.%d", tick%40+1)
		st, ch, _ := r.startAs(addr, victim)
		if st != http.StatusOK {
			continue
		}
		challenges++
		id := ch["challenge_id"].(string)
		r.post(addr, "/v1/auth/resend", map[string]string{"challenge_id": id})
		var got []string
		for k := 0; k < 7; k++ {
			st, b, _ := r.post(addr, "/v1/auth/verify", map[string]string{"challenge_id": id, "code": fmt.Sprintf("%06d", tick*7+k), "device_key": devicePub(newDevice(t))})
			if st == http.StatusOK {
				issued++
			}
			got = append(got, errCode(b))
		}
		if g := strings.Join(got, " "); g != want {
			t.Fatalf("7 wrong codes on one challenge were answered %s, want %s", g, want)
		}
		r.clock.add(step)
	}
	time.Sleep(50 * time.Millisecond) // texts of unconfirmed answers go out in the background
	texts := len(r.sms.Messages(victim.Phone))
	t.Logf("in %d h: %d challenges, %d texts to the voter (limit %d), at most 5 codes tried each, %d tokens", hours, challenges, texts, limit, issued)
	if issued != 0 {
		t.Fatalf("the stranger without the phone got %d voting tokens", issued)
	}
	if texts > limit {
		t.Errorf("%d texts to the voter's phone, limit %d", texts, limit)
	}
	r.clock.add(15 * time.Minute)
	r.voterSignsIn("203.0.113.99", victim, "15 minutes after the stranger stopped")
	if got := len(r.board.ofType(0x0203)); got != 1 {
		t.Errorf("%d credentials on the board, want the voter's one", got)
	}
}

// TestRedTeamUnconfirmedHidesEligibility: once a PIN's answers are spent,
// matching details of a voter who may not vote online get the same
// unconfirmed answer as a wrong guess, and the reason goes to the phone.
func TestRedTeamUnconfirmedHidesEligibility(t *testing.T) {
	r := newRedTeam(t)
	minor := r.person(registry.ErrUnderAge, 0)
	pin, birth := minor.PIN.Digits(), minor.BirthDate.Format(time.DateOnly)
	for i := 0; i < 6; i++ {
		r.start(fmt.Sprintf("198.51.100.%d", i+1), pin, wrongDoc(minor, i), birth)
	}
	n := len(r.sms.Messages(minor.Phone))
	st, b, _ := r.startAs("198.51.100.50", minor)
	if st != http.StatusOK || disclosed(st, b) {
		t.Fatalf("an under-age person's details after the budget: %d %v", st, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.sms.Messages(minor.Phone)) == n && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if m := r.sms.Messages(minor.Phone); len(m) == n || !strings.Contains(m[len(m)-1].Text, "under 18") {
		t.Fatalf("no notice of the reason to the phone: %v", m)
	}
}

// TestRedTeamUnconfirmedTiming: an unconfirmed answer takes at least the
// floor, match or not, so its timing does not tell them apart while the
// register answers within the floor; plain answers are not held.
func TestRedTeamUnconfirmedTiming(t *testing.T) {
	const floor = 150 * time.Millisecond
	e := newEnv(t, func(c *idp.Config) { c.Abuse.UnconfirmedFloor = floor })
	victim := e.person(nil, 0)
	timed := func(what string, mod func(map[string]string)) (time.Duration, map[string]any) {
		t0 := time.Now()
		st, b, _ := e.start("198.51.100.9", victim, mod)
		d := time.Since(t0)
		t.Logf("%s: %d in %v", what, st, d.Round(time.Millisecond))
		return d, b
	}
	for i := 0; i < 5; i++ {
		if d, b := timed("plain wrong document", func(m map[string]string) { m["document_number"] = wrongDoc(victim, i) }); d >= floor || b["error"] == nil {
			t.Errorf("a plain answer was held %v or is not an error: %v", d, b)
		}
	}
	for _, c := range []struct {
		what string
		mod  func(map[string]string)
	}{{"unconfirmed wrong document", func(m map[string]string) { m["document_number"] = wrongDoc(victim, 99) }}, {"unconfirmed right document", nil}} {
		if d, b := timed(c.what, c.mod); d < floor || b["unconfirmed"] != true {
			t.Errorf("%s: answered in %v (floor %v): %v", c.what, d, floor, b)
		}
	}
}
