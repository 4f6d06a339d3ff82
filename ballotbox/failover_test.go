package ballotbox_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/store"
)

// lostReplyStore commits the next append but reports the connection's
// death, as when the primary is killed after the standby has the commit.
type lostReplyStore struct {
	store.Store
	lose atomic.Bool
}

func (s *lostReplyStore) Append(ctx context.Context, log store.LogID, first uint64, recs []store.Record) error {
	err := s.Store.Append(ctx, log, first, recs)
	if err == nil && s.lose.CompareAndSwap(true, false) {
		return errors.New("server closed the connection unexpectedly")
	}
	return err
}

// TestCastWhoseCommitReplyIsLost: a ballot whose append committed but
// whose reply was lost gets its receipt (the log reads the store to learn
// the outcome), is counted once, and the casts after it go on. Before,
// the cast failed while its ballot was on the board, the box's state never
// applied that entry, and every later cast waited for it forever.
func TestCastWhoseCommitReplyIsLost(t *testing.T) {
	dir := t.TempDir()
	st := &lostReplyStore{Store: openSQLite(t, dir)}
	t.Cleanup(func() { st.Close() })
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st})
	ctx := context.Background()
	v1, v2 := voter(t, f, [32]byte{1}), voter(t, f, [32]byte{2})
	raw1, _ := prepare(t, f, v1, 0)
	raw2, _ := prepare(t, f, v2, 1)
	st.lose.Store(true)
	r1, err := f.Box.Cast(ctx, v1.Token, raw1)
	if err != nil {
		t.Fatalf("cast whose commit reply was lost: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.Box.Cast(ctx, v2.Token, raw2)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the next cast: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the next cast is stuck behind the entry whose reply was lost")
	}
	if n := f.Box.View().Ballots; n != 2 {
		t.Fatalf("box counts %d ballots, want 2", n)
	}
	// The voter's retry gets the same receipt.
	again, err := f.Box.Cast(ctx, v1.Token, raw1)
	if err != nil || !again.Replayed || again.Index != r1.Index {
		t.Fatalf("retry: %+v %v", again, err)
	}
}

// lostAuditReplyStore stores the next audit but reports the connection's
// death.
type lostAuditReplyStore struct {
	store.Store
	lose atomic.Bool
}

func (s *lostAuditReplyStore) AddAudit(ctx context.Context, log store.LogID, a store.Audit) error {
	err := s.Store.AddAudit(ctx, log, a)
	if err == nil && s.lose.CompareAndSwap(true, false) {
		return errors.New("server closed the connection unexpectedly")
	}
	return err
}

// TestAuditWhoseStoreReplyIsLost: an audit the store kept although its
// reply was lost is accepted (the box reads the store to learn the
// outcome), its ballot can then never be cast, and the voter's retry gets
// the same receipt. Before, the audit was refused while in the store's
// pool, its ciphertexts were free again so the audited ballot could be
// cast, and every retry was refused as a duplicate.
func TestAuditWhoseStoreReplyIsLost(t *testing.T) {
	dir := t.TempDir()
	st := &lostAuditReplyStore{Store: openSQLite(t, dir)}
	t.Cleanup(func() { st.Close() })
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st})
	ctx := context.Background()
	v := voter(t, f, [32]byte{3})
	raw, p := prepare(t, f, v, 0)
	st.lose.Store(true)
	r, err := f.Audit(ctx, v, p)
	if err != nil {
		t.Fatalf("audit whose store reply was lost: %v", err)
	}
	if _, err := f.Box.Cast(ctx, v.Token, raw); !errors.Is(err, ballotbox.ErrDuplicateCipher) {
		t.Fatalf("casting the audited ballot: %v, want %v", err, ballotbox.ErrDuplicateCipher)
	}
	again, err := f.Audit(ctx, v, p)
	if err != nil || !again.Replayed || again.EntryHash != r.EntryHash {
		t.Fatalf("retry: %+v %v", again, err)
	}
}
