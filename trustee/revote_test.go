package trustee

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
	"evote/tally"
	"evote/tally/revote"
	"evote/verify"
)

// The trustee's tool in deniable re-voting mode (spec §15.15), end to
// end without the ballot box (which cannot create such an election yet):
// the simulation plays the authority, the identity service and the ballot
// box (setup, slots, the close's padding, depths, marks and roll, the
// filter entry), and the trustees' tag keys, filter steps, mixes and
// decryption shares are the tool's, posted through the Board interface
// to a board that applies every entry through election.State's rules.

// simBoard is a board over a simulated election: every post goes through
// the rules (sim.Election.Append), checkpoints are signed with the
// simulated log key and cosigned by its witnesses.
type simBoard struct {
	mu   sync.Mutex
	cond *sync.Cond
	e    *sim.Election
}

func newSimBoard(e *sim.Election) *simBoard {
	b := &simBoard{e: e}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *simBoard) Entries(_ context.Context, start uint64) ([]*bulletin.Entry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if start > uint64(len(b.e.Entries)) {
		return nil, fmt.Errorf("start %d beyond %d", start, len(b.e.Entries))
	}
	return append([]*bulletin.Entry(nil), b.e.Entries[start:]...), nil
}

func (b *simBoard) Post(_ context.Context, e *bulletin.Entry) (*Posted, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	culprits := len(b.e.State.Culprits)
	if err := b.e.Append(e); err != nil {
		return nil, err
	}
	b.cond.Broadcast()
	p := &Posted{Index: uint64(len(b.e.Entries) - 1), Valid: true}
	if len(b.e.State.Culprits) > culprits {
		p.Valid, p.Reason = false, b.e.State.Culprits[culprits].Reason
	}
	return p, nil
}

func (b *simBoard) Wait(ctx context.Context, size uint64) error {
	done := make(chan struct{})
	go func() {
		b.mu.Lock()
		for uint64(len(b.e.Entries)) <= size && ctx.Err() == nil {
			b.cond.Wait()
		}
		b.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

func (b *simBoard) Checkpoint(_ context.Context) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	enc := make([][]byte, len(b.e.Entries))
	for i, e := range b.e.Entries {
		enc[i] = e.Encode()
	}
	return b.e.Keys.SignCheckpoint(b.e.Cfg.ElectionID, enc, time.Now())
}

// do runs f on the election as the authority, identity service or ballot
// box would act on the board, and wakes the waiting trustees.
func (b *simBoard) do(f func(e *sim.Election) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.cond.Broadcast()
	return f(b.e)
}

// revoteRun is a simulated election in deniable re-voting mode whose
// trustees run the tool.
type revoteRun struct {
	t     *testing.T
	e     *sim.Election
	board *simBoard
	keys  []*Keys // each trustee's keys, as its key file holds them
	fp    ballot.ExpectedFingerprint
	dir   string
}

// newRevoteRun sets the election up to the point where the trustees post
// their tag keys: 3 trustees (threshold 2; mixes valid mixes per list, 0:
// every trustee's), 12 voters in
// 3 ballot styles, every third re-voting and every fifth voting in
// person, B = 8, M = 4.
func newRevoteRun(t *testing.T, seed string, mixes int) *revoteRun {
	cfg := sim.Config{ElectionID: "kg-2027-revote-tool", Trustees: 3, Threshold: 2, Voters: 12, RevoteEvery: 3, InPersonEvery: 5,
		SlotRows: 8, MaxBallots: 4, Coercion: true, NoTagKeys: true, Mixes: mixes, Rand: testrand.New(seed), Now: 1798800000}
	e, err := sim.Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &revoteRun{t: t, e: e, board: newSimBoard(e), fp: ballot.ExpectFingerprint(e.State.Manifest.Fingerprint()), dir: t.TempDir()}
	for j := 1; j <= cfg.Trustees; j++ {
		k := &Keys{SignSeed: [32]byte(e.Keys.Trustees[j-1].Seed()), HPKESeed: e.Keys.HPKESeeds[j-1], ElectionID: cfg.ElectionID, Index: j, Share: e.Keys.Shares[j-1]}
		if err := k.derive(); err != nil {
			t.Fatal(err)
		}
		if err := k.SaveFile(r.keyPath(j), []byte("passphrase"), fastKDF, false); err != nil {
			t.Fatal(err)
		}
		r.keys = append(r.keys, k)
	}
	return r
}

func (r *revoteRun) keyPath(j int) string {
	return filepath.Join(r.dir, fmt.Sprintf("trustee-%d.key", j))
}

// load reads trustee j's key file, as the tool does at every start.
func (r *revoteRun) load(j int) *Keys {
	r.t.Helper()
	k, err := LoadFile(r.keyPath(j), []byte("passphrase"))
	if err != nil {
		r.t.Fatal(err)
	}
	return k
}

// opts are trustee j's options: the fingerprint, its own randomness, the
// key file to keep the tag key in.
func (r *revoteRun) opts(j int, label string) Options {
	return Options{Fingerprint: r.fp, Rand: testrand.New(fmt.Sprint(r.t.Name(), label, j)), RoundWait: 2 * time.Second,
		SaveKeys: func(k *Keys) error { return k.SaveFile(r.keyPath(j), []byte("passphrase"), fastKDF, true) }}
}

// all runs f for trustees 1..n concurrently and returns their errors.
func all(n int, f func(j int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for j := 1; j <= n; j++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[j-1] = f(j) }()
	}
	wg.Wait()
	return errs
}

func (r *revoteRun) must(errs []error) {
	r.t.Helper()
	for j, err := range errs {
		if err != nil {
			r.t.Fatalf("trustee %d: %v", j+1, err)
		}
	}
}

func (r *revoteRun) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Minute)
}

// tagKeys runs every trustee's RunTagKey from its key file (board is
// trustee j's board).
func (r *revoteRun) tagKeys(board func(j int) Board) []error {
	ctx, cancel := r.ctx()
	defer cancel()
	return all(len(r.keys), func(j int) error {
		_, err := RunTagKey(ctx, board(j), r.load(j), r.opts(j, "tag-key"))
		return err
	})
}

// vote runs the voting phase and the close as the simulated ballot box
// and identity service do.
func (r *revoteRun) vote() {
	r.t.Helper()
	if err := r.board.do(func(e *sim.Election) error { return e.VoteRevote(sim.RevoteHooks{}) }); err != nil {
		r.t.Fatal(err)
	}
}

// filter runs every trustee's RunFilter (run gives trustee j's run) with
// the authority posting each style's filter entry once t shares of the
// tags are on the board, until every style's roll call is done.
func (r *revoteRun) filter(run func(ctx context.Context, j int) error) []error {
	ctx, cancel := r.ctx()
	defer cancel()
	authority := make(chan error, 1)
	actx, stop := context.WithCancel(ctx)
	go func() {
		var size uint64
		for {
			done := false
			err := r.board.do(func(e *sim.Election) error {
				size, done = uint64(len(e.Entries)), FilterDone(e.State)
				_, err := e.PostRevoteFilter(sim.RevoteHooks{})
				return err
			})
			if err != nil || done {
				authority <- err
				return
			}
			if err := r.board.Wait(actx, size); err != nil {
				authority <- nil
				return
			}
		}
	}()
	errs := all(len(r.keys), func(j int) error { return run(ctx, j) })
	stop()
	if err := <-authority; err != nil {
		r.t.Fatalf("authority: %v", err)
	}
	return errs
}

// runFilter is trustee j's RunFilter from its key file on board.
func (r *revoteRun) runFilter(ctx context.Context, j int, board Board) error {
	return RunFilter(ctx, board, r.load(j), r.opts(j, "filter"))
}

// tally runs the ordinary mixing and decryption with the tool over the
// kept rows, and the authority's result.
func (r *revoteRun) tally() {
	t := r.t
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.board.do(func(e *sim.Election) error { return e.Transition(election.PhaseMixing) }); err != nil {
		t.Fatal(err)
	}
	r.must(all(len(r.keys), func(j int) error { return RunMix(ctx, r.board, r.load(j), r.opts(j, "mix")) }))
	if err := r.board.do(func(e *sim.Election) error { return e.Transition(election.PhaseDecrypting) }); err != nil {
		t.Fatal(err)
	}
	r.must(all(len(r.keys), func(j int) error { return RunDecrypt(ctx, r.board, r.load(j), r.opts(j, "decrypt")) }))
	if err := r.board.do(func(e *sim.Election) error { _, err := e.Publish(); return err }); err != nil {
		t.Fatal(err)
	}
}

// check checks the outcome: the counts are what the voters meant, no
// trustee is named but those in named (each entry's trustee and type), the
// record replays through the rules from scratch and verifies (spec
// §15.11) but for those, and no trustee posted a tag key, a mix of a
// list or a blinding of a style twice, or a share of a list twice.
func (r *revoteRun) check(named ...election.Culprit) {
	t := r.t
	e := r.e
	if !e.State.Result.Equal(e.Expected()) {
		t.Fatalf("result %+v, the voters meant %+v", e.State.Result, e.Expected())
	}
	if len(e.State.Culprits) != len(named) {
		t.Fatalf("culprits: %v, want %d", e.State.Culprits, len(named))
	}
	for i, c := range e.State.Culprits {
		if c.Trustee != named[i].Trustee || c.Type != named[i].Type {
			t.Fatalf("culprit %v, want trustee %d's %s", c, named[i].Trustee, named[i].Type)
		}
	}
	s := election.NewState()
	enc := make([][]byte, len(e.Entries))
	for i, x := range e.Entries {
		enc[i] = x.Encode()
		if err := s.Apply(x); err != nil {
			t.Fatalf("replay of entry %d: %v", i, err)
		}
	}
	cp, err := e.Keys.SignCheckpoint(e.Cfg.ElectionID, enc, time.Unix(int64(e.Cfg.Now)+3600, 0))
	if err != nil {
		t.Fatal(err)
	}
	rep := verify.Verify(&verify.Record{Checkpoint: cp, Entries: enc}, verify.Options{Fingerprint: r.fp, Workers: 2})
	// The verifier names each skipped step as a failure of its check (the
	// tally goes on without it) and nothing else.
	if len(rep.Failures) != len(named) {
		t.Fatalf("the record's failures: %v, want %d", rep.Failures, len(named))
	}
	for i, f := range rep.Failures {
		if int64(e.State.Culprits[i].Position) != f.Entry || !strings.Contains(f.Reason, fmt.Sprintf("trustee %d", named[i].Trustee)) {
			t.Fatalf("the record's failure %v, want trustee %d's entry %d named", f, named[i].Trustee, e.State.Culprits[i].Position)
		}
	}
	// Every step of a trustee, keyed by the style whose filter runs when
	// it is applied (-1 for the tally's).
	seen := map[string]int{}
	s = election.NewState()
	for _, x := range e.Entries {
		style := s.RevoteCurrent()
		if s.Phase > election.PhaseClosed {
			style = -1
		}
		j := trusteeOf(s, x.Author)
		var key string
		switch x.Type {
		case bulletin.TypeRevoteTagKey:
			key = fmt.Sprintf("trustee %d's tag key", j)
		case bulletin.TypeRevoteBlind:
			key = fmt.Sprintf("trustee %d's blinding, style %d", j, style)
		case bulletin.TypeMixOutput:
			m, err := tally.DecodeMixEntry(x.Payload)
			if err != nil {
				t.Fatal(err)
			}
			key = fmt.Sprintf("trustee %d's mix of %s, style %d", j, m.ContestID, style)
		case bulletin.TypeDecryptionShare:
			d, err := tally.DecodeDecryptionEntry(x.Payload)
			if err != nil {
				t.Fatal(err)
			}
			// A multi-select contest's flags and sums are two lists
			// (kinds 1 and 2, spec §15.5 step 6).
			key = fmt.Sprintf("trustee %d's share of %s (kind %d), style %d", j, d.ContestID, d.Kind, style)
		}
		if key != "" {
			if seen[key]++; seen[key] > 1 {
				t.Errorf("%s posted twice", key)
			}
		}
		if err := s.Apply(x); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d trustee steps posted once each, %d entries in all", len(seen), len(e.Entries))
	for j := 1; j <= len(r.keys); j++ {
		if seen[fmt.Sprintf("trustee %d's tag key", j)] != 1 {
			t.Errorf("trustee %d: no tag key on the board", j)
		}
	}
}

func trusteeOf(s *election.State, author [32]byte) int {
	if s.Manifest == nil {
		return 0
	}
	for _, tr := range s.Manifest.Trustees {
		if tr.SignKey == author {
			return int(tr.Index)
		}
	}
	return 0
}

// TestRevoteTrusteeTool: the trustees' tools post their tag keys, every
// style's filter steps and roll call, then mix and decrypt the kept rows;
// the counts are what the voters meant (the last ballot counts, the
// in-person mark wins) and the record verifies.
func TestRevoteTrusteeTool(t *testing.T) {
	r := newRevoteRun(t, "revote-trustee-tool", 0)
	r.must(r.tagKeys(func(int) Board { return r.board }))
	for j := 1; j <= len(r.keys); j++ {
		if k := r.load(j); k.TagKey == nil {
			t.Fatalf("trustee %d's key file holds no tag key after posting it", j)
		}
	}
	// A second run posts nothing: the tag keys are on the board.
	before := len(r.e.Entries)
	r.must(r.tagKeys(func(int) Board { return r.board }))
	if len(r.e.Entries) != before {
		t.Fatal("a second run of RunTagKey posted again")
	}
	r.vote()
	r.must(r.filter(func(ctx context.Context, j int) error { return r.runFilter(ctx, j, r.board) }))
	r.tally()
	r.check()
}

// TestRevoteTrusteeRestarts: trustees' tools that stop in the middle —
// right after posting the tag key (before hearing back), while posting it
// (after saving it), right after a mix, right after a blinding step and
// right after a share of the tags — and are run again from their key files
// post nothing twice, and the election finishes with the counts the voters
// meant and a record that verifies. A restart with a key file that lost
// the tag key, or holds another, or is corrupt, gives a clear error and
// posts nothing.
func TestRevoteTrusteeRestarts(t *testing.T) {
	r := newRevoteRun(t, "revote-trustee-restarts", 0)
	ctx, cancel := r.ctx()
	defer cancel()
	// The backup trustee 1 made after key generation, before its tag key.
	backup := filepath.Join(r.dir, "trustee-1.backup")
	if err := r.load(1).Backup(backup, []byte("backup passphrase"), fastKDF); err != nil {
		t.Fatal(err)
	}
	crashed := map[int]*crashBoard{
		1: {Board: r.board, failAfter: bulletin.TypeRevoteTagKey},
		2: {Board: r.board, failType: bulletin.TypeRevoteTagKey},
	}
	errs := r.tagKeys(func(j int) Board {
		if c := crashed[j]; c != nil {
			return c
		}
		return r.board
	})
	for j, err := range errs {
		if c := crashed[j+1]; (c != nil) != errors.Is(err, errCrashed) || c == nil && err != nil {
			t.Fatalf("trustee %d's first run: %v", j+1, err)
		}
	}
	saved2 := r.load(2).TagKey.Public()
	// Trustee 2 died posting its tag key: its next run posts the key it
	// saved, not a new one; trustee 1's next run posts nothing.
	r.must(r.tagKeys(func(int) Board { return r.board }))
	if keys := r.e.State.RevoteTagKeys(); keys[1].Equal(saved2) != 1 {
		t.Fatal("trustee 2's restart posted another tag key than the one it saved")
	}
	// A key file restored from the backup made before the tag key, or
	// holding another tag key, is refused, and nothing is posted.
	lost, err := LoadFile(backup, []byte("backup passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	n := len(r.e.Entries)
	if _, err := RunTagKey(ctx, r.board, lost, r.opts(1, "lost")); !errors.Is(err, ErrTagKeyLost) {
		t.Fatalf("tag key lost: %v", err)
	}
	other := r.load(1)
	if other.TagKey, err = revote.NewTagKey(1, testrand.New("another tag key")); err != nil {
		t.Fatal(err)
	}
	if _, err := RunTagKey(ctx, r.board, other, r.opts(1, "other")); !errors.Is(err, ErrTagKeyLost) {
		t.Fatalf("another tag key: %v", err)
	}
	// A corrupt key file does not open.
	raw, err := os.ReadFile(r.keyPath(1))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-40] ^= 1
	if _, err := OpenKeys(raw, []byte("passphrase")); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("corrupt key file: %v", err)
	}
	if len(r.e.Entries) != n {
		t.Fatal("a refused run posted")
	}

	r.vote()
	// Trustee 1 runs the filter first from the backup without its tag
	// key: it mixes X and Y, then stops at its blinding with
	// ErrTagKeyLost, naming itself; run again from its key file, it stops
	// right after its first blinding step, and once more to the end.
	// Trustee 2 stops right after its first mix, trustee 3 right after its
	// first decryption share (of the tags).
	crashes := map[int]*crashBoard{
		2: {Board: r.board, failAfter: bulletin.TypeMixOutput},
		3: {Board: r.board, failAfter: bulletin.TypeDecryptionShare},
	}
	blindCrash := &crashBoard{Board: r.board, failAfter: bulletin.TypeRevoteBlind}
	var lostErr error
	r.must(r.filter(func(ctx context.Context, j int) error {
		if j == 1 {
			if lostErr = RunFilter(ctx, r.board, lost, r.opts(1, "filter-lost")); !errors.Is(lostErr, ErrTagKeyLost) {
				return fmt.Errorf("with the tag key lost: %v", lostErr)
			}
			if err := r.runFilter(ctx, 1, blindCrash); !errors.Is(err, errCrashed) {
				return fmt.Errorf("first run: %v", err)
			}
		} else if c := crashes[j]; c != nil {
			if err := r.runFilter(ctx, j, c); !errors.Is(err, errCrashed) {
				return fmt.Errorf("first run: %v", err)
			}
		}
		return r.runFilter(ctx, j, r.board)
	}))
	if !strings.Contains(lostErr.Error(), "trustee 1") {
		t.Errorf("the error does not name the trustee: %v", lostErr)
	}
	r.tally()
	r.check()
}

// TestRevoteNoTagKeyRefused: an election cannot open while a trustee has
// no tag key on the board (spec §15.14.2 rule 2), so no trustee without
// one reaches the blinding; a blinding step before the close is refused
// by the rules, and the tool refuses to blind without a tag key on the
// board.
func TestRevoteNoTagKeyRefused(t *testing.T) {
	r := newRevoteRun(t, "revote-no-tag-key", 0)
	ctx, cancel := r.ctx()
	defer cancel()
	r.must(all(2, func(j int) error {
		_, err := RunTagKey(ctx, r.board, r.load(j), r.opts(j, "tag-key"))
		return err
	}))
	if err := r.board.do(func(e *sim.Election) error { return e.Transition(election.PhaseOpen) }); !errors.Is(err, election.ErrRefused) {
		t.Fatalf("opened without trustee 3's tag key: %v", err)
	}
	var st *election.State
	r.board.do(func(e *sim.Election) error { st = e.State; return nil })
	k3 := r.load(3)
	if k3.TagKey, _ = revote.NewTagKey(3, testrand.New("trustee 3")); k3.TagKey == nil {
		t.Fatal("no tag key")
	}
	g := group.NewGeneratorElement()
	in, err := shuffle.NewRows(1, []*elgamal.Ciphertext{{A: *g, B: *g}})
	if err != nil {
		t.Fatal(err)
	}
	step, err := k3.TagKey.Blind(st.Context.ExtendedHash, in, testrand.New("blind"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := bulletin.NewEntry(r.e.Log, bulletin.TypeRevoteBlind, k3.SigningPublic(), bulletin.NewEd25519Signer(k3.SigningKey()), (&revote.BlindEntry{Style: st.Manifest.BallotStyles[0].ID, Step: step}).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.board.Post(ctx, e); !errors.Is(err, election.ErrRevoteOrder) {
		t.Fatalf("trustee 3's blinding without a tag key: %v", err)
	}
	if _, err := blindStep(st, election.RevoteStyle{Style: "s"}, k3, 3, Options{}); !errors.Is(err, ErrNoTagKey) {
		t.Fatalf("the tool blinded without a tag key on the board: %v", err)
	}
}

// TestRevoteBlindingSkipped: a trustee whose blinding step does not verify
// (its tool tampered with after the proof) is skipped by the rules with
// the trustee named (spec §15.13 step 5); its tool stops with
// ErrStepSkipped naming it, and does so again when run again, posting
// nothing. The other trustees blind and mix without it (out of turn once
// the board stands still) and the election finishes: the counts are what
// the voters meant, and the verifier names the skipped step and nothing
// else.
func TestRevoteBlindingSkipped(t *testing.T) {
	r := newRevoteRun(t, "revote-blinding-skipped", 2)
	r.must(r.tagKeys(func(int) Board { return r.board }))
	r.vote()
	var first, again error
	var posted int
	r.must(r.filter(func(ctx context.Context, j int) error {
		if j != 2 {
			return r.runFilter(ctx, j, r.board)
		}
		o := r.opts(2, "filter")
		o.tamper = func(msg any) {
			if b, ok := msg.(*revote.BlindEntry); ok {
				b.Step.Out = b.Step.Out.Map(func(l int, c *elgamal.Ciphertext) {
					if l == 0 {
						c.Add(c, c)
					}
				})
			}
		}
		first = RunFilter(ctx, r.board, r.load(2), o)
		r.board.do(func(e *sim.Election) error { posted = len(e.Entries); return nil })
		again = r.runFilter(ctx, 2, r.board)
		return nil
	}))
	for _, err := range []error{first, again} {
		if !errors.Is(err, ErrStepSkipped) || !strings.Contains(err.Error(), "trustee 2") {
			t.Fatalf("trustee 2's tool: %v", err)
		}
	}
	r.board.do(func(e *sim.Election) error {
		for _, x := range e.Entries[posted:] {
			if trusteeOf(e.State, x.Author) == 2 {
				t.Errorf("trustee 2's tool posted a %s after its blinding was skipped", x.Type)
			}
		}
		return nil
	})
	r.tally()
	r.check(election.Culprit{Trustee: 2, Type: bulletin.TypeRevoteBlind})
}
