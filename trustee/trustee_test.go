package trustee

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/threshold"
	"evote/election"
	"evote/internal/testrand"
	"evote/tally"
)

// runAll runs f for every trustee concurrently and fails on any error.
func (te *testElection) runAll(f func(ctx context.Context, i int, k *Keys) error) {
	te.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(te.keys))
	for i, k := range te.keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(ctx, i, k)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			te.t.Fatalf("trustee %d: %v", i+1, err)
		}
	}
}

// tally mixes and decrypts with the trustees' tools; cheat[i] makes
// trustee i+1 misbehave. It returns the result as the board computes it.
// A trustee whose mix is bad stops mixing with the error the tool gives
// when the box refuses its mix, as the honest tool would.
func (te *testElection) tally(cheat map[int]*misbehaviour) *tally.Result {
	t := te.t
	te.transition(election.PhaseMixing)
	lk := te.board.key.Verifier()
	te.runAll(func(ctx context.Context, i int, k *Keys) error {
		// With a cheater, the honest trustees mix out of turn once it
		// has stopped.
		wait := time.Duration(0)
		if len(cheat) > 0 {
			wait = 500 * time.Millisecond
		}
		err := RunMix(ctx, te.board, k, cheat[i+1].options(te.opts(Options{Rand: testrand.New(fmt.Sprint("mix", i)), LogKey: &lk, RoundWait: wait})))
		if m := cheat[i+1]; m != nil && m.badMix {
			if err == nil || !strings.Contains(err.Error(), "found our mix") {
				return fmt.Errorf("a bad mix was not refused: %v", err)
			}
			return nil
		}
		return err
	})
	te.transition(election.PhaseDecrypting)
	te.runAll(func(ctx context.Context, i int, k *Keys) error {
		err := RunDecrypt(ctx, te.board, k, cheat[i+1].options(te.opts(Options{Rand: testrand.New(fmt.Sprint("dec", i)), LogKey: &lk})))
		// A trustee whose share is bad stops at the first one the box
		// finds invalid, saying so, as the honest tool would.
		if m := cheat[i+1]; m != nil && m.badShare {
			if err == nil || !strings.Contains(err.Error(), "found our decryption share") {
				return fmt.Errorf("a bad share was not refused: %v", err)
			}
			return nil
		}
		return err
	})
	var res *tally.Result
	te.board.withState(func(st *election.State) {
		var err error
		if res, err = st.ComputeResult(); err != nil {
			t.Fatal(err)
		}
	})
	te.board.postAs(t, te.authority, bulletin.TypeResult, res.Encode())
	return res
}

func (te *testElection) checkResult(res *tally.Result) {
	t := te.t
	var want map[string][]uint64
	te.board.withState(func(st *election.State) { want = te.expected(st.Manifest) })
	for _, c := range res.Contests {
		if c.Withheld {
			t.Errorf("contest %s withheld", c.ContestID)
			continue
		}
		if !slices.Equal(c.Counts, want[c.ContestID]) {
			t.Errorf("contest %s: counts %v, voters meant %v", c.ContestID, c.Counts, want[c.ContestID])
		}
	}
}

func TestElectionOverBoard(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	te.keygen()
	te.vote(24)
	res := te.tally(nil)
	te.checkResult(res)
	te.board.withState(func(st *election.State) {
		if len(st.Culprits) != 0 || st.Phase != election.PhaseTallied {
			t.Fatalf("culprits %v, phase %s", st.Culprits, st.Phase)
		}
	})
}

// A trustee that posts a bad mix and bad decryption shares is named on the
// board, and the honest trustees complete the tally without it.
func TestCheatingTrusteeNamed(t *testing.T) {
	te := newTestElection(t, 3, 2, 2)
	te.keygen()
	te.vote(18)
	res := te.tally(map[int]*misbehaviour{2: {badMix: true, badShare: true}})
	te.checkResult(res)
	te.board.withState(func(st *election.State) {
		var mixes, shares int
		for _, c := range st.Culprits {
			if c.Trustee != 2 {
				t.Errorf("honest trustee named: %v", c)
			}
			e := te.board.entries[c.Position]
			switch e.Type {
			case bulletin.TypeMixOutput:
				mixes++
			case bulletin.TypeDecryptionShare:
				shares++
			}
		}
		// Its tool stops at its first mix refused and at its first
		// share refused; all four contests are decrypted by the others.
		if mixes != 1 || shares != 1 {
			t.Errorf("culprits: %d bad mixes, %d bad shares named; want 1 and 1: %v", mixes, shares, st.Culprits)
		}
		for _, c := range st.Tally {
			if slices.Contains(c.Mixers, 2) {
				t.Errorf("contest %s counts trustee 2's bad mix", c.Contest.ID)
			}
			if _, ok := c.Shares[2]; ok {
				t.Errorf("contest %s counts trustee 2's bad share", c.Contest.ID)
			}
		}
	})
}

// The trustee decrypts nothing but the final verified lists: not a voter's
// ballot, not an unmixed list, not before mixing is complete.
func TestNoDecryptionOracle(t *testing.T) {
	te := newTestElection(t, 3, 2, 2)
	te.keygen()
	te.vote(12)
	k := te.keys[0]
	var st *election.State
	snapshot := func() {
		st = election.NewState()
		for _, e := range te.board.entries {
			if err := st.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	council := "council-ala-archa"
	ballotCT := func() []*elgamal.Ciphertext {
		cts, err := st.Ballots[0].Ciphertexts(0)
		if err != nil {
			t.Fatal(err)
		}
		return cts
	}
	snapshot()
	if _, err := ShareFor(st, k, council, ballotCT(), Options{}); !errors.Is(err, ErrNotFinalList) {
		t.Fatalf("closed phase, voter's ballot: %v", err)
	}
	te.transition(election.PhaseMixing)
	te.runAll(func(ctx context.Context, i int, k *Keys) error {
		if i == 2 {
			return nil // only two mixers, as the manifest requires
		}
		return RunMix(ctx, te.board, k, te.opts(Options{Rand: testrand.New(fmt.Sprint("mix", i))}))
	})
	snapshot()
	if _, err := ShareFor(st, k, council, ballotCT(), Options{}); !errors.Is(err, ErrNotFinalList) {
		t.Fatalf("mixing phase, voter's ballot: %v", err)
	}
	te.transition(election.PhaseDecrypting)
	snapshot()
	var c *election.ContestTally
	for _, x := range st.Tally {
		if x.Contest.ID == council {
			c = x
		}
	}
	unmixed, err := c.InputRows().Ciphertexts()
	if err != nil {
		t.Fatal(err)
	}
	for name, cts := range map[string][]*elgamal.Ciphertext{
		"voter's ballot":  ballotCT(),
		"unmixed list":    unmixed,
		"list plus one":   append(slices.Clone(c.Current()), ballotCT()...),
		"one row":         c.Current()[:1],
		"reordered final": append(slices.Clone(c.Current()[1:]), c.Current()[0]),
	} {
		if _, err := ShareFor(st, k, council, cts, Options{}); !errors.Is(err, ErrNotFinalList) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ShareFor(st, k, "no-such-contest", c.Current(), Options{}); !errors.Is(err, ErrNotFinalList) {
		t.Errorf("unknown contest: %v", err)
	}
	d, err := ShareFor(st, k, council, c.Current(), Options{})
	if err != nil {
		t.Fatalf("final list refused: %v", err)
	}
	if d.Target != tally.TargetDigest(c.Current()) || d.Share.Trustee != 1 {
		t.Fatal("share for another target or trustee")
	}
}

// Keys of another election or another trustee are refused before anything
// is posted.
func TestKeygenRefusesStrangers(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	stranger, err := GenerateKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := RunKeygen(ctx, te.board, stranger, te.opts(Options{})); !errors.Is(err, ErrNotInElection) {
		t.Fatalf("stranger: %v", err)
	}
	other := *te.keys[0]
	other.ElectionID = "another-election"
	if _, err := RunKeygen(ctx, te.board, &other, te.opts(Options{})); !errors.Is(err, ErrNotInElection) {
		t.Fatalf("other election: %v", err)
	}
	if len(te.board.entries) != 1 {
		t.Fatalf("%d entries posted", len(te.board.entries)-1)
	}
}

// A board holding an entry with a bad signature stops the trustee.
func TestFollowerRejectsForgedEntry(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	forged := *te.board.entries[0]
	forged.Signature[0] ^= 1
	te.board.entries[0] = &forged
	f := te.follower()
	if err := f.Sync(context.Background()); !errors.Is(err, ErrBoardInvalid) {
		t.Fatalf("forged manifest: %v", err)
	}
}

// A dealer whose encrypted share does not open draws a public complaint,
// answers it on the board, stays qualified, and the election goes on.
func TestKeygenComplaintAnswered(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	te.keygenWith(map[int]*misbehaviour{1: {badDeal: true}}, 0, 0)
	te.board.withState(func(st *election.State) {
		tr := st.Keygen()
		if len(tr.Complaints) != 1 || tr.Complaints[0].Complainer != 2 || tr.Complaints[0].Accused != 1 {
			t.Fatalf("complaints: %+v", tr.Complaints)
		}
		if len(tr.Answers) != 1 || tr.Answers[0].Dealer != 1 || tr.Answers[0].Complainer != 2 {
			t.Fatalf("answers: %+v", tr.Answers)
		}
		if !slices.Equal(tr.Qualified.Dealers, []int{1, 2, 3}) {
			t.Fatalf("qualified %v", tr.Qualified.Dealers)
		}
	})
	te.vote(12)
	te.checkResult(te.tally(nil))
}

// A ballot on the board whose proof does not verify stops the replay at
// that ballot, whether it comes alone or inside a batch of ballots.
func TestFollowerRejectsBadBallotInBatch(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	te.keygen()
	te.vote(12)
	var ballots []int
	for i, e := range te.board.entries {
		if e.Type == bulletin.TypeBallot {
			ballots = append(ballots, i)
		}
	}
	for _, at := range []int{ballots[0], ballots[4], ballots[len(ballots)-1]} {
		saved := te.board.entries[at]
		b, err := ballot.DecodeBallot(saved.Payload)
		if err != nil {
			t.Fatal(err)
		}
		// Add an encryption of 1 to the first ciphertext: a well-formed
		// ballot whose range proof no longer holds.
		var one *elgamal.Ciphertext
		te.board.withState(func(st *election.State) { one, _, _ = st.PublicKey.Encrypt(1, nil) })
		b.Contests[0].Ciphertexts[0].Add(b.Contests[0].Ciphertexts[0], one)
		dev := te.devices[saved.Author]
		forged, err := bulletin.NewEntry(saved.Log, saved.Type, saved.Author, bulletin.NewEd25519Signer(dev), b.Encode())
		if err != nil {
			t.Fatal(err)
		}
		te.board.entries[at] = forged // well signed, but its proofs fail
		f := te.follower()
		err = f.Sync(context.Background())
		te.board.entries[at] = saved
		if !errors.Is(err, ErrBoardInvalid) || !strings.Contains(err.Error(), fmt.Sprintf("entry %d ", at)) {
			t.Fatalf("forged ballot at %d: %v", at, err)
		}
		t.Log(err)
		if len(f.Entries) > at {
			t.Fatalf("replay went past the forged ballot at %d (%d entries)", at, len(f.Entries))
		}
	}
}

// A board that serves a trustee fewer entries than its cosigned
// checkpoint commits to (a split view) stops the trustee before it acts,
// with the evidence; so do a checkpoint signed by another key, one without
// the witness quorum, and a log key other than the manifest's.
func TestSplitViewRefused(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	te.keygen()
	te.vote(12)
	te.transition(election.PhaseMixing)
	lk := te.board.key.Verifier()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	te.board.mu.Lock()
	te.board.hide = 1
	te.board.mu.Unlock()
	// The hidden entry is the transition to mixing.
	f := te.follower()
	f.LogKey = &lk
	var ev *Evidence
	f.OnEvidence = func(e *Evidence) { ev = e }
	if err := f.Witness(ctx); !errors.Is(err, ErrSplitView) {
		t.Fatalf("hidden entry: %v", err)
	}
	if ev == nil || len(ev.Checkpoints) == 0 || len(ev.Leaves) != len(f.Entries) {
		t.Fatalf("evidence %+v", ev)
	}
	if _, _, err := bulletin.VerifyCheckpoint([]byte(ev.Checkpoints[len(ev.Checkpoints)-1]), lk); err != nil {
		t.Fatalf("the evidence's checkpoint is not the log's: %v", err)
	}
	te.board.mu.Lock()
	te.board.hide = 0
	te.board.mu.Unlock()
	if err := f.Witness(ctx); err != nil {
		t.Fatalf("honest board: %v", err)
	}
	// Checkpoints the manifest's anchors do not vouch for.
	f.StaleWait = 100 * time.Millisecond
	other := newMemBoard(t, "evote.example/other").key
	other.Origin = lk.Origin
	for name, note := range map[string]func() []byte{
		"log-signed only": func() []byte {
			te.board.mu.Lock()
			defer te.board.mu.Unlock()
			n, _ := bulletin.ParseNote(te.board.cosignedNote(t))
			n.Sigs = n.Sigs[:1]
			return n.Bytes()
		},
		"one witness short of the quorum": func() []byte {
			te.board.mu.Lock()
			defer te.board.mu.Unlock()
			n, _ := bulletin.ParseNote(te.board.cosignedNote(t))
			n.Sigs = n.Sigs[:2]
			return n.Bytes()
		},
		"another log key": func() []byte {
			te.board.mu.Lock()
			defer te.board.mu.Unlock()
			n, _ := bulletin.ParseNote(te.board.cosignedNote(t))
			c, _ := bulletin.ParseCheckpoint(n.Body)
			note, _ := bulletin.SignCheckpoint(c, other)
			return note
		},
	} {
		b := note()
		te.board.mu.Lock()
		te.board.stale = b
		te.board.mu.Unlock()
		if err := f.Witness(ctx); !errors.Is(err, ErrUnwitnessed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	te.board.mu.Lock()
	te.board.stale = nil
	te.board.mu.Unlock()
	// A log key given out of band that is not the manifest's.
	g := te.follower()
	olk := other.Verifier()
	g.LogKey = &olk
	if err := g.Sync(ctx); !errors.Is(err, ErrBoardInvalid) {
		t.Fatalf("another log key given: %v", err)
	}
	// RunMix itself refuses on a split board: trustee 1 mixes, the board
	// then hides its last mix from trustee 2 but signs it.
	if err := RunMix(ctx, te.board, te.keys[0], te.opts(Options{})); err != nil {
		t.Fatal(err)
	}
	te.board.mu.Lock()
	te.board.hide = 1
	te.board.mu.Unlock()
	err := RunMix(ctx, te.board, te.keys[1], te.opts(Options{LogKey: &lk}))
	if !errors.Is(err, ErrSplitView) {
		t.Fatalf("RunMix on a split board: %v", err)
	}
}

// A trustee that never shows up: after the round wait the others complain
// about its missing shares, it is disqualified, and the two others (the
// threshold) generate the key, mix and decrypt without it.
func TestKeygenAbsentTrustee(t *testing.T) {
	te := newTestElection(t, 3, 2, 2)
	te.keygenWith(nil, 1, 300*time.Millisecond)
	te.board.withState(func(st *election.State) {
		tr := st.Keygen()
		if !slices.Equal(tr.Qualified.Dealers, []int{1, 2}) {
			t.Fatalf("qualified %v", tr.Qualified.Dealers)
		}
		_, culprits, err := threshold.ComputeQualified(tr)
		if err != nil || len(culprits) != 1 || culprits[0].Trustee != 3 || !errors.Is(culprits[0].Reason, threshold.ErrMissingMessage) {
			t.Fatalf("disqualified %v (%v)", culprits, err)
		}
	})
	te.vote(12)
	te.checkResult(te.tally(nil))
}

// copyingBoard serves copies of a board's entries, as a board over HTTP
// does: a replay that keeps them holds memory of its own.
type copyingBoard struct{ Board }

func (b copyingBoard) Entries(ctx context.Context, start uint64) ([]*bulletin.Entry, error) {
	es, err := b.Board.Entries(ctx, start)
	for i, e := range es {
		if es[i], err = bulletin.DecodeEntry(e.Encode()); err != nil {
			return nil, err
		}
	}
	return es, err
}

// TestLeanFollower: a lean replay (the trustee tool's) reaches the same
// state as a full one without keeping the entries, gives the same
// evidence of a split view, and holds less memory by about an entry per
// entry (measured as the heap each replay keeps alive).
func TestLeanFollower(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	te.keygen()
	te.vote(100)
	te.transition(election.PhaseMixing)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	replay := func(lean bool) (*Follower, uint64) {
		h0 := heap()
		f := te.follower()
		f.Board = copyingBoard{te.board}
		f.Lean = lean
		if err := f.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		held := heap() - min(heap(), h0)
		runtime.KeepAlive(f)
		return f, held
	}
	full, fullHeld := replay(false)
	lean, leanHeld := replay(true)
	if lean.Size() != full.Size() || len(lean.Entries) != 0 || len(full.Entries) != int(full.Size()) {
		t.Fatalf("lean replay of %d entries keeps %d, full of %d keeps %d", lean.Size(), len(lean.Entries), full.Size(), len(full.Entries))
	}
	if lean.State.Phase != full.State.Phase || len(lean.State.Ballots) != len(full.State.Ballots) || len(lean.State.Ballots) < 100 {
		t.Fatalf("lean replay in phase %s with %d ballots, full in %s with %d", lean.State.Phase, len(lean.State.Ballots), full.State.Phase, len(full.State.Ballots))
	}
	t.Logf("heap kept: full replay %d KiB, lean %d KiB, for %d entries", fullHeld>>10, leanHeld>>10, full.Size())
	if fullHeld < leanHeld+full.Size()*400 {
		t.Errorf("the lean replay keeps %d bytes, the full one %d: less than 400 bytes per entry saved", leanHeld, fullHeld)
	}
	// A split view (the board hides its last entry, the transition to
	// mixing): both give the same evidence.
	te.board.mu.Lock()
	te.board.hide = 1
	te.board.mu.Unlock()
	var evs [2]*Evidence
	for i, lean := range []bool{false, true} {
		f := te.follower()
		f.Lean = lean
		f.OnEvidence = func(e *Evidence) { evs[i] = e }
		if err := f.Witness(ctx); !errors.Is(err, ErrSplitView) {
			t.Fatalf("lean %v: hidden entry: %v", lean, err)
		}
	}
	if evs[0] == nil || evs[1] == nil || len(evs[1].Leaves) == 0 || !slices.Equal(evs[0].Leaves, evs[1].Leaves) {
		t.Fatalf("evidence differs: %+v, lean %+v", evs[0], evs[1])
	}
}

// partBoard answers at most part entries at a time, as the HTTP board
// does for a large board.
type partBoard struct {
	Board
	part  int
	calls *int
}

func (b partBoard) Entries(ctx context.Context, start uint64) ([]*bulletin.Entry, error) {
	*b.calls++
	es, err := b.Board.Entries(ctx, start)
	return es[:min(len(es), b.part)], err
}

func (b partBoard) Checkpoint(ctx context.Context) ([]byte, error) {
	return b.Board.(Checkpointer).Checkpoint(ctx)
}

// TestFollowerBoardInParts: a board that answers in parts of a few
// entries (the HTTP board answers in parts of thousands, so that a
// million ballots are never decoded at once) is replayed to the same
// state as one that answers all at once, by Sync and by Witness.
func TestFollowerBoardInParts(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	te.keygen()
	te.vote(40)
	te.transition(election.PhaseMixing)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	whole := te.follower()
	if err := whole.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, witness := range []bool{false, true} {
		calls := 0
		f := te.follower()
		f.Lean = true
		f.Board = partBoard{te.board, 7, &calls}
		var err error
		if witness {
			err = f.Witness(ctx)
		} else {
			err = f.Sync(ctx)
		}
		if err != nil {
			t.Fatalf("witness %v: %v", witness, err)
		}
		if f.Size() != whole.Size() || f.State.Phase != whole.State.Phase || len(f.State.Ballots) != len(whole.State.Ballots) {
			t.Fatalf("witness %v: replay in parts has %d entries in phase %s with %d ballots, whole %d in %s with %d",
				witness, f.Size(), f.State.Phase, len(f.State.Ballots), whole.Size(), whole.State.Phase, len(whole.State.Ballots))
		}
		if min := int(whole.Size()+6) / 7; calls < min {
			t.Fatalf("witness %v: %d calls for %d entries in parts of 7", witness, calls, whole.Size())
		}
	}
}
