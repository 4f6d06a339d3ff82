package idp

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"evote/record"
)

// orderBoard records the order in which entries reach it and checks the
// outbox's rules: a non-credential entry arrives with nothing in flight,
// after every entry queued before it; a voter's credentials arrive in
// queue order. Posts of credentials take a moment, so that concurrent
// ones overlap. fail names payloads it refuses.
type orderBoard struct {
	t        *testing.T
	mu       sync.Mutex
	inFlight int
	maxSeen  int
	got      []string // payload labels, in arrival order
	fail     map[string]bool
}

func (b *orderBoard) Post(_ context.Context, typ uint16, payload []byte) (uint64, error) {
	label := string(payload)
	if typ == entryCredentialIssued {
		c, err := record.DecodeCredentialIssued(payload)
		if err != nil {
			b.t.Errorf("malformed credential: %v", err)
			return 0, err
		}
		label = fmt.Sprintf("cred-%d-%d", c.Pseudonym[0], c.TokenID[0])
	}
	b.mu.Lock()
	if typ != entryCredentialIssued && b.inFlight > 0 {
		b.t.Errorf("%s posted while %d credentials are in flight", label, b.inFlight)
	}
	b.inFlight++
	b.maxSeen = max(b.maxSeen, b.inFlight)
	fail := b.fail[label]
	b.mu.Unlock()
	if typ == entryCredentialIssued {
		time.Sleep(2 * time.Millisecond)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if fail {
		return 0, errors.New("board refuses " + label)
	}
	b.got = append(b.got, label)
	return uint64(len(b.got)), nil
}

// queueCredential queues a credential of voter v (its pseudonym's first
// byte), numbered k.
func queueCredential(t *testing.T, s *Service, v, k byte) {
	t.Helper()
	c := &record.CredentialIssued{ElectionID: "e", ContextHash: s.cfg.ContextHash, BallotStyle: "A", KeyID: s.cfg.Issuer.CurrentKeyID(), IssuedAt: 1000, NotBefore: 1000, ExpiresAt: 2000}
	c.Pseudonym[0], c.TokenID[0] = v, k
	c.DeviceKey = deviceKey(v, k)
	if _, err := s.cfg.Store.Enqueue(context.Background(), entryCredentialIssued, c.Encode(), 1000); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxRounds: credentials of distinct voters are posted
// concurrently, other entries alone and in queue order, a voter's
// credentials in queue order; a refused entry stays queued, FlushBoard
// says the board is unavailable, and the next flush posts it.
func TestOutboxRounds(t *testing.T) {
	ctx := context.Background()
	b := &orderBoard{t: t, fail: map[string]bool{}}
	s, _, _ := newService(t, func(c *Config) { c.Board = b })
	b.mu.Lock()
	b.got = nil // the key set New posted
	b.mu.Unlock()
	for v := range byte(20) {
		queueCredential(t, s, v, 0)
	}
	s.cfg.Store.Enqueue(ctx, entryVoterListChange, []byte("list-1"), 1000)
	queueCredential(t, s, 1, 1)
	queueCredential(t, s, 2, 1)
	queueCredential(t, s, 1, 2) // voter 1 again: after cred-1-1
	s.cfg.Store.Enqueue(ctx, entryInPersonMark, []byte("mark-1"), 1000)
	b.fail["cred-2-1"] = true
	n, err := s.FlushBoard(ctx)
	if !errors.Is(err, ErrBoardUnavailable) {
		t.Fatalf("flush with a refused entry: %d posted, %v", n, err)
	}
	b.mu.Lock()
	got := append([]string(nil), b.got...)
	b.fail = nil
	b.mu.Unlock()
	if len(got) != 22 || got[20] != "list-1" || got[21] != "cred-1-1" && got[21] != "cred-1-2" {
		t.Fatalf("posted before the failure: %v", got)
	}
	if b.maxSeen < 2 {
		t.Errorf("credentials of distinct voters were not posted concurrently (at most %d in flight)", b.maxSeen)
	}
	pending, _ := s.cfg.Store.Pending(ctx, 10)
	if n != 22 || len(pending) != 3 {
		t.Fatalf("%d posted, %d pending, want 22 and 3 (the refused one and those after it)", n, len(pending))
	}
	if n, err := s.FlushBoard(ctx); err != nil || n != 3 {
		t.Fatalf("second flush: %d, %v", n, err)
	}
	got = b.got
	if got[len(got)-1] != "mark-1" || slicesIndex(got, "cred-1-1") > slicesIndex(got, "cred-1-2") || slicesIndex(got, "cred-2-1") < 0 {
		t.Fatalf("board order %v", got)
	}
	if p, _ := s.cfg.Store.Pending(ctx, 10); len(p) != 0 {
		t.Fatalf("%d still pending", len(p))
	}
}

// deviceKey is a valid device key, distinct for each (v, k).
func deviceKey(v, k byte) [32]byte {
	seed := sha256.Sum256([]byte{v, k})
	return [32]byte(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestAwaitPostedConcurrent: many sign-ins waiting for their credentials
// at once are all answered, by rounds that post several each.
func TestAwaitPostedConcurrent(t *testing.T) {
	ctx := context.Background()
	b := &orderBoard{t: t}
	s, _, _ := newService(t, func(c *Config) { c.Board = b })
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for v := range byte(n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &record.CredentialIssued{ElectionID: "e", ContextHash: s.cfg.ContextHash, BallotStyle: "A", KeyID: s.cfg.Issuer.CurrentKeyID(), IssuedAt: 1000, NotBefore: 1000, ExpiresAt: 2000}
			c.Pseudonym[0], c.DeviceKey = v, deviceKey(v, 0)
			id, err := s.cfg.Store.Enqueue(ctx, entryCredentialIssued, c.Encode(), 1000)
			if err == nil {
				err = s.awaitPosted(ctx, id)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := s.cfg.Store.Pending(ctx, 10); len(p) != 0 {
		t.Fatalf("%d still pending", len(p))
	}
	if len(b.got) != n+1 { // and the key set
		t.Fatalf("%d entries on the board, want %d", len(b.got), n+1)
	}
	if b.maxSeen < 2 {
		t.Errorf("at most %d credentials in flight: the rounds did not gather the waiting sign-ins", b.maxSeen)
	}
}
