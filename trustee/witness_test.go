package trustee

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/witness"
	"evote/crypto/threshold"
	"evote/election"
	"evote/internal/testrand"
)

// forkedBoards is a ballot box run by an attacker who holds the log's and
// the authority's keys but not the witnesses': it keeps one log per
// trustee (a fork) and shows each trustee its own. Phase-1 messages are
// relayed to every fork in one order, so the forks agree until the
// extraction round; then each trustee's extraction commitments go only to
// its own fork, which the attacker closes at once, so that every trustee
// sees every other dealer "missing". Whatever shares the trustees publish
// (extraction complaints and reveals) the attacker collects. Issue 12,
// finding 1: with the trustee acting on its own replay and a local timer,
// every trustee revealed its shares of both other dealers and the
// attacker held t shares of every polynomial, hence the election key.
type forkedBoards struct {
	mu        sync.Mutex
	cond      *sync.Cond
	key       *bulletin.LogKey
	authority ed25519.PrivateKey
	witnesses []*witness.Witness
	forks     []*fork
	leaked    map[[2]int]bool // (dealer, trustee) shares published
}

type fork struct {
	fb      *forkedBoards
	index   int
	entries []*bulletin.Entry
	state   *election.State
}

func newForkedBoards(t *testing.T, n int) *forkedBoards {
	r := testrand.New(t.Name())
	_, lk, _ := ed25519.GenerateKey(r)
	s := bulletin.NewEd25519Signer(lk)
	origin := "evote.example/" + t.Name()
	fb := &forkedBoards{key: &bulletin.LogKey{Origin: origin, Ed25519: s, Ed25519Public: s.Public()}, authority: edKey(r), leaked: map[[2]int]bool{}}
	fb.cond = sync.NewCond(&fb.mu)
	dir := t.TempDir()
	for i := range 2 {
		ws := bulletin.NewEd25519Signer(edKey(r))
		w, err := witness.New(witness.Config{Name: fmt.Sprintf("w%d.witness.test", i+1), Key: ws, Public: ws.Public(), Logs: []bulletin.LogVerifier{fb.key.Verifier()},
			StatePath: filepath.Join(dir, fmt.Sprintf("w%d.json", i+1))})
		if err != nil {
			t.Fatal(err)
		}
		fb.witnesses = append(fb.witnesses, w)
	}
	for i := range n {
		fb.forks = append(fb.forks, &fork{fb: fb, index: i + 1, state: election.NewState()})
	}
	return fb
}

// append applies e to fork f (fb.mu held).
func (f *fork) append(e *bulletin.Entry) error {
	if err := f.state.Apply(e); err != nil {
		return err
	}
	f.entries = append(f.entries, e)
	return nil
}

// postAll signs and appends an authority entry to every fork (fb.mu held).
func (fb *forkedBoards) postAll(t *testing.T, typ bulletin.Type, payload []byte) {
	e, err := bulletin.NewEntry(bulletin.LogIDFor(fb.key.Origin), typ, [32]byte(fb.authority.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(fb.authority), payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fb.forks {
		if err := f.append(e); err != nil {
			t.Fatal(err)
		}
	}
	fb.cond.Broadcast()
}

func (f *fork) Entries(_ context.Context, start uint64) ([]*bulletin.Entry, error) {
	f.fb.mu.Lock()
	defer f.fb.mu.Unlock()
	if start > uint64(len(f.entries)) {
		return nil, fmt.Errorf("start %d beyond %d", start, len(f.entries))
	}
	return slices.Clone(f.entries[start:]), nil
}

func (f *fork) Post(_ context.Context, e *bulletin.Entry) (*Posted, error) {
	if err := e.Verify(); err != nil {
		return nil, err
	}
	fb := f.fb
	fb.mu.Lock()
	defer fb.mu.Unlock()
	defer fb.cond.Broadcast()
	if e.Type != bulletin.TypeKeygenExtraction {
		for _, g := range fb.forks { // relayed: the forks agree
			if err := g.append(e); err != nil {
				return nil, err
			}
		}
		return &Posted{Index: uint64(len(f.entries) - 1), Valid: true}, nil
	}
	if err := f.append(e); err != nil {
		return nil, err
	}
	posted := &Posted{Index: uint64(len(f.entries) - 1), Valid: true}
	msg, err := threshold.ParseMessage(e.Payload)
	if err != nil {
		return nil, err
	}
	switch m := msg.(type) {
	case *threshold.ExtractionCommitments:
		// Kept in this trustee's fork only, which the attacker closes at
		// once: every other dealer is missing there.
		base, _ := f.state.Manifest.BaseHash()
		c, err := bulletin.NewEntry(e.Log, bulletin.TypeKeygenQualified, [32]byte(fb.authority.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(fb.authority), election.ExtractionClosed(base))
		if err != nil {
			return nil, err
		}
		if err := f.append(c); err != nil {
			return nil, err
		}
	case *threshold.ExtractionComplaint:
		fb.leaked[[2]int{m.Accused, m.Complainer}] = true
	case *threshold.ExtractionReveal:
		fb.leaked[[2]int{m.Dealer, m.Revealer}] = true
	}
	return posted, nil
}

func (f *fork) Wait(ctx context.Context, size uint64) error {
	done := make(chan struct{})
	go func() {
		f.fb.mu.Lock()
		for uint64(len(f.entries)) <= size && ctx.Err() == nil {
			f.fb.cond.Wait()
		}
		f.fb.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		f.fb.mu.Lock()
		f.fb.cond.Broadcast()
		f.fb.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Checkpoint signs this fork's tree and asks the (honest) witnesses to
// cosign it: they cosign one history only.
func (f *fork) Checkpoint(context.Context) ([]byte, error) {
	f.fb.mu.Lock()
	defer f.fb.mu.Unlock()
	return cosignEntries(f.fb.key, f.fb.witnesses, f.entries)
}

// TestKeygenSplitViewGetsNoKey: the attack of issue 12, finding 1. A board
// that shows each trustee a fork in which the other dealers' extraction
// commitments are missing gets shares from at most the one trustee whose
// fork the witnesses cosigned; that trustee's own contribution stays
// secret, so the election key does too. The others stop with
// ErrUnwitnessed having published nothing.
func TestKeygenSplitViewGetsNoKey(t *testing.T) {
	const n, th = 3, 2
	fb := newForkedBoards(t, n)
	r := testrand.New(t.Name() + "/keys")
	var keys []*Keys
	var ts []ballot.Trustee
	for i := range n {
		k, err := GenerateKeys(r)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		hp := k.HPKEPublic()
		ts = append(ts, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: k.SigningPublic(), HPKEKey: hp[:]})
	}
	anchors := ballot.BoardAnchors{Origin: fb.key.Origin, LogKey: fb.key.Ed25519Public, Quorum: 2}
	for _, w := range fb.witnesses {
		anchors.Witnesses = append(anchors.Witnesses, ballot.Witness{Name: w.Key().Name, Key: w.Key().Public})
	}
	m := ballot.SampleManifest("split-view", ts, th, [32]byte(edKey(r).Public().(ed25519.PublicKey)), anchors)
	fp := ballot.ExpectFingerprint(m.Fingerprint())
	fb.mu.Lock()
	fb.postAll(t, bulletin.TypeManifest, m.Encode())
	fb.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	steps := make(chan string, 8*n)
	errs := make([]error, n)
	var errMu sync.Mutex
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := RunKeygen(ctx, fb.forks[i], k, Options{Fingerprint: fp, StaleWait: 500 * time.Millisecond, Rand: testrand.New(fmt.Sprint(t.Name(), i)),
				OnStep: func(s string) { steps <- s }})
			errMu.Lock()
			errs[i] = err
			errMu.Unlock()
		}()
	}
	// The attacker, as authority, posts the qualified set once everyone
	// has dealt and complained, in every fork.
	for complained := 0; complained < n; {
		select {
		case s := <-steps:
			if s == StepComplained {
				complained++
			}
		case <-ctx.Done():
			t.Fatal("phase 1 timed out")
		}
	}
	fb.mu.Lock()
	q, _, err := threshold.ComputeQualified(fb.forks[0].state.Keygen())
	if err != nil {
		t.Fatal(err)
	}
	fb.postAll(t, bulletin.TypeKeygenQualified, q.Bytes())
	fb.mu.Unlock()
	// Wait until at least n-1 trustees have stopped; the one whose fork
	// the witnesses cosigned waits for a context that never comes.
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	deadline := time.After(10 * time.Second)
	for {
		done := 0
		errMu.Lock()
		for _, e := range errs {
			if e != nil {
				done++
			}
		}
		errMu.Unlock()
		if done >= n-1 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("trustees still running: %v", errs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	<-stopped

	fb.mu.Lock()
	defer fb.mu.Unlock()
	t.Logf("shares published (dealer, trustee): %v; trustees stopped with %v", fb.leaked, errs)
	perDealer := map[int]int{}
	revealers := map[int]bool{}
	for k := range fb.leaked {
		perDealer[k[0]]++
		revealers[k[1]] = true
	}
	rebuilt := 0
	for i := 1; i <= n; i++ {
		if perDealer[i] >= th {
			rebuilt++
		}
	}
	if rebuilt == n {
		t.Fatalf("the attacker holds %d shares of every dealer's polynomial: the election key (leaked %v)", th, fb.leaked)
	}
	if len(revealers) > 1 {
		t.Errorf("trustees %v published shares; at most the one on the witnessed fork may", revealers)
	}
	unwitnessed := 0
	for i, e := range errs {
		switch {
		case errors.Is(e, ErrUnwitnessed):
			unwitnessed++
			if revealers[i+1] {
				t.Errorf("trustee %d published shares and then found its view unwitnessed", i+1)
			}
		case errors.Is(e, context.Canceled):
		default:
			t.Errorf("trustee %d: %v", i+1, e)
		}
	}
	if unwitnessed < n-1 {
		t.Errorf("%d trustees refused their unwitnessed fork, want %d: %v", unwitnessed, n-1, errs)
	}
}

// TestStaleCheckpointNoMixNoDecrypt: the attack of issue 12, finding 2. A
// board that serves a checkpoint older than the entries after it (here:
// from before voting closed) gets no mix and no decryption share: what
// follows the checkpoint is witnessed by nobody, so it may be a fork whose
// counted list the server chose.
func TestStaleCheckpointNoMixNoDecrypt(t *testing.T) {
	te := newTestElection(t, 3, 2, 2)
	te.keygen()
	te.vote(9) // ends with the close and the cleansing
	var stale []byte
	te.board.mu.Lock()
	stale = te.board.cosignedNote(t) // covers the board up to the cleansing
	te.board.mu.Unlock()
	te.transition(election.PhaseMixing)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	count := func(typ bulletin.Type) int {
		te.board.mu.Lock()
		defer te.board.mu.Unlock()
		c := 0
		for _, e := range te.board.entries {
			if e.Type == typ {
				c++
			}
		}
		return c
	}
	te.board.mu.Lock()
	te.board.stale = stale
	te.board.mu.Unlock()
	o := te.opts(Options{StaleWait: 300 * time.Millisecond})
	if err := RunMix(ctx, te.board, te.keys[0], o); !errors.Is(err, ErrUnwitnessed) {
		t.Fatalf("mix on a stale checkpoint: %v", err)
	}
	if c := count(bulletin.TypeMixOutput); c != 0 {
		t.Fatalf("%d mixes posted on a stale checkpoint", c)
	}
	// Honest checkpoints again: the tally proceeds.
	te.board.mu.Lock()
	te.board.stale = nil
	te.board.mu.Unlock()
	te.runAll(func(ctx context.Context, i int, k *Keys) error {
		return RunMix(ctx, te.board, k, te.opts(Options{Rand: testrand.New(fmt.Sprint("mix", i))}))
	})
	te.board.mu.Lock()
	stale = te.board.cosignedNote(t) // the mixes, not the move to decrypting
	te.board.mu.Unlock()
	te.transition(election.PhaseDecrypting)
	te.board.mu.Lock()
	te.board.stale = stale
	te.board.mu.Unlock()
	if err := RunDecrypt(ctx, te.board, te.keys[0], o); !errors.Is(err, ErrUnwitnessed) {
		t.Fatalf("decryption on a stale checkpoint: %v", err)
	}
	if c := count(bulletin.TypeDecryptionShare); c != 0 {
		t.Fatalf("%d decryption shares posted on a stale checkpoint", c)
	}
}

// TestBoardDropsAcknowledgedPost: a board that acknowledges a trustee's
// entry at a position and then shows another entry there (here: it
// swallowed trustee 1's commitments) contradicts its own answer; the
// trustee stops at its next witnessed view, with the evidence.
func TestBoardDropsAcknowledgedPost(t *testing.T) {
	te := newTestElection(t, 3, 2, 2)
	one := te.keys[0].SigningPublic()
	te.board.mu.Lock()
	te.board.swallow = func(e *bulletin.Entry) bool { return e.Author == one && e.Type == bulletin.TypeKeygenCommitment }
	te.board.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ev *Evidence
	errs := make([]chan error, 2)
	for i := range 2 {
		errs[i] = make(chan error, 1)
		o := te.opts(Options{Rand: testrand.New(fmt.Sprint(t.Name(), i))})
		if i == 0 {
			o.OnEvidence = func(e *Evidence) { ev = e }
		}
		go func() {
			_, err := RunKeygen(ctx, te.board, te.keys[i], o)
			if i == 0 {
				cancel() // trustee 2 would wait for the others for ever
			}
			errs[i] <- err
		}()
	}
	if err := <-errs[0]; !errors.Is(err, ErrSplitView) {
		t.Fatalf("trustee 1: %v, want ErrSplitView", err)
	}
	<-errs[1]
	if ev == nil || !strings.Contains(ev.Reason, "acknowledged") {
		t.Fatalf("evidence %+v", ev)
	}
}
