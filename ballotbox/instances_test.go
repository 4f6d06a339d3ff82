package ballotbox_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/election"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// twoInstances returns an election on PostgreSQL served by two boxes, as
// two evoted instances on one database would: the fixture's box (A) and a
// second one (B) opened through another connection pool.
func twoInstances(t *testing.T, revote ballot.RevotePolicy) (*boxtest.Fixture, string, *ballotbox.Box, *ballotbox.Box) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	stA, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stA.Close() })
	f := newFixture(t, boxtest.Options{Revote: revote, Witnesses: 1, Store: stA})
	stB, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stB.Close() })
	regB, boxB, err := f.Instance(ctx, stB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { regB.Close() })
	return f, dsn, f.Box, boxB
}

// TestInstancesConcurrentCasts casts concurrently through two boxes on one
// PostgreSQL log: independent voters on either box, identical retries of
// one ballot sent to both, and voters casting two different ballots (two
// devices) one on each box under the one-ballot policy. Every independent
// ballot lands once; each retry pair yields one ballot and one receipt;
// each two-device pair yields exactly one ballot; neither box halts; both
// end with the state a fresh replay of the board gives.
func TestInstancesConcurrentCasts(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.SingleBallot)
	ctx := context.Background()
	n, pairs := 60, 12
	if testing.Short() {
		n, pairs = 20, 6
	}
	boxes := []*ballotbox.Box{a, b}
	type cast struct {
		box   *ballotbox.Box
		tok   string
		raw   []byte
		group int // 0 independent; 1+k identical pair k; 1000+k two-device pair k
	}
	var casts []cast
	for i := range n {
		v := voter(t, f, [32]byte{})
		raw, _ := prepare(t, f, v, i)
		casts = append(casts, cast{boxes[i%2], v.Token, raw, 0})
	}
	for k := range pairs {
		v := voter(t, f, [32]byte{})
		raw, _ := prepare(t, f, v, k)
		casts = append(casts, cast{a, v.Token, raw, 1 + k}, cast{b, v.Token, raw, 1 + k})
		w := voter(t, f, [32]byte{})
		v2, v3 := voter(t, f, w.Pseudonym), voter(t, f, w.Pseudonym)
		r2, _ := prepare(t, f, v2, k+1)
		r3, _ := prepare(t, f, v3, k+2)
		casts = append(casts, cast{a, v2.Token, r2, 1000 + k}, cast{b, v3.Token, r3, 1000 + k})
	}
	type result struct {
		r   *ballotbox.Receipt
		err error
	}
	results := make([]result, len(casts))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range casts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := c.box.Cast(ctx, c.tok, c.raw)
			results[i] = result{r, err}
		}()
	}
	close(start)
	wg.Wait()

	accepted := map[int][]*ballotbox.Receipt{}
	for i, c := range casts {
		r := results[i]
		switch {
		case r.err == nil:
			accepted[c.group] = append(accepted[c.group], r.r)
		case c.group >= 1000 && (errors.Is(r.err, ballotbox.ErrOneBallotOnly) || errors.Is(r.err, ballotbox.ErrCastInProgress)):
		case c.group >= 1 && c.group < 1000 && errors.Is(r.err, ballotbox.ErrCastInProgress):
		default:
			t.Fatalf("cast %d (group %d): %v", i, c.group, r.err)
		}
	}
	if got := len(accepted[0]); got != n {
		t.Fatalf("%d of %d independent ballots accepted", got, n)
	}
	for k := range pairs {
		ids := accepted[1+k]
		if len(ids) == 0 {
			t.Fatalf("retry pair %d: no receipt", k)
		}
		for _, r := range ids {
			if r.Index != ids[0].Index || r.EntryHash != ids[0].EntryHash {
				t.Fatalf("retry pair %d: receipts at %d and %d", k, ids[0].Index, r.Index)
			}
		}
		if got := len(accepted[1000+k]); got != 1 {
			t.Fatalf("two-device pair %d: %d ballots accepted under the one-ballot policy", k, got)
		}
	}
	checkInstancesAgree(t, f, dsn, a, b)
}

// checkInstancesAgree waits until both boxes have applied the whole
// board, checks that neither halted and that both states equal a fresh
// replay of the board (a third instance's Open), and that each voter has
// at most one ballot under the one-ballot policy.
func checkInstancesAgree(t *testing.T, f *boxtest.Fixture, dsn string, boxes ...*ballotbox.Box) {
	t.Helper()
	ctx := context.Background()
	// A third instance replays the board through the rules at Open.
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, c, err := f.Instance(ctx, st)
	if err != nil {
		t.Fatalf("replaying the board: %v", err)
	}
	defer reg.Close()
	want := c.View()
	for i, b := range boxes {
		if err := b.Healthy(); err != nil {
			t.Fatalf("box %d: %v", i, err)
		}
		if err := b.AwaitSize(ctx, want.Size); err != nil {
			t.Fatalf("box %d: %v", i, err)
		}
		got := b.View()
		if got.Size != want.Size || got.Ballots != want.Ballots || got.Phase != want.Phase {
			t.Fatalf("box %d: size %d, %d ballots, %s; the replay: %d, %d, %s", i, got.Size, got.Ballots, got.Phase, want.Size, want.Ballots, want.Phase)
		}
		// Field by field: the state and the box's indices. The election's
		// public key compares by value only: the fixture encrypts every
		// ballot with the first box's, which fills its precomputed tables.
		// The next audit check is a schedule position that depends on
		// where each box started (as after a restart, snapshot_test.go).
		d := slices.DeleteFunc(ballotbox.DiffBoxes(b, c), func(s string) bool {
			return s == "state.PublicKey" || s == "election" || s == "nextAuditCheck"
		})
		var pa, pc []byte
		b.WithState(func(s *election.State) { pa = s.PublicKey.Bytes() })
		c.WithState(func(s *election.State) { pc = s.PublicKey.Bytes() })
		if !bytes.Equal(pa, pc) {
			d = append(d, "public key")
		}
		if len(d) > 0 {
			t.Fatalf("box %d differs from the replay in %v", i, d)
		}
	}
	c.WithState(func(s *election.State) {
		if s.Manifest.Revote != ballot.SingleBallot {
			return
		}
		seen := map[[32]byte]bool{}
		for _, r := range s.Ballots {
			if seen[r.Pseudonym] {
				t.Fatalf("voter %x has two ballots under the one-ballot policy", r.Pseudonym[:4])
			}
			seen[r.Pseudonym] = true
		}
	})
}

// TestInstancesLifecycleAndRetry: a ballot acknowledged by A, retried on
// B, gets A's receipt; re-votes cast alternately on A and B are all on
// the board in cast order; once voting is closed on A, B refuses a cast,
// whether or not it has seen the close yet.
func TestInstancesLifecycleAndRetry(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	raw, _ := prepare(t, f, v, 1)
	ra, err := a.Cast(ctx, v.Token, raw)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Cast(ctx, v.Token, raw)
	if err != nil {
		t.Fatalf("retry on B: %v", err)
	}
	if !rb.Replayed || rb.Index != ra.Index || rb.EntryHash != ra.EntryHash || rb.TrackingCode != ra.TrackingCode {
		t.Fatalf("retry on B: receipt at %d (replayed %v), A's at %d", rb.Index, rb.Replayed, ra.Index)
	}

	// Re-votes: the same voter, alternately on each box; the board holds
	// them in the order they were acknowledged.
	var order []uint64
	for i := range 6 {
		raw, _ := prepare(t, f, v, i+2)
		r, err := []*ballotbox.Box{b, a}[i%2].Cast(ctx, v.Token, raw)
		if err != nil {
			t.Fatalf("re-vote %d: %v", i, err)
		}
		order = append(order, r.Index)
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("re-votes at %v: not in cast order", order)
		}
	}
	for i, box := range []*ballotbox.Box{a, b} {
		if err := box.AwaitSize(ctx, order[len(order)-1]+1); err != nil {
			t.Fatal(err)
		}
		es, _ := box.Voter(v.Pseudonym)
		if len(es.Ballots) != 7 || es.Ballots[6].Index != order[5] {
			t.Fatalf("box %d: voter's ballots %v, want 7 ending at %d", i, es.Ballots, order[5])
		}
	}

	// Close on A; B's next cast is refused even if B has not applied the
	// close: its append finds the log moved, and the check then sees it.
	w := voter(t, f, [32]byte{})
	raw, _ = prepare(t, f, w, 3)
	if _, err := a.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Cast(ctx, w.Token, raw); !errors.Is(err, ballotbox.ErrNotOpen) {
		t.Fatalf("cast on B after the close on A: %v, want ErrNotOpen", err)
	}
	checkInstancesAgree(t, f, dsn, a, b)
}

// TestInstancesCloseUnderLoad closes voting on A while B takes casts
// without pause: the close goes through (its append, refused as stale
// while B appends, is checked again and retried), every ballot B
// acknowledged is before the close on the board, every later cast is
// refused as not open, and both boxes agree with a fresh replay.
func TestInstancesCloseUnderLoad(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	n := 80
	if testing.Short() {
		n = 30
	}
	type cast struct {
		tok string
		raw []byte
	}
	casts := make([]cast, n)
	for i := range casts {
		v := voter(t, f, [32]byte{})
		raw, _ := prepare(t, f, v, i)
		casts[i] = cast{v.Token, raw}
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	receipts := make([]*ballotbox.Receipt, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	var next sync.Mutex
	i := 0
	started := make(chan struct{})
	var once sync.Once
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				if k == n/4 {
					once.Do(func() { close(started) })
				}
				receipts[k], errs[k] = b.Cast(ctx, casts[k].tok, casts[k].raw)
			}
		}()
	}
	<-started
	closed, err := a.Act(ctx, ballotbox.ActionClose, "official-1")
	if err != nil {
		t.Fatalf("close on A under load on B: %v", err)
	}
	wg.Wait()
	accepted := 0
	for k := range n {
		switch {
		case errs[k] == nil:
			accepted++
			if receipts[k].Index >= closed.Index {
				t.Fatalf("ballot acknowledged at %d, after the close at %d", receipts[k].Index, closed.Index)
			}
		case errors.Is(errs[k], ballotbox.ErrNotOpen):
		default:
			t.Fatalf("cast %d: %v", k, errs[k])
		}
	}
	if accepted == 0 || accepted == n {
		t.Logf("%d of %d casts before the close: the close did not land mid-load", accepted, n)
	}
	checkInstancesAgree(t, f, dsn, a, b)
}

// TestInstancesAuditPool: an audit accepted by B, which then stops
// without publishing it, is published by the close on A (the pool is
// the store's); a lookup of its code on A finds it before and after.
func TestInstancesAuditPool(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	_, p := prepare(t, f, v, 1)
	if _, err := b.Audit(ctx, v.Token, p.Audit().Encode(), p.Ballot.Encode()); err != nil {
		t.Fatalf("audit on B: %v", err)
	}
	shown := p.Ballot.TrackingCode().Shown()
	if av, err := a.AuditByCode(ctx, shown); err != nil || av.Published {
		t.Fatalf("A's lookup of B's pending audit: %v %+v", err, av)
	}
	if a.PendingAudits() != 0 {
		t.Fatal("A's own pool holds B's audit")
	}
	if _, err := a.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	av, err := a.AuditByCode(ctx, shown)
	if err != nil || !av.Published {
		t.Fatalf("after the close on A, B's audit: %v %+v", err, av)
	}
	if err := b.AwaitSize(ctx, a.View().Size); err != nil {
		t.Fatal(err)
	}
	if b.PendingAudits() != 0 {
		t.Fatalf("B still holds %d audits another instance published", b.PendingAudits())
	}
	checkInstancesAgree(t, f, dsn, a, b)
}
