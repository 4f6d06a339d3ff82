package ballotbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/election"
)

// TestConcurrentCasts sends 220 casts at once: 140 independent voters, 20
// voters who each send the identical entry twice (a retry racing the
// original), and 20 voters who cast two different ballots from two devices
// under the one-ballot policy. Every independent ballot must land, each
// racing pair must yield exactly one ballot, and the board must replay
// through the election rules to the same state.
func TestConcurrentCasts(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			dir := t.TempDir()
			st := sk.open(t, dir)
			defer st.Close()
			testConcurrentCasts(t, newFixture(t, boxtest.Options{Revote: ballot.SingleBallot, Witnesses: 1, Dir: dir, Store: st}))
		})
	}
}

func testConcurrentCasts(t *testing.T, f *boxtest.Fixture) {
	n, pairs := 140, 20
	if testing.Short() {
		n, pairs = 30, 5
	}
	ctx := context.Background()
	type cast struct {
		tok   string
		raw   []byte
		group int // 0 independent; 1+k identical pair k; 1000+k re-vote pair k
	}
	var casts []cast
	for i := range n {
		v := voter(t, f, [32]byte{})
		raw, _ := prepare(t, f, v, i)
		casts = append(casts, cast{v.Token, raw, 0})
	}
	for k := range pairs {
		v := voter(t, f, [32]byte{})
		raw, _ := prepare(t, f, v, k)
		casts = append(casts, cast{v.Token, raw, 1 + k}, cast{v.Token, raw, 1 + k})
		w := voter(t, f, [32]byte{}) // registered, never casts
		v2 := voter(t, f, w.Pseudonym)
		v3 := voter(t, f, w.Pseudonym)
		r2, _ := prepare(t, f, v2, k+1)
		r3, _ := prepare(t, f, v3, k+2)
		casts = append(casts, cast{v2.Token, r2, 1000 + k}, cast{v3.Token, r3, 1000 + k})
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
			r, err := f.Box.Cast(ctx, c.tok, c.raw)
			results[i] = result{r, err}
		}()
	}
	// Credentials are issued to new voters while the casts run.
	late := make([]error, pairs)
	for k := range late {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, late[k] = f.NewVoter(ctx, [32]byte{}, "")
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range late {
		if err != nil {
			t.Fatalf("credential during casts: %v", err)
		}
	}

	ok := map[int]int{}
	indices := map[uint64]bool{}
	for i, res := range results {
		c := casts[i]
		switch {
		case res.err == nil:
			if !res.r.Replayed {
				if indices[res.r.Index] {
					t.Fatalf("index %d given twice", res.r.Index)
				}
				indices[res.r.Index] = true
				ok[c.group]++
			}
			cp, _, err := bulletin.VerifyCheckpoint(res.r.Checkpoint, f.Box.Log().Verifier())
			if err != nil {
				t.Fatal(err)
			}
			if err := bulletin.VerifyInclusion(res.r.Index, cp.Size, bulletin.LeafHash(c.raw), res.r.InclusionProof, cp.Root); err != nil {
				t.Fatalf("cast %d: inclusion: %v", i, err)
			}
		case c.group == 0:
			t.Fatalf("independent cast %d refused: %v", i, res.err)
		case c.group < 1000 && !errors.Is(res.err, ballotbox.ErrCastInProgress):
			t.Fatalf("identical retry %d: %v", i, res.err)
		case c.group >= 1000 && !errors.Is(res.err, ballotbox.ErrCastInProgress) && !errors.Is(res.err, ballotbox.ErrOneBallotOnly):
			t.Fatalf("re-vote race %d: %v", i, res.err)
		}
	}
	if ok[0] != n {
		t.Fatalf("%d of %d independent casts landed", ok[0], n)
	}
	for k := range pairs {
		if ok[1+k] != 1 || ok[1000+k] != 1 {
			t.Fatalf("pair %d: %d identical, %d re-vote ballots landed", k, ok[1+k], ok[1000+k])
		}
	}
	want := n + 2*pairs
	if got := f.Box.View().Ballots; got != want {
		t.Fatalf("%d ballots in the state, want %d", got, want)
	}
	// The board replays through the rules, as the verifier will.
	l := f.Box.Log()
	s := election.NewState()
	for i := uint64(0); i < l.Size(); i++ {
		recs, err := l.Entries(ctx, i, i+1)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := bulletin.DecodeEntry(recs[0].Data)
		if err := s.Apply(e); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if len(s.Ballots) != want {
		t.Fatalf("replayed %d ballots", len(s.Ballots))
	}
}

// TestCloseDuringCasts closes voting while casts are in flight: every cast
// either lands before the close entry or is refused as not open, and the
// board replays through the rules.
func TestCloseDuringCasts(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	n := 60
	if testing.Short() {
		n = 20
	}
	type cast struct {
		tok string
		raw []byte
	}
	var casts []cast
	for i := range n {
		v := voter(t, f, [32]byte{})
		raw, _ := prepare(t, f, v, i)
		casts = append(casts, cast{v.Token, raw})
	}
	errs := make([]error, n)
	idx := make([]uint64, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range casts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := f.Box.Cast(ctx, c.tok, c.raw)
			errs[i] = err
			if err == nil {
				idx[i] = r.Index
			}
		}()
	}
	var closeAt uint64
	var closeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		time.Sleep(30 * time.Millisecond) // let some casts get in flight
		p, err := f.Box.Act(ctx, ballotbox.ActionClose, "o")
		closeErr = err
		if err == nil {
			closeAt = p.Index
		}
	}()
	close(start)
	wg.Wait()
	if closeErr != nil {
		t.Fatal(closeErr)
	}
	landed := 0
	for i, err := range errs {
		switch {
		case err == nil:
			landed++
			if idx[i] > closeAt {
				t.Fatalf("ballot at %d after the close at %d", idx[i], closeAt)
			}
		case !errors.Is(err, ballotbox.ErrNotOpen):
			t.Fatalf("cast %d: %v", i, err)
		}
	}
	if got := f.Box.View().Ballots; got != landed {
		t.Fatalf("%d ballots in the state, %d acknowledged", got, landed)
	}
	l := f.Box.Log()
	s := election.NewState()
	for i := uint64(0); i < l.Size(); i++ {
		recs, _ := l.Entries(ctx, i, i+1)
		e, _ := bulletin.DecodeEntry(recs[0].Data)
		if err := s.Apply(e); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	t.Logf("%d of %d casts landed before the close", landed, n)
}

// TestConcurrentFalseProofs casts valid ballots and ballots with false
// proofs at once, so that they share merged proof batches: every valid
// ballot must land and every false one be refused (a false proof must
// never make its batch-mates fail, nor hide among them).
func TestConcurrentFalseProofs(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	n := 48
	if testing.Short() {
		n = 16
	}
	type cast struct {
		tok   string
		raw   []byte
		valid bool
	}
	var casts []cast
	var donor *ballot.PreparedBallot
	for i := range n {
		v := voter(t, f, [32]byte{})
		raw, p := prepare(t, f, v, i)
		if i%4 != 3 || donor == nil {
			casts = append(casts, cast{v.Token, raw, true})
			donor = p
			continue
		}
		// The proofs of another voter's ballot of the same style: well
		// formed, false for these ciphertexts and this credential.
		bad := *p.Ballot
		bad.Contests = append([]ballot.ContestBallot(nil), p.Ballot.Contests...)
		for j := range bad.Contests {
			if j < len(donor.Ballot.Contests) && len(donor.Ballot.Contests[j].Proof) == len(bad.Contests[j].Proof) {
				bad.Contests[j].Proof = donor.Ballot.Contests[j].Proof
			}
		}
		raw, err := f.SignBallot(v, bad.Encode())
		if err != nil {
			t.Fatal(err)
		}
		casts = append(casts, cast{v.Token, raw, false})
	}
	errs := make([]error, len(casts))
	var wg sync.WaitGroup
	for i, c := range casts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.Box.Cast(ctx, c.tok, c.raw)
		}()
	}
	wg.Wait()
	valid := 0
	for i, c := range casts {
		switch {
		case c.valid && errs[i] != nil:
			t.Errorf("valid ballot %d refused: %v", i, errs[i])
		case !c.valid && !errors.Is(errs[i], ballotbox.ErrBallotInvalid):
			t.Errorf("ballot %d with false proofs: %v, want ErrBallotInvalid", i, errs[i])
		case c.valid:
			valid++
		}
	}
	if got := f.Box.View().Ballots; got != valid {
		t.Fatalf("%d ballots on the board, want %d", got, valid)
	}
}
