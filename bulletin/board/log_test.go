package board

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"evote/bulletin"
	"evote/store"
	"evote/store/sqlite"
)

func TestLogAppendAndProofs(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/log", true)
	st := openSQLite(t)
	l := openLog(t, st, k)
	var all []*bulletin.Entry
	for i := range 50 {
		all = append(all, testEntry(t, l.ID(), bulletin.TypeBallot, fmt.Sprint("voter", i%5), i))
	}
	idx, err := l.Append(ctx, all[:10]...)
	if err != nil || len(idx) != 10 || idx[9] != 9 {
		t.Fatalf("append: %v %v", idx, err)
	}
	// Concurrent appenders go through the group committer.
	var wg sync.WaitGroup
	for i := 10; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(ctx, all[i]); err != nil {
				t.Errorf("append %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if l.Size() != 50 {
		t.Fatalf("size %d", l.Size())
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c, _, err := bulletin.VerifyCheckpoint(cp.Note, l.Verifier()); err != nil || c.Size != 50 {
		t.Fatalf("checkpoint: %+v %v", c, err)
	}
	for _, e := range all {
		h := e.Hash()
		i, ok := l.IndexOf(h)
		if !ok {
			t.Fatalf("entry %x missing", h)
		}
		rec, err := l.EntryByHash(ctx, h)
		if err != nil || rec.Index != i {
			t.Fatalf("by hash: %v", err)
		}
		p, err := l.InclusionProof(i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := bulletin.VerifyInclusion(i, cp.Size, bulletin.LeafHash(rec.Data), p, cp.Root); err != nil {
			t.Fatal(err)
		}
	}
	// Reopen: the tree is recomputed and checked against the checkpoint.
	l.Close()
	l2 := openLog(t, st, k)
	if l2.Size() != 50 || l2.LatestCheckpoint() == nil || l2.LatestCheckpoint().Root != cp.Root {
		t.Fatal("reopened log differs")
	}
	more := testEntry(t, l2.ID(), bulletin.TypeResult, "official", 1)
	if _, err := l2.Append(ctx, more); err != nil {
		t.Fatal(err)
	}
	cp2, _ := l2.Checkpoint(ctx)
	p, _ := l2.ConsistencyProof(cp.Size, cp2.Size)
	if err := bulletin.VerifyConsistency(cp.Size, cp2.Size, p, cp.Root, cp2.Root); err != nil {
		t.Fatal(err)
	}
}

// TestLogRefuses: every kind of malformed input to the write paths is
// refused with a precise error and leaves the log unchanged.
func TestLogRefuses(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/refuse", false)
	st := openSQLite(t)
	authorised := seededEd25519("official").Public()
	l, err := Open(ctx, Config{Key: k, Store: st, Now: fixedClock(), Authorize: func(e *bulletin.Entry) error {
		if e.Type == bulletin.TypeResult && e.Author != authorised {
			return errors.New("only the official publishes results")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	good := testEntry(t, l.ID(), bulletin.TypeBallot, "v", 0)
	if _, err := l.Append(ctx, good); err != nil {
		t.Fatal(err)
	}
	cp0, _ := l.Checkpoint(ctx)
	badSig := *testEntry(t, l.ID(), bulletin.TypeBallot, "v", 1)
	badSig.Signature[3] ^= 1
	wrongLog := testEntry(t, bulletin.LogIDFor("evote.example/other"), bulletin.TypeBallot, "v", 2)
	unknown := *testEntry(t, l.ID(), bulletin.TypeBallot, "v", 3)
	unknown.Type = 0x0bad
	oversized := *testEntry(t, l.ID(), bulletin.TypeBallot, "v", 4)
	oversized.Payload = make([]byte, bulletin.TypeBallot.MaxPayload()+1)
	badVersion := *testEntry(t, l.ID(), bulletin.TypeBallot, "v", 5)
	badVersion.Version = 2
	unauth := testEntry(t, l.ID(), bulletin.TypeResult, "intruder", 6)
	fresh := testEntry(t, l.ID(), bulletin.TypeBallot, "v", 7)
	encoded := fresh.Encode()

	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"bad signature", func() error { _, err := l.Append(ctx, &badSig); return err }, bulletin.ErrBadSignature},
		{"bad signature in a batch", func() error { _, err := l.Append(ctx, fresh, &badSig); return err }, bulletin.ErrBadSignature},
		{"wrong log", func() error { _, err := l.Append(ctx, wrongLog); return err }, bulletin.ErrWrongLog},
		{"unknown type", func() error { _, err := l.Append(ctx, &unknown); return err }, bulletin.ErrUnknownType},
		{"oversized", func() error { _, err := l.Append(ctx, &oversized); return err }, bulletin.ErrTooLarge},
		{"version", func() error { _, err := l.Append(ctx, &badVersion); return err }, bulletin.ErrVersion},
		{"unauthorised", func() error { _, err := l.Append(ctx, unauth); return err }, bulletin.ErrUnauthorized},
		{"duplicate", func() error { _, err := l.Append(ctx, good); return err }, bulletin.ErrDuplicate},
		{"duplicate in one call", func() error { _, err := l.Append(ctx, fresh, fresh); return err }, bulletin.ErrDuplicate},
		{"empty", func() error { _, err := l.Append(ctx); return err }, bulletin.ErrMalformed},
		{"nil", func() error { _, err := l.Append(ctx, nil); return err }, bulletin.ErrMalformed},
		{"truncated encoding", func() error { _, err := l.AppendEncoded(ctx, encoded[:len(encoded)-1]); return err }, bulletin.ErrMalformed},
		{"trailing byte", func() error { _, err := l.AppendEncoded(ctx, append(encoded, 0)); return err }, bulletin.ErrMalformed},
		{"wrong type in encoding", func() error {
			b := append([]byte(nil), encoded...)
			b[33], b[34] = 0xff, 0xff
			_, err := l.AppendEncoded(ctx, b)
			return err
		}, bulletin.ErrUnknownType},
	}
	for _, c := range cases {
		err := c.run()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if l.Size() != 1 {
			t.Fatalf("%s: log grew to %d", c.name, l.Size())
		}
	}
	if n, _ := st.Size(ctx, store.LogID(l.ID())); n != 1 {
		t.Fatalf("store has %d entries", n)
	}
	if cp, _ := l.Checkpoint(ctx); cp.Root != cp0.Root {
		t.Fatal("root changed")
	}
	// The official may publish the result.
	res := testEntry(t, l.ID(), bulletin.TypeResult, "official", 0)
	if _, err := l.Append(ctx, res); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendEncoded(ctx, encoded); err != nil {
		t.Fatal(err)
	}
}

// TestOpenDetectsTampering: an entry changed behind the database's
// append-only triggers is caught when the log is reopened.
func TestOpenDetectsTampering(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/tamper", false)
	st := openSQLite(t)
	l := openLog(t, st, k)
	for i := range 5 {
		if _, err := l.Append(ctx, testEntry(t, l.ID(), bulletin.TypeBallot, "v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close()
	db := st.(*sqlite.Store).DB()
	// An attacker with database access swaps entry 2 for another validly
	// signed entry (re-hashed so the row looks self-consistent).
	other := testEntry(t, l.ID(), bulletin.TypeBallot, "v", 99)
	h := other.Hash()
	for _, q := range []string{
		"DROP TRIGGER bulletin_entries_no_update",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("UPDATE bulletin_entries SET data = ?, hash = ? WHERE idx = 2", other.Encode(), h[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Config{Key: k, Store: st}); !errors.Is(err, bulletin.ErrCorrupt) {
		t.Fatalf("tampered log opened: %v", err)
	}
}

// TestIndexKey: a secondary key (the server uses the ballot tracking code)
// is unique in the log and survives reopening.
func TestIndexKey(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/keys", false)
	st := openSQLite(t)
	key := func(e *bulletin.Entry) ([32]byte, bool) {
		if e.Type != bulletin.TypeBallot {
			return [32]byte{}, false
		}
		return sha256.Sum256(e.Payload), true
	}
	l, err := Open(ctx, Config{Key: k, Store: st, IndexKey: key})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(author string, payload string) *bulletin.Entry {
		s := seededEd25519(author)
		e, err := bulletin.NewEntry(l.ID(), bulletin.TypeBallot, s.Public(), s, []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b := mk("alice", "ballot A"), mk("bob", "ballot B")
	if _, err := l.Append(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	// Bob's device re-posts Alice's ballot under its own key: refused.
	if _, err := l.Append(ctx, mk("bob", "ballot A")); !errors.Is(err, bulletin.ErrDuplicate) {
		t.Errorf("copied ballot: %v, want bulletin.ErrDuplicate", err)
	}
	if _, err := l.Append(ctx, mk("carol", "ballot C"), mk("dave", "ballot C")); !errors.Is(err, bulletin.ErrDuplicate) {
		t.Errorf("same key twice in one call: %v", err)
	}
	l.Close()
	l2, err := Open(ctx, Config{Key: k, Store: st, IndexKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if i, ok := l2.LookupKey(sha256.Sum256([]byte("ballot B"))); !ok || i != 1 {
		t.Errorf("lookup after reopen: %d %v", i, ok)
	}
	if l2.Size() != 2 {
		t.Errorf("size %d", l2.Size())
	}
}

// TestIndexKeyPrefix: keys are unique by their first KeyPrefix bytes (a
// ballot whose shown tracking code equals another's is refused even if the
// rest differs) and LookupKeyPrefix finds the whole key and position; a
// whole key that shares only the prefix is not found by LookupKey.
func TestIndexKeyPrefix(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/prefix", false)
	st := openSQLite(t)
	// The key is the payload itself (32 bytes), so the test picks it.
	key := func(e *bulletin.Entry) ([32]byte, bool) {
		if len(e.Payload) != 32 {
			return [32]byte{}, false
		}
		return [32]byte(e.Payload), true
	}
	l, err := Open(ctx, Config{Key: k, Store: st, IndexKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mk := func(author string, payload [32]byte) *bulletin.Entry {
		s := seededEd25519(author)
		e, err := bulletin.NewEntry(l.ID(), bulletin.TypeBallot, s.Public(), s, payload[:])
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var a, b, twin [32]byte
	a[0], b[0] = 1, 2
	twin = a
	twin[31] = 9 // same first 20 bytes as a
	if _, err := l.Append(ctx, mk("alice", a), mk("bob", b)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, mk("mallory", twin)); !errors.Is(err, bulletin.ErrDuplicate) {
		t.Errorf("same shown prefix: %v, want bulletin.ErrDuplicate", err)
	}
	if _, ok := l.LookupKey(twin); ok {
		t.Error("LookupKey found a key that only shares the prefix")
	}
	full, i, ok := l.LookupKeyPrefix([KeyPrefix]byte(b[:KeyPrefix]))
	if !ok || i != 1 || full != b {
		t.Errorf("LookupKeyPrefix = %x %d %v", full, i, ok)
	}
	var none [KeyPrefix]byte
	if _, _, ok := l.LookupKeyPrefix(none); ok {
		t.Error("LookupKeyPrefix found an absent prefix")
	}
}

// glitchStore commits an append but reports an error, as when the
// database's reply is lost.
type glitchStore struct {
	store.Store
	glitch atomic.Bool
}

func (g *glitchStore) Append(ctx context.Context, log store.LogID, first uint64, recs []store.Record) error {
	err := g.Store.Append(ctx, log, first, recs)
	if err == nil && g.glitch.CompareAndSwap(true, false) {
		return errors.New("connection reset after commit")
	}
	return err
}

// TestLostAcknowledgement: an append that committed although the store
// reported an error (the reply was lost with the connection) is resolved
// by reading the store: the caller gets its index, once, and appends go
// on from the store's size.
func TestLostAcknowledgement(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/glitch", false)
	g := &glitchStore{Store: openSQLite(t)}
	l := openLog(t, g, k)
	first := testEntry(t, l.ID(), bulletin.TypeBallot, "v", 0)
	if _, err := l.Append(ctx, first); err != nil {
		t.Fatal(err)
	}
	lost := testEntry(t, l.ID(), bulletin.TypeBallot, "v", 1)
	g.glitch.Store(true)
	idx, err := l.Append(ctx, lost)
	if err != nil || len(idx) != 1 || idx[0] != 1 {
		t.Fatalf("append whose acknowledgement was lost: %v %v, want index 1", idx, err)
	}
	if l.Size() != 2 {
		t.Fatalf("tree at %d after a committed append, want 2", l.Size())
	}
	// A retry of the same entry is a duplicate, not a second copy.
	if _, err := l.Append(ctx, lost); !errors.Is(err, bulletin.ErrDuplicate) {
		t.Fatalf("retry of an acknowledged entry: %v", err)
	}
	// Appends continue normally, and the tree matches the store.
	if _, err := l.Append(ctx, testEntry(t, l.ID(), bulletin.TypeBallot, "v", 2)); err != nil {
		t.Fatal(err)
	}
	if n, _ := g.Size(ctx, l.sid); n != 3 || l.Size() != 3 {
		t.Fatalf("store %d, tree %d", n, l.Size())
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := Open(ctx, Config{Key: k, Store: g}); err != nil {
		t.Fatalf("reopen: %v", err)
	}
}

// downStore is a store whose server is gone (a failover): while down,
// every call fails without doing anything, except that the first append
// after going down may commit before failing (commitFirst), as a commit
// replicated to the standby whose reply died with the primary.
type downStore struct {
	store.Store
	down        atomic.Bool
	commitFirst atomic.Bool
	failed      atomic.Int32 // calls refused while down
}

var errServerGone = errors.New("server closed the connection unexpectedly")

func (d *downStore) Append(ctx context.Context, log store.LogID, first uint64, recs []store.Record) error {
	if d.down.Load() {
		d.failed.Add(1)
		if d.commitFirst.CompareAndSwap(true, false) {
			if err := d.Store.Append(ctx, log, first, recs); err != nil {
				return err
			}
		}
		return errServerGone
	}
	return d.Store.Append(ctx, log, first, recs)
}

func (d *downStore) Size(ctx context.Context, log store.LogID) (uint64, error) {
	if d.down.Load() {
		d.failed.Add(1)
		return 0, errServerGone
	}
	return d.Store.Size(ctx, log)
}

func (d *downStore) Range(ctx context.Context, log store.LogID, start, end uint64) ([]store.Record, error) {
	if d.down.Load() {
		d.failed.Add(1)
		return nil, errServerGone
	}
	return d.Store.Range(ctx, log, start, end)
}

func (d *downStore) PutCheckpoint(ctx context.Context, log store.LogID, cp store.Checkpoint) error {
	if d.down.Load() {
		d.failed.Add(1)
		if d.commitFirst.CompareAndSwap(true, false) {
			if err := d.Store.PutCheckpoint(ctx, log, cp); err != nil {
				return err
			}
		}
		return errServerGone
	}
	return d.Store.PutCheckpoint(ctx, log, cp)
}

func (d *downStore) CheckpointAt(ctx context.Context, log store.LogID, size uint64) (store.Checkpoint, error) {
	if d.down.Load() {
		d.failed.Add(1)
		return store.Checkpoint{}, errServerGone
	}
	return d.Store.CheckpointAt(ctx, log, size)
}

// TestAppendAcrossFailover: appends in flight when the store goes away
// (one of them committed, its reply lost) wait until the store answers
// again, then each is acknowledged exactly once at the index the store
// holds it at: the committed one without a second copy, the others
// appended then. None is refused for an outage it cannot know the outcome
// of.
func TestAppendAcrossFailover(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			ctx := context.Background()
			d := &downStore{Store: openSQLite(t)}
			l := openLog(t, d, testLogKey("evote.example/failover", false))
			if _, err := l.Append(ctx, testEntry(t, l.ID(), bulletin.TypeBallot, "v", 0)); err != nil {
				t.Fatal(err)
			}
			d.commitFirst.Store(committed)
			d.down.Store(true)
			const n = 8
			got := make([][]uint64, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i], errs[i] = l.Append(ctx, testEntry(t, l.ID(), bulletin.TypeBallot, "v", 1+i))
				}()
			}
			// The store stays down while the log tries it a few times.
			for d.failed.Load() < 3 {
				time.Sleep(time.Millisecond)
			}
			d.down.Store(false)
			wg.Wait()
			seen := map[uint64]bool{0: true}
			for i := range n {
				if errs[i] != nil || len(got[i]) != 1 {
					t.Fatalf("append %d across the outage: %v %v", i, got[i], errs[i])
				}
				if seen[got[i][0]] {
					t.Fatalf("index %d acknowledged twice", got[i][0])
				}
				seen[got[i][0]] = true
			}
			size, err := d.Size(ctx, l.sid)
			if err != nil || size != n+1 || l.Size() != n+1 {
				t.Fatalf("store holds %d entries (%v), tree %d, want %d", size, err, l.Size(), n+1)
			}
			recs, err := d.Range(ctx, l.sid, 0, size)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				e := testEntry(t, l.ID(), bulletin.TypeBallot, "v", 1+i)
				if recs[got[i][0]].Hash != e.Hash() {
					t.Fatalf("append %d acknowledged at %d, which holds another entry", i, got[i][0])
				}
			}
		})
	}
}

// TestCheckpointAcrossFailover: a checkpoint whose storing failed without
// the store saying it refused it may be stored; the log never signs a
// second, different checkpoint at that size (its clock has moved on), and
// adopts the stored one instead of failing on it forever.
func TestCheckpointAcrossFailover(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprintf("committed=%v", committed), func(t *testing.T) {
			ctx := context.Background()
			d := &downStore{Store: openSQLite(t)}
			now := time.Unix(1_800_000_000, 0)
			var clock sync.Mutex
			l, err := Open(ctx, Config{Key: testLogKey("evote.example/cpfailover", false), Store: d, Now: func() time.Time {
				clock.Lock()
				defer clock.Unlock()
				now = now.Add(time.Minute)
				return now
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if _, err := l.Append(ctx, testEntry(t, l.ID(), bulletin.TypeBallot, "v", 0)); err != nil {
				t.Fatal(err)
			}
			d.commitFirst.Store(committed)
			d.down.Store(true)
			if _, err := l.Checkpoint(ctx); err == nil {
				t.Fatal("checkpoint stored while the store was down")
			}
			d.down.Store(false)
			cp, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatalf("checkpoint once the store is back: %v", err)
			}
			stored, err := d.CheckpointAt(ctx, l.sid, 1)
			if err != nil || !bytes.Equal(stored.Note, cp.Note) {
				t.Fatalf("the log's checkpoint is not the stored one: %v", err)
			}
			// The note signed during the outage is the one now stored:
			// one signed checkpoint at size 1.
			if cp.Time != time.Unix(1_800_000_060, 0).UTC() {
				t.Fatalf("checkpoint at size 1 signed again at %v", cp.Time)
			}
		})
	}
}

// TestOpenRefusesForgedTail: a row inserted directly into the database
// after the latest checkpoint, with an invalid signature, is refused when
// the log opens, so the log never signs it into a checkpoint.
func TestOpenRefusesForgedTail(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/forged-tail", false)
	st := openSQLite(t)
	l := openLog(t, st, k)
	for i := range 3 {
		if _, err := l.Append(ctx, testEntry(t, l.ID(), bulletin.TypeBallot, "v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	// One more honest entry, not yet checkpointed: reopening verifies it.
	if _, err := l.Append(ctx, testEntry(t, l.ID(), bulletin.TypeBallot, "v", 3)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2, err := Open(ctx, Config{Key: k, Store: st})
	if err != nil {
		t.Fatalf("honest tail refused: %v", err)
	}
	l2.Close()
	forged := *testEntry(t, l.ID(), bulletin.TypeBallot, "v", 4)
	forged.Payload = []byte("a ballot nobody signed")
	data := forged.Encode()
	h := sha256.Sum256(data)
	db := st.(*sqlite.Store).DB()
	if _, err := db.Exec(`INSERT INTO bulletin_entries (log_id, idx, hash, type, data) VALUES (?, 4, ?, ?, ?)`, l.sid[:], h[:], int(forged.Type), data); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Config{Key: k, Store: st}); !errors.Is(err, bulletin.ErrCorrupt) || !errors.Is(err, bulletin.ErrBadSignature) {
		t.Fatalf("forged tail: %v", err)
	}
}
