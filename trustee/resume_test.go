package trustee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"evote/bulletin"
	"evote/crypto/threshold"
	"evote/election"
	"evote/internal/testrand"
)

var errCrashed = errors.New("the trustee tool crashed")

// crashBoard stands for the trustee tool's process: once dead, every call
// fails, as if the process had died at that point. Setting failType kills
// it as the trustee posts an entry of that type, before the entry reaches
// the board.
type crashBoard struct {
	Board
	dead     atomic.Bool
	failType bulletin.Type
	// failAfter kills it right after an entry of this type reaches the
	// board, before the trustee hears back.
	failAfter bulletin.Type
}

func (c *crashBoard) Entries(ctx context.Context, start uint64) ([]*bulletin.Entry, error) {
	if c.dead.Load() {
		return nil, errCrashed
	}
	return c.Board.Entries(ctx, start)
}

func (c *crashBoard) Post(ctx context.Context, e *bulletin.Entry) (*Posted, error) {
	if c.failType != 0 && e.Type == c.failType {
		c.dead.Store(true)
	}
	if c.dead.Load() {
		return nil, errCrashed
	}
	p, err := c.Board.Post(ctx, e)
	if err == nil && c.failAfter != 0 && e.Type == c.failAfter {
		c.dead.Store(true)
		return nil, errCrashed
	}
	return p, err
}

func (c *crashBoard) Checkpoint(ctx context.Context) ([]byte, error) {
	if c.dead.Load() {
		return nil, errCrashed
	}
	return c.Board.(Checkpointer).Checkpoint(ctx)
}

func (c *crashBoard) Wait(ctx context.Context, size uint64) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Board.Wait(ctx, size)
}

// crash describes where trustee v's first run dies and when it is run
// again from its saved state.
type crash struct {
	v         int           // 1-based
	step      string        // dies right after reporting this step, or
	failType  bulletin.Type // dies posting this entry type, or
	failAfter bulletin.Type // dies having posted this entry type
	// restartAt is when the trustee is run again: "" at once, "qualified"
	// after the authority posts the qualified set, "context" after the
	// election context.
	restartAt string
	// cheat, if not 0, is a trustee that deals a bad share to trustee 2,
	// which complains; the dealer answers.
	cheat int
}

// keygenCrash runs key generation with every trustee's tool, acting as
// the authority, while trustee c.v's tool crashes once and resumes from the
// state it saved. It checks the outcome against the transcript and leaves
// the trustees' new keys in te.keys.
func (te *testElection) keygenCrash(c crash) {
	t := te.t
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := len(te.keys)
	type step struct {
		i       int
		s       string
		resumed bool
	}
	type result struct {
		i    int
		keys *Keys
		err  error
	}
	steps := make(chan step, 16*n)
	results := make(chan result, n+1)
	var mu sync.Mutex
	var saved []byte
	saves := 0
	run := func(i int, k *Keys, b Board, o Options) {
		if i+1 == c.cheat {
			o.tamper = (&misbehaviour{badDeal: true}).tamper
		}
		o.Rand = testrand.New(fmt.Sprint(t.Name(), i, len(k.KeygenState)))
		o.Fingerprint = te.fp
		onStep := o.OnStep
		resumed := k.KeygenState != nil
		o.OnStep = func(s string) {
			steps <- step{i, s, resumed}
			if onStep != nil {
				onStep(s)
			}
		}
		go func() {
			out, err := RunKeygen(ctx, b, k, o)
			results <- result{i, out, err}
		}()
	}
	cb := &crashBoard{Board: te.board, failType: c.failType, failAfter: c.failAfter}
	for i, k := range te.keys {
		if i+1 != c.v {
			run(i, k, te.board, Options{})
			continue
		}
		run(i, k, cb, Options{
			OnStep: func(s string) {
				if s == c.step {
					cb.dead.Store(true)
				}
			},
			SaveState: func(st []byte) error {
				mu.Lock()
				defer mu.Unlock()
				te.board.withState(func(s *election.State) {
					if ownCommitments(s.Keygen(), c.v) != nil {
						t.Error("state saved after the commitments were posted")
					}
				})
				saved, saves = bytes.Clone(st), saves+1
				return nil
			},
		})
	}
	restart := func() {
		mu.Lock()
		k := *te.keys[c.v-1]
		k.KeygenState = saved
		mu.Unlock()
		if k.KeygenState == nil {
			t.Fatal("no state saved before the crash")
		}
		run(c.v-1, &k, te.board, Options{SaveState: func([]byte) error {
			t.Error("a resumed run saved a new state")
			return nil
		}})
	}
	reached := map[string]map[int]bool{}
	all := func(s string, except int) bool {
		for i := range n {
			if !reached[s][i] && i+1 != except {
				return false
			}
		}
		return true
	}
	var qualPosted, closedPosted, ctxPosted, crashed, restarted bool
	// holdQual is how many ticks the authority still holds the qualified
	// set back, once a trustee restarted at once has complained again:
	// time for it to find its earlier answers on the board.
	holdQual := 20
	out := make([]*Keys, n)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for done := 0; done < n; {
		select {
		case <-tick.C:
		case s := <-steps:
			// A trustee restarted at once must get through the round it
			// crashed in again (before the authority moves on) to count.
			if s.i+1 == c.v && c.restartAt == "" && !s.resumed && (s.s == c.step || c.failAfter != 0) {
				continue
			}
			if reached[s.s] == nil {
				reached[s.s] = map[int]bool{}
			}
			reached[s.s][s.i] = true
		case r := <-results:
			switch {
			case r.i+1 == c.v && !crashed:
				if !errors.Is(r.err, errCrashed) {
					t.Fatalf("trustee %d's first run: %v, want the crash", c.v, r.err)
				}
				crashed = true
			case r.err != nil:
				t.Fatalf("trustee %d: %v", r.i+1, r.err)
			default:
				out[r.i] = r.keys
				done++
			}
		case <-ctx.Done():
			t.Fatal("key generation timed out")
		}
		answered := false
		te.board.withState(func(st *election.State) { answered = ComplaintsAnswered(st) })
		// The authority waits for the answers to every complaint.
		if c.restartAt == "" && c.step == "" && c.failType == 0 && reached[StepComplained][c.v-1] && holdQual > 0 {
			holdQual--
			continue
		}
		if !qualPosted && all(StepComplained, 0) && answered {
			var q *threshold.Qualified
			te.board.withState(func(st *election.State) {
				var err error
				if q, _, err = threshold.ComputeQualified(st.Keygen()); err != nil {
					t.Error(err)
				}
			})
			te.board.postAs(t, te.authority, bulletin.TypeKeygenQualified, q.Bytes())
			qualPosted = true
		}
		// With the restart after the context, the crashed trustee's
		// extraction is on the board but it never gets to complain.
		except := 0
		if c.restartAt == "context" && crashed {
			except = c.v
		}
		if qualPosted && !closedPosted && all(StepExtracted, except) {
			te.closeExtraction()
			closedPosted = true
		}
		if closedPosted && !ctxPosted && all(StepExtractionComplaint, except) {
			te.postContext()
			ctxPosted = true
		}
		if crashed && !restarted && (c.restartAt == "" || c.restartAt == "qualified" && qualPosted || c.restartAt == "context" && ctxPosted) {
			restart()
			restarted = true
		}
	}
	if saves != 1 {
		t.Fatalf("state saved %d times", saves)
	}
	var res *threshold.Result
	var ctxt *election.Context
	te.board.withState(func(st *election.State) {
		var err error
		if res, err = threshold.VerifyTranscript(st.Keygen()); err != nil {
			t.Fatal(err)
		}
		ctxt = st.Context
	})
	if ctxt.JointKey.Equal(res.JointKey) != 1 || len(res.Qualified) != n {
		t.Fatalf("context's joint key is not the transcript's, or QUAL %v", res.Qualified)
	}
	if c.cheat != 0 {
		te.board.withState(func(st *election.State) {
			if tr := st.Keygen(); len(tr.Complaints) != 1 || len(tr.Answers) != 1 {
				t.Fatalf("%d complaints, %d answers; want one of each", len(tr.Complaints), len(tr.Answers))
			}
		})
	}
	for i, k := range out {
		if k.Share == nil || k.Index != i+1 || k.ElectionID != te.id || k.KeygenState != nil {
			t.Fatalf("trustee %d: keys %+v", i+1, k)
		}
		if k.Share.VerificationKey().Equal(res.VerificationKeys[i]) != 1 {
			t.Fatalf("trustee %d: share does not match the transcript's verification key", i+1)
		}
	}
	te.keys = out
}

// postContext posts the election context the transcript gives.
func (te *testElection) postContext() {
	t := te.t
	var ctxEntry []byte
	te.board.withState(func(st *election.State) {
		res, err := threshold.VerifyTranscript(st.Keygen())
		if err != nil {
			t.Fatal(err)
		}
		base, _ := st.Manifest.BaseHash()
		c := &election.Context{ElectionID: te.id, JointKey: res.JointKey, VerificationKeys: res.VerificationKeys, VoterListCommitment: st.VoterListCommitment()}
		c.ExtendedHash = threshold.ExtendedHash(base, c.JointKey, c.VerificationKeys, c.VoterListCommitment)
		ctxEntry = c.Encode()
	})
	te.board.postAs(t, te.authority, bulletin.TypeElectionContext, ctxEntry)
}

// A trustee whose tool crashes at any point of key generation resumes
// from the state in its key file; the election completes and tallies with
// its share.
func TestKeygenResume(t *testing.T) {
	for _, c := range []crash{
		{v: 2, failType: bulletin.TypeKeygenEncryptedShare},
		{v: 2, step: StepDealt},
		{v: 1, step: StepComplained},
		{v: 3, step: StepComplained, restartAt: "qualified"},
		{v: 2, step: StepComplained, cheat: 1},
		{v: 1, step: StepComplained, cheat: 1},
		{v: 1, failAfter: bulletin.TypeKeygenComplaintAnswer, cheat: 1},
		{v: 2, failAfter: bulletin.TypeKeygenComplaint, cheat: 1},
		{v: 2, step: StepExtracted},
		{v: 2, step: StepExtracted, restartAt: "context"},
		{v: 3, step: StepExtractionComplaint, restartAt: "context"},
	} {
		name := fmt.Sprintf("trustee%d-after-%s", c.v, c.step)
		if c.failType != 0 {
			name = fmt.Sprintf("trustee%d-posting-%s", c.v, c.failType)
		}
		if c.failAfter != 0 {
			name = fmt.Sprintf("trustee%d-having-posted-%s", c.v, c.failAfter)
		}
		if c.restartAt != "" {
			name += "-restart-after-" + c.restartAt
		}
		if c.cheat != 0 {
			name += fmt.Sprintf("-trustee%d-deals-a-bad-share", c.cheat)
		}
		t.Run(name, func(t *testing.T) {
			te := newTestElection(t, 3, 2, 2)
			te.keygenCrash(c)
			te.vote(12)
			te.checkResult(te.tally(nil))
		})
	}
}

// A saved state is used only for the election, trustee and commitments it
// was made for; without one, a trustee that dealt cannot resume.
func TestKeygenResumeRefused(t *testing.T) {
	te := newTestElection(t, 3, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k := te.keys[0]
	var saved []byte
	cb := &crashBoard{Board: te.board}
	_, err := RunKeygen(ctx, cb, k, te.opts(Options{
		Rand:      testrand.New("first"),
		OnStep:    func(s string) { cb.dead.Store(true) },
		SaveState: func(st []byte) error { saved = st; return nil },
	}))
	if !errors.Is(err, errCrashed) || saved == nil {
		t.Fatalf("first run: %v", err)
	}
	// Every refusal comes before the run waits for anyone.
	with := func(st []byte) error {
		kk := *k
		kk.KeygenState = st
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := RunKeygen(ctx, te.board, &kk, te.opts(Options{}))
		return err
	}
	if err := with(nil); !errors.Is(err, ErrCannotResume) {
		t.Fatalf("without a state: %v", err)
	}
	var m *election.State
	te.board.withState(func(s *election.State) { m = s })
	base, _ := m.Manifest.BaseHash()
	peers := make([]threshold.HPKEPublicKey, 3)
	for i, tk := range te.keys {
		peers[i] = tk.HPKEPublic()
	}
	deal := func(p threshold.Params, base [32]byte, seed string) []byte {
		tr, err := threshold.NewTrustee(p, base, 1, k.HPKE(), peers[:p.N], testrand.New(seed))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tr.Deal(); err != nil {
			t.Fatal(err)
		}
		return tr.MarshalState()
	}
	other := base
	other[0] ^= 1
	tampered := bytes.Clone(saved)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct {
		state []byte
		want  string
	}{
		"another election":    {deal(threshold.Params{N: 3, T: 2}, other, "x"), "another election"},
		"other parameters":    {deal(threshold.Params{N: 3, T: 3}, base, "x"), "n=3 t=3"},
		"tampered":            {tampered, "does not restore"},
		"not the dealt state": {deal(threshold.Params{N: 3, T: 2}, base, "x"), ErrCannotResume.Error()},
		"garbage":             {[]byte{1, 2, 3}, "does not restore"},
		"not dealt":           {notDealt(t, base, k, peers), "before Deal"},
	} {
		err := with(tc.state)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// A trustee whose state cannot be saved posts nothing.
func TestKeygenSaveStateFails(t *testing.T) {
	te := newTestElection(t, 3, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	disk := errors.New("disk full")
	_, err := RunKeygen(ctx, te.board, te.keys[1], te.opts(Options{SaveState: func([]byte) error { return disk }}))
	if !errors.Is(err, disk) {
		t.Fatalf("got %v", err)
	}
	te.board.withState(func(s *election.State) {
		if tr := s.Keygen(); len(tr.Commitments)+len(tr.EncryptedShares) != 0 {
			t.Fatal("posted although the state was not saved")
		}
	})
}

func notDealt(t *testing.T, base [32]byte, k *Keys, peers []threshold.HPKEPublicKey) []byte {
	tr, err := threshold.NewTrustee(threshold.Params{N: 3, T: 2}, base, 1, k.HPKE(), peers, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr.MarshalState()
}

// refusingBoard refuses every mix it is given, as a server fault, and
// counts them.
type refusingBoard struct {
	Board
	mixes atomic.Int32
}

func (b *refusingBoard) Post(ctx context.Context, e *bulletin.Entry) (*Posted, error) {
	if e.Type == bulletin.TypeMixOutput {
		b.mixes.Add(1)
		return nil, errors.New("HTTP 500 internal: store: record 0 size 224000516 out of bounds")
	}
	return b.Board.Post(ctx, e)
}

func (b *refusingBoard) Checkpoint(ctx context.Context) ([]byte, error) {
	return b.Board.(Checkpointer).Checkpoint(ctx)
}

// TestMixPostFailureReported: a board that keeps failing the trustee's
// mix gets it twice (once more after a resync, in case the board moved
// on), and the tool then stops with the board's error. It used to re-mix
// and re-post up to 8 × contests + 8 times, saying nothing: at a million
// ballots, half an hour of "waiting for mixing to start".
func TestMixPostFailureReported(t *testing.T) {
	te := newTestElection(t, 3, 2, 3)
	te.keygen()
	te.vote(12)
	te.transition(election.PhaseMixing)
	b := &refusingBoard{Board: te.board}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := RunMix(ctx, b, te.keys[0], te.opts(Options{Rand: testrand.New("refused mix")}))
	if err == nil || !strings.Contains(err.Error(), "out of bounds") {
		t.Fatalf("RunMix on a board refusing mixes: %v (%d mixes posted)", err, b.mixes.Load())
	}
	if n := b.mixes.Load(); n != 2 {
		t.Fatalf("%d mixes posted, want 2", n)
	}
}
