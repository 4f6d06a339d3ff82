package board

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"evote/bulletin"
	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// signRecorder records every checkpoint body the log's key signs, in every
// instance that shares it.
type signRecorder struct {
	mu     sync.Mutex
	bodies map[uint64][][]byte // size → bodies signed at that size
}

// recordingSigner is a log's Ed25519 signer that tells rec what it signs.
type recordingSigner struct {
	bulletin.Signer
	rec *signRecorder
	t   testing.TB
}

func (s recordingSigner) Sign(m []byte) ([]byte, error) {
	c, err := bulletin.ParseCheckpoint(m)
	if err != nil {
		s.t.Errorf("the log's key signed something not a checkpoint: %v", err)
	} else {
		s.rec.mu.Lock()
		s.rec.bodies[c.Size] = append(s.rec.bodies[c.Size], m)
		s.rec.mu.Unlock()
	}
	return s.Signer.Sign(m)
}

// tickingClock returns a clock that moves one second per call from start,
// so that two instances never sign the same checkpoint body by chance:
// each signature the log's key makes is of a different note.
func tickingClock(start int64) func() time.Time {
	var mu sync.Mutex
	n := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n += 2
		return time.Unix(n, 0)
	}
}

// TestCheckpointSignedOncePerSize: two instances (each its own connection
// pool, as two evoted processes) on one PostgreSQL log call Checkpoint at
// the same size in the same moment, round after round. The log's key must
// sign at most one note per size (issue 15, spec/07-bulletin.md §7.7): a
// second, different note at one size, even if never stored, is what
// equivocation looks like to whoever sees both.
func TestCheckpointSignedOncePerSize(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	rec := &signRecorder{bodies: make(map[uint64][][]byte)}
	open := func(start int64) *Log {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		k := *testLogKey("evote.example/sign-once", false)
		k.Ed25519 = recordingSigner{Signer: k.Ed25519, rec: rec, t: t}
		l, err := Open(ctx, Config{Key: &k, Store: s, Now: tickingClock(start)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	a, b := open(1_800_000_000), open(1_800_000_001)
	const rounds = 150
	for i := range rounds {
		if _, err := a.Append(ctx, testEntry(t, a.ID(), bulletin.TypeBallot, "v", i)); err != nil {
			t.Fatal(err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		if a.Size() != b.Size() {
			t.Fatalf("round %d: sizes %d and %d", i, a.Size(), b.Size())
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		cps := make([]*bulletin.SignedCheckpoint, 2)
		for j, l := range []*Log{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				cp, err := l.Checkpoint(ctx)
				if err != nil {
					t.Errorf("round %d, instance %d: %v", i, j, err)
				}
				cps[j] = cp
			}()
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		if string(cps[0].Note) != string(cps[1].Note) {
			t.Fatalf("round %d: the instances returned different notes at sizes %d and %d", i, cps[0].Size, cps[1].Size)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	twice := 0
	for size, bodies := range rec.bodies {
		if len(bodies) > 1 {
			twice++
			if twice <= 3 {
				t.Errorf("size %d signed %d times:\n%s", size, len(bodies), bodies)
			}
		}
	}
	if twice > 0 {
		t.Errorf("%d of %d sizes signed more than once", twice, len(rec.bodies))
	}
	if len(rec.bodies) != rounds {
		t.Errorf("%d sizes signed, want one per round (%d)", len(rec.bodies), rounds)
	}
}

// failOncePut is a PostgreSQL store whose first PutCheckpoint fails
// without storing and without a refusal (as a lost connection or an
// expired context does): its caller cannot tell whether the note is
// stored.
type failOncePut struct {
	*postgres.Store
	failed bool
}

func (s *failOncePut) PutCheckpoint(ctx context.Context, log store.LogID, cp store.Checkpoint) error {
	if !s.failed {
		s.failed = true
		return errors.New("connection reset (test)")
	}
	return s.Store.PutCheckpoint(ctx, log, cp)
}

// TestCheckpointUnknownOutcomeSignedOnce: an instance whose checkpoint
// store failed with an unknown outcome finds the outcome out and stores
// its note before it releases the checkpoint lock, so another instance
// coming next adopts that note instead of signing a second one at the
// size.
func TestCheckpointUnknownOutcomeSignedOnce(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	rec := &signRecorder{bodies: make(map[uint64][][]byte)}
	open := func(wrap func(*postgres.Store) store.Store, start int64) *Log {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		k := *testLogKey("evote.example/sign-unknown", false)
		k.Ed25519 = recordingSigner{Signer: k.Ed25519, rec: rec, t: t}
		l, err := Open(ctx, Config{Key: &k, Store: wrap(s), Now: tickingClock(start)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	a := open(func(s *postgres.Store) store.Store { return &failOncePut{Store: s} }, 1_800_000_000)
	b := open(func(s *postgres.Store) store.Store { return s }, 1_800_000_001)
	if _, err := a.Append(ctx, testEntry(t, a.ID(), bulletin.TypeBallot, "v", 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	acp, aerr := a.Checkpoint(ctx)
	bcp, err := b.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if aerr == nil && string(acp.Note) != string(bcp.Note) {
		t.Fatal("the instances returned different notes")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.bodies[1]); n != 1 {
		t.Fatalf("size 1 signed %d times:\n%s", n, rec.bodies[1])
	}
}

// lostConnection is a PostgreSQL store whose connection is lost at the
// first PutCheckpoint once armed: the write does not commit, the
// checkpoint lock taken through it is released (a session lock dies with
// its connection), and every later call fails without an answer until
// back is called, as when the database or the network goes away between
// the signing and the storing.
type lostConnection struct {
	*postgres.Store
	mu       sync.Mutex
	armed    bool
	down     bool
	releases []func()
}

var errConnLost = errors.New("connection lost (test)")

func (s *lostConnection) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

func (s *lostConnection) back() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = false
}

func (s *lostConnection) CheckpointLock(ctx context.Context, log store.LogID) (func(), error) {
	if s.isDown() {
		return nil, errConnLost
	}
	release, err := s.Store.CheckpointLock(ctx, log)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	r := func() { once.Do(release) }
	s.mu.Lock()
	s.releases = append(s.releases, r)
	s.mu.Unlock()
	return r, nil
}

func (s *lostConnection) PutCheckpoint(ctx context.Context, log store.LogID, cp store.Checkpoint) error {
	s.mu.Lock()
	if s.armed {
		s.armed, s.down = false, true
		rs := s.releases
		s.mu.Unlock()
		for _, r := range rs {
			r() // the lock's session is gone
		}
		return errConnLost
	}
	down := s.down
	s.mu.Unlock()
	if down {
		return errConnLost
	}
	return s.Store.PutCheckpoint(ctx, log, cp)
}

func (s *lostConnection) CheckpointAt(ctx context.Context, log store.LogID, size uint64) (store.Checkpoint, error) {
	if s.isDown() {
		return store.Checkpoint{}, errConnLost
	}
	return s.Store.CheckpointAt(ctx, log, size)
}

func (s *lostConnection) LatestCheckpoint(ctx context.Context, log store.LogID) (store.Checkpoint, error) {
	if s.isDown() {
		return store.Checkpoint{}, errConnLost
	}
	return s.Store.LatestCheckpoint(ctx, log)
}

// TestCheckpointConnectionLostSignsOneNote: instance A signs a checkpoint
// and loses its connection while storing it (the note is not stored, A's
// checkpoint lock is gone with its session, and A cannot find out); B
// then makes the checkpoint at the same size. The note A signed must
// never leave A (its Checkpoint fails), and the log's key must not sign
// two different checkpoints at one size: B signs the very body A signed,
// so that A's note, should it ever be seen, is B's. Once A's connection
// is back, A adopts the stored note.
func TestCheckpointConnectionLostSignsOneNote(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	rec := &signRecorder{bodies: make(map[uint64][][]byte)}
	open := func(wrap func(*postgres.Store) store.Store, start int64) *Log {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		k := *testLogKey("evote.example/sign-lost", false)
		k.Ed25519 = recordingSigner{Signer: k.Ed25519, rec: rec, t: t}
		l, err := Open(ctx, Config{Key: &k, Store: wrap(s), Now: tickingClock(start)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l
	}
	var lost *lostConnection
	a := open(func(s *postgres.Store) store.Store { lost = &lostConnection{Store: s}; return lost }, 1_800_000_000)
	b := open(func(s *postgres.Store) store.Store { return s }, 1_800_000_001)
	for i := range 3 {
		if _, err := a.Append(ctx, testEntry(t, a.ID(), bulletin.TypeBallot, "v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	lost.mu.Lock()
	lost.armed = true
	lost.mu.Unlock()
	acp, err := a.Checkpoint(ctx)
	if err == nil {
		t.Fatalf("A's checkpoint returned a note (size %d) its store never took", acp.Size)
	}
	bcp, err := b.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lost.back()
	acp, err = a.Checkpoint(ctx)
	if err != nil {
		t.Fatalf("A's checkpoint once its connection is back: %v", err)
	}
	if string(acp.Note) != string(bcp.Note) {
		t.Fatal("A and B serve different notes at one size")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for size, bodies := range rec.bodies {
		distinct := map[string]bool{}
		for _, body := range bodies {
			distinct[string(body)] = true
		}
		if len(distinct) > 1 {
			t.Errorf("size %d: %d different checkpoints signed:\n%s", size, len(distinct), bodies)
		}
	}
}
