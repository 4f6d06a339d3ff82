package idp

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
)

func TestClientGuard(t *testing.T) {
	c := AbuseConfig{}
	c.fill()
	g := newClientGuard(&c)
	now := time.Unix(1e9, 0)
	for i := 0; i < 10; i++ {
		if err := g.allow("a", now); err != nil {
			t.Fatalf("request %d of burst: %v", i, err)
		}
	}
	if err := g.allow("a", now); !errors.Is(err, ErrRateLimited) || RetryAfter(err) != time.Second {
		t.Fatalf("11th: %v (retry %v)", err, RetryAfter(err))
	}
	if err := g.allow("b", now); err != nil {
		t.Fatalf("other client limited: %v", err)
	}
	// A request that succeeded gives its token back.
	g.refund("a", now)
	if err := g.allow("a", now); err != nil {
		t.Fatalf("after a refund: %v", err)
	}
	now = now.Add(2 * time.Second)
	if err := g.allow("a", now); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	// Failed first factors never refuse a voter: after 10 the address's
	// answers are unconfirmed, and one answer comes back 90 s after the
	// failures stop.
	for i := 0; i < 10; i++ {
		if !g.answering("v", now) {
			t.Fatalf("unconfirmed after %d failures", i)
		}
		g.failed("v", now)
	}
	if g.answering("v", now) {
		t.Fatal("still answering after 10 failures")
	}
	for i := 0; i < 100; i++ {
		g.failed("v", now)
	}
	if err := g.allow("v", now); err != nil {
		t.Fatalf("failures refused a request: %v", err)
	}
	if g.answering("v", now.Add(89*time.Second)) || !g.answering("v", now.Add(90*time.Second)) {
		t.Error("answers do not come back 90 s after the failures stop")
	}
	// Failures spread over the window keep the address answering.
	for i := 0; i < 20; i++ {
		now = now.Add(2 * time.Minute)
		g.failed("c", now)
		if !g.answering("c", now) {
			t.Fatalf("slow failures made the address unconfirmed after %d", i+1)
		}
	}
	// The officials' lockout: 10 refused official requests within 15 min
	// lock the address out of the officials' endpoints only.
	for i := 0; i < 10; i++ {
		g.fail("o", now)
	}
	if err := g.locked("o", now); !errors.Is(err, ErrClientLocked) || RetryAfter(err) != 15*time.Minute {
		t.Fatalf("officials' lockout: %v", err)
	}
	if err := g.allow("o", now); err != nil || !g.answering("o", now) {
		t.Fatalf("the officials' lockout reached the voters' endpoints: %v", err)
	}
	if err := g.locked("o", now.Add(15*time.Minute+time.Second)); err != nil {
		t.Fatalf("after lockout: %v", err)
	}
}

type nullBoard struct{ n atomic.Uint64 }

func (b *nullBoard) Post(context.Context, uint16, []byte) (uint64, error) { return b.n.Add(1), nil }

func newService(t *testing.T, mod func(*Config)) (*Service, *registry.Simulated, *otp.Recorder) {
	t.Helper()
	ctx := context.Background()
	day := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	sim, _ := registry.NewSimulated(registry.SimulatedConfig{Seed: "svc", Constituencies: []string{"A"}, PerConstituency: 10, ElectionDay: day})
	st, err := idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seed := sha256.Sum256([]byte("k"))
	iss, _ := token.NewIssuer(token.IssuerConfig{Issuer: "i", Audience: "a"}, ed25519.NewKeyFromSeed(seed[:]))
	ctxh := sha256.Sum256([]byte("ctx"))
	sms := &otp.Recorder{}
	cfg := Config{ElectionID: "e", ContextHash: ctxh, ElectionDay: day, PseudonymKey: seed[:], Registry: sim, Sender: sms, Store: st,
		Board: &nullBoard{}, Issuer: iss, Authority: &voterlist.Authority{ElectionID: "e", ContextHash: ctxh}, Now: func() time.Time { return day.Add(8 * time.Hour) }}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, sim, sms
}

func TestVotingWindow(t *testing.T) {
	day := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	s, sim, sms := newService(t, func(c *Config) { c.VotingOpens, c.VotingCloses = day.Add(9*time.Hour), day.Add(20*time.Hour) })
	p := sim.People()[0]
	req := StartRequest{PIN: p.PIN.Digits(), DocumentNumber: p.DocumentNumber, BirthDate: p.BirthDate.Format(time.DateOnly)}
	if _, err := s.Start(context.Background(), "c", req); !errors.Is(err, ErrVotingClosed) {
		t.Errorf("before opening: %v", err)
	}
	if len(sms.Messages(p.Phone)) != 0 || sim.Calls() != 0 {
		t.Error("closed service still asked the register or sent a code")
	}
}

func TestConfigRefused(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"short pseudonym key": func(c *Config) { c.PseudonymKey = c.PseudonymKey[:16] },
		"no registry":         func(c *Config) { c.Registry = nil },
		"bad election id":     func(c *Config) { c.ElectionID = "a b" },
		"authority elsewhere": func(c *Config) { c.Authority = &voterlist.Authority{ElectionID: "other"} },
		"closes before opens": func(c *Config) { c.VotingOpens, c.VotingCloses = time.Unix(2e9, 0), time.Unix(1e9, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
			defer st.Close()
			seed := sha256.Sum256([]byte("k"))
			iss, _ := token.NewIssuer(token.IssuerConfig{Issuer: "i", Audience: "a"}, ed25519.NewKeyFromSeed(seed[:]))
			sim, _ := registry.NewSimulated(registry.SimulatedConfig{Seed: "x", Constituencies: []string{"A"}, PerConstituency: 1, ElectionDay: time.Unix(1e9, 0)})
			cfg := Config{ElectionID: "e", ElectionDay: time.Unix(1e9, 0), PseudonymKey: seed[:], Registry: sim, Sender: &otp.Recorder{}, Store: st,
				Board: &nullBoard{}, Issuer: iss, Authority: &voterlist.Authority{ElectionID: "e"}}
			mod(&cfg)
			if _, err := New(ctx, cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestKeyRotationPublishesKeySet(t *testing.T) {
	var board nullBoard
	s, _, _ := newService(t, func(c *Config) { c.Board = &board })
	if board.n.Load() != 1 {
		t.Fatalf("%d entries after start, want the key set", board.n.Load())
	}
	// Restarting with the same key publishes nothing new.
	if err := s.PublishKeys(context.Background()); err != nil || board.n.Load() != 1 {
		t.Fatalf("republish: %v, %d", err, board.n.Load())
	}
	oldKid := s.cfg.Issuer.CurrentKeyID()
	now := s.cfg.Now()
	seed := sha256.Sum256([]byte("k2"))
	s.cfg.Issuer.AddKey(ed25519.NewKeyFromSeed(seed[:]))
	// Until the new key is published, a credential it signs would be
	// refused by the rules (issue 12, finding 7): the service refuses to
	// issue one.
	if err := s.checkTokenKey(s.cfg.Issuer.CurrentKeyID(), now); err == nil {
		t.Error("unpublished key accepted for a credential")
	}
	if err := s.PublishKeys(context.Background()); err != nil || board.n.Load() != 2 {
		t.Fatalf("after rotation: %v, %d", err, board.n.Load())
	}
	keys, _ := s.cfg.Store.Keys(context.Background())
	retired := 0
	for _, k := range keys {
		if k.RetiredAt != 0 {
			retired++
		}
	}
	if len(keys) != 2 || retired != 1 {
		t.Errorf("key history %+v", keys)
	}
	if err := s.checkTokenKey(s.cfg.Issuer.CurrentKeyID(), now); err != nil {
		t.Errorf("published key: %v", err)
	}
	if err := s.checkTokenKey(oldKid, now.Add(2*time.Second)); err == nil {
		t.Error("retired key accepted after its retirement")
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"not an address":       "not an address",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
	// Rotating addresses inside one /64 escapes neither the officials'
	// lockout nor the count of failed first factors.
	c := AbuseConfig{}
	c.fill()
	g := newClientGuard(&c)
	now := time.Unix(1e9, 0)
	for i := 0; i < 10; i++ {
		g.fail(fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
		g.failed(fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
	}
	if err := g.locked("2001:db8:1:2::ffff", now); !errors.Is(err, ErrClientLocked) {
		t.Errorf("rotated IPv6 address escaped the lockout: %v", err)
	}
	if g.answering("2001:db8:1:2::ffff", now) {
		t.Error("rotated IPv6 address escaped the count of failures")
	}
	if err := g.locked("2001:db8:1:3::1", now); err != nil || !g.answering("2001:db8:1:3::1", now) {
		t.Errorf("neighbouring /64 limited: %v", err)
	}
}

// TestUnconfirmedAnswersAlike: once a PIN's answers are spent, a match and
// a mismatch leave the same answer and the same state of their address
// behind (a second count of failures on one path would let an attacker
// tell them apart by probing its address).
func TestUnconfirmedAnswersAlike(t *testing.T) {
	s, sim, sms := newService(t, func(c *Config) { c.Abuse.UnconfirmedFloor = -1 })
	ctx := context.Background()
	p := sim.People()[0]
	req := StartRequest{PIN: p.PIN.Digits(), DocumentNumber: "AC0000001", BirthDate: p.BirthDate.Format(time.DateOnly)}
	for i := 0; i < 5; i++ {
		if _, err := s.Start(ctx, fmt.Sprintf("10.0.0.%d", i), req); !errors.Is(err, ErrNotConfirmed) {
			t.Fatalf("plain answer %d: %v", i, err)
		}
	}
	add := []idpstore.ChangeOp{{Op: 1, Pseudonym: s.Pseudonym(p.PIN), BallotStyle: "A"}}
	if _, _, err := s.cfg.Store.ApplyChange(ctx, "e", 1, 1, "lo-1", 1, add, entryVoterListChange, func(idpstore.ChangeResult) ([]byte, error) { return []byte("entry"), nil }); err != nil {
		t.Fatal(err)
	}
	wrong, err := s.Start(ctx, "192.0.2.1", req)
	if err != nil {
		t.Fatal(err)
	}
	req.DocumentNumber = p.DocumentNumber
	right, err := s.Start(ctx, "192.0.2.2", req)
	if err != nil {
		t.Fatal(err)
	}
	if !wrong.Unconfirmed || !right.Unconfirmed || wrong.PhoneHint != "" || right.PhoneHint != "" ||
		wrong.Method != right.Method || wrong.ResendAfter != right.ResendAfter || wrong.ExpiresAt != right.ExpiresAt {
		t.Fatalf("answers differ: %+v, %+v", wrong, right)
	}
	g := s.guard
	if a, b := *g.clients["192.0.2.1"], *g.clients["192.0.2.2"]; a != b {
		t.Errorf("the addresses' states differ: %+v, %+v", a, b)
	}
	// Only the phone learns which was right.
	deadline := time.Now().Add(5 * time.Second)
	for len(sms.Messages(p.Phone)) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := len(sms.Messages(p.Phone)); n != 1 {
		t.Errorf("%d texts to the phone, want 1", n)
	}
}
