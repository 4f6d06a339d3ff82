package trustee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/threshold"
	"evote/election"
)

// Step names reported through Options.OnStep, in the order a trustee
// reaches them.
const (
	StepDealt               = "dealt"
	StepComplained          = "complained"
	StepExtracted           = "extracted"
	StepExtractionComplaint = "extraction-complained"
	StepKeyShare            = "key-share"
	StepMixed               = "mixed"
	StepDecrypted           = "decrypted"
	// StepAwaitFlags: the trustee's share of a multi-select contest's
	// flags is on the board in deniable re-voting mode, and its share of
	// the sums waits for t trustees' shares of the flags (spec §15.5
	// step 6).
	StepAwaitFlags = "await-flags"
)

// Options tune a trustee's run.
type Options struct {
	// Rand is the randomness of dealing, mixing and proofs (crypto/rand
	// when nil).
	Rand io.Reader
	// RoundWait bounds how long the trustee waits for the others before
	// reporting a step done (StepComplained, for the officials) or mixing
	// out of turn. It never decides anything secret: what is missing is
	// decided only past a deadline in the log (spec §13.3). Zero waits
	// until everyone is there or the authority moves on.
	RoundWait time.Duration
	// OnStep, if set, is called as the trustee completes each step.
	OnStep func(step string)
	// Fingerprint is the election's fingerprint as the officials published
	// it (required): the manifest on the board must have it, and the
	// trustee acts only on views that the manifest's witnesses cosigned.
	Fingerprint ballot.ExpectedFingerprint
	// LogKey, if set, is the log's verifier key as the trustee also
	// obtained it out of band; it must equal the manifest's.
	LogKey *bulletin.LogVerifier
	// OnEvidence, if set, receives the evidence when the board contradicts
	// its witnessed checkpoints (the tool saves it to a file).
	OnEvidence func(*Evidence)
	// StaleWait bounds the wait for a cosigned checkpoint covering the
	// replay (Follower.StaleWait).
	StaleWait time.Duration
	// Replay, if set, is the trustee's replay of the board kept from an
	// earlier step (it must follow the same board); it is advanced rather
	// than rebuilt, which saves re-verifying every ballot.
	Replay *Follower
	// SaveState, if set, is called by RunKeygen with the trustee's secret
	// key-generation state (its polynomials) right after dealing and
	// before anything is posted; the caller stores it (sealed, as
	// Keys.KeygenState in the key file) so that a run that crashes can
	// resume. If it fails, RunKeygen stops before posting.
	SaveState func(state []byte) error
	// SaveKeys, if set, is called by RunTagKey with the trustee's keys
	// holding a fresh tag key, before its entry is posted; it must keep
	// them durably (the key file, written atomically). RunTagKey refuses
	// to post a tag key without it, and stops if it fails: a tag key on
	// the board that the trustee no longer holds could not blind (spec
	// §15.15).
	SaveKeys func(*Keys) error

	// tamper is nil except in this package's tests, which set it to make
	// a trustee misbehave (misbehave_test.go): it is handed each dealing,
	// mix, decryption share and blinding step after its proofs are made
	// and before it is signed. Nothing outside the package can set it, so no build of the
	// tool can cheat.
	tamper func(msg any)
}

// tamperWith hands msg to the tests' tamper hook, if any.
func (o *Options) tamperWith(msg any) {
	if o.tamper != nil {
		o.tamper(msg)
	}
}

func (o *Options) follower(b Board) *Follower {
	f := o.Replay
	if f == nil {
		f = NewFollower(b)
		f.Lean = true // the tool reads only the replayed state
	}
	if !o.Fingerprint.IsZero() {
		f.Fingerprint = o.Fingerprint
	}
	if o.LogKey != nil {
		f.LogKey = o.LogKey
	}
	if o.OnEvidence != nil {
		f.OnEvidence = o.OnEvidence
	}
	if o.StaleWait != 0 {
		f.StaleWait = o.StaleWait
	}
	return f
}

func (o *Options) step(s string) {
	if o.OnStep != nil {
		o.OnStep(s)
	}
}

// ErrNotInElection means the trustee's keys are not in the manifest.
var ErrNotInElection = errors.New("trustee: these keys are not a trustee of this election")

// ErrCannotResume means this trustee already dealt in an earlier run whose
// secret polynomials are gone (no saved state, or a saved state that is not
// the one the board's commitments were made with): key generation cannot be
// resumed, only restarted as a new election.
var ErrCannotResume = errors.New("trustee: key generation was started by an earlier run and cannot be resumed")

// indexIn returns the trustee's 1-based index in the manifest, checking
// that both its signing and HPKE keys are the registered ones.
func (k *Keys) indexIn(st *election.State) (int, error) {
	m := st.Manifest
	if k.ElectionID != "" && k.ElectionID != m.ElectionID {
		return 0, fmt.Errorf("%w: key file is for election %q, the board for %q", ErrNotInElection, k.ElectionID, m.ElectionID)
	}
	pub := k.SigningPublic()
	hp := k.HPKEPublic()
	for _, t := range m.Trustees {
		if t.SignKey == pub {
			if !bytes.Equal(t.HPKEKey, hp[:]) {
				return 0, fmt.Errorf("%w: the manifest lists another HPKE key for trustee %d", ErrNotInElection, t.Index)
			}
			return int(t.Index), nil
		}
	}
	return 0, ErrNotInElection
}

// post signs payload as an entry of type t and submits it.
func post(ctx context.Context, f *Follower, k *Keys, t bulletin.Type, payload []byte) (*Posted, error) {
	e, err := bulletin.NewEntry(f.Log, t, k.SigningPublic(), bulletin.NewEd25519Signer(k.SigningKey()), payload)
	if err != nil {
		return nil, err
	}
	p, err := f.Board.Post(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("trustee: posting %s: %w", t, err)
	}
	f.acked = append(f.acked, ack{index: p.Index, hash: e.Hash()})
	return p, nil
}

func postKeygen(ctx context.Context, f *Follower, k *Keys, msg interface{ Bytes() []byte }) error {
	b := msg.Bytes()
	t, ok := election.KeygenEntryType(b)
	if !ok {
		return fmt.Errorf("trustee: unknown key-generation message kind %d", b[0])
	}
	_, err := post(ctx, f, k, t, b)
	return err
}

// waitRound waits until all returns true, the authority has moved past
// the round (past returns true), or RoundWait elapses.
func waitRound(ctx context.Context, f *Follower, o *Options, all, past func(*election.State) bool) error {
	if o.RoundWait > 0 {
		rctx, cancel := context.WithTimeout(ctx, o.RoundWait)
		defer cancel()
		err := f.Until(rctx, func(s *election.State) bool { return all(s) || past(s) })
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil // the round's time is up: act on what is there
		}
		return err
	}
	return f.Until(ctx, func(s *election.State) bool { return all(s) || past(s) })
}

// ComplaintsAnswered reports whether every complaint of key generation on
// the board has its dealer's answer (dealers facing t or more complaints
// are not expected to answer): the authority posts the qualified set only
// then (or after a deadline), since an answer that came after it would not
// count.
func ComplaintsAnswered(s *election.State) bool {
	if s.Manifest == nil {
		return false
	}
	tr := s.Keygen()
	for _, c := range tr.Complaints {
		if c.Accused < 1 || c.Accused > tr.Params.N || c.Complainer == c.Accused {
			continue
		}
		if complaintsAgainst(tr, c.Accused) >= tr.Params.T {
			continue // an honest dealer does not answer t complaints (it would publish its secret)
		}
		found := false
		for _, a := range tr.Answers {
			found = found || a.Dealer == c.Accused && a.Complainer == c.Complainer
		}
		if !found {
			return false
		}
	}
	return true
}

// posted reports whether the transcript already holds this trustee's
// message of msg's kind about the same other trustee, as a resumed run
// must not post it again (the board refuses a trustee's second message
// of a step).
func posted(tr *threshold.Transcript, msg any) bool {
	switch m := msg.(type) {
	case *threshold.Commitments:
		return slices.ContainsFunc(tr.Commitments, func(c *threshold.Commitments) bool { return c.Dealer == m.Dealer })
	case *threshold.EncryptedShares:
		return slices.ContainsFunc(tr.EncryptedShares, func(e *threshold.EncryptedShares) bool { return e.Dealer == m.Dealer })
	case *threshold.Complaint:
		return slices.ContainsFunc(tr.Complaints, func(c *threshold.Complaint) bool {
			return c.Complainer == m.Complainer && c.Accused == m.Accused
		})
	case *threshold.ComplaintAnswer:
		return slices.ContainsFunc(tr.Answers, func(a *threshold.ComplaintAnswer) bool {
			return a.Dealer == m.Dealer && a.Complainer == m.Complainer
		})
	case *threshold.ExtractionCommitments:
		return slices.ContainsFunc(tr.Extraction, func(e *threshold.ExtractionCommitments) bool { return e.Dealer == m.Dealer })
	case *threshold.ExtractionComplaint:
		return slices.ContainsFunc(tr.ExtractionComplaints, func(c *threshold.ExtractionComplaint) bool {
			return c.Complainer == m.Complainer && c.Accused == m.Accused
		})
	case *threshold.ExtractionReveal:
		return slices.ContainsFunc(tr.Reveals, func(r *threshold.ExtractionReveal) bool {
			return r.Revealer == m.Revealer && r.Dealer == m.Dealer
		})
	}
	return false
}

// ownCommitments returns this trustee's commitments on the board, or nil.
func ownCommitments(tr *threshold.Transcript, index int) *threshold.Commitments {
	for _, c := range tr.Commitments {
		if c.Dealer == index {
			return c
		}
	}
	return nil
}

// restoreTrustee rebuilds the trustee from the key file's saved state and
// checks that the state is this election's (base hash, parameters) and
// this trustee's, with its polynomials drawn.
func restoreTrustee(keys *Keys, p threshold.Params, base [32]byte, index int, peers []threshold.HPKEPublicKey, rand io.Reader) (*threshold.Trustee, error) {
	t, err := threshold.RestoreTrustee(keys.KeygenState, keys.HPKE(), peers, rand)
	if err != nil {
		return nil, fmt.Errorf("trustee: the saved key-generation state does not restore: %w", err)
	}
	switch {
	case t.BaseHash() != base:
		return nil, fmt.Errorf("trustee: the saved key-generation state is for another election (base hash %x, this election's %x)", t.BaseHash(), base)
	case t.Params() != p:
		return nil, fmt.Errorf("trustee: the saved key-generation state is for n=%d t=%d, the election has n=%d t=%d", t.Params().N, t.Params().T, p.N, p.T)
	case t.Index() != index:
		return nil, fmt.Errorf("trustee: the saved key-generation state is trustee %d's, these keys are trustee %d", t.Index(), index)
	}
	return t, nil
}

// RunKeygen takes part in key generation (spec chapter 5) over the board:
// it waits for the manifest, deals, complains about bad shares and
// answers complaints against it until the authority posts the qualified
// set, publishes its extraction commitments, and once the authority has
// closed the extraction round complains and reveals as the transcript
// requires until the authority posts the election context; it then
// derives its key share, which it checks against the context. It returns
// keys with ElectionID, Index and Share set and no KeygenState; the caller
// saves them.
//
// Every message is decided on, and posted right after, a view of the
// board that the manifest's witnesses cosigned at exactly the size the
// decision rests on (Follower.Witness); a decision that rests on a message
// being absent is taken only past the round's deadline, a position in the
// log (spec §13.3). So a server that shows trustees different boards, or
// races them with a timer, gets nothing secret: the trustee stops instead.
//
// Right after dealing, before posting, it hands its secret state to
// o.SaveState. If keys carry such a state (a run that crashed), it resumes
// instead of dealing: its commitments on the board must be the state's
// (else ErrCannotResume), and it posts only what of its messages the board
// lacks, from wherever the board stands. Without a state, a trustee whose
// commitments are on the board gets ErrCannotResume.
func RunKeygen(ctx context.Context, b Board, keys *Keys, o Options) (*Keys, error) {
	r := &keygenRun{f: o.follower(b), keys: keys, o: &o}
	if err := r.f.Witness(ctx); err != nil {
		return nil, err
	}
	index, err := keys.indexIn(r.f.State)
	if err != nil {
		return nil, err
	}
	if keys.Share != nil && keys.Index == index {
		return keys, nil // already done
	}
	r.index = index
	if err := r.deal(ctx); err != nil {
		return nil, err
	}
	if err := r.complainAndAnswer(ctx); err != nil {
		return nil, err
	}
	if err := r.extract(ctx); err != nil {
		return nil, err
	}
	if err := r.complainExtractionAndReveal(ctx); err != nil {
		return nil, err
	}
	return r.finish()
}

// keygenRun is one trustee's run of key generation, step by step.
type keygenRun struct {
	f     *Follower
	keys  *Keys
	o     *Options
	index int
	p     threshold.Params
	t     *threshold.Trustee
	// resuming: the dealing came from a saved state (a crashed run).
	resuming bool
}

// ErrExcluded means the board does not hold this trustee's message of a
// round before the round's deadline, although the trustee posted it: the
// server left it out (or the trustee was too late). Acting on would help a
// server that censors honest trustees, so the trustee stops.
var ErrExcluded = errors.New("trustee: this trustee's message is not on the board before the round closed")

// setup fails unless the witnessed board is still in key generation.
func setup(s *election.State) error {
	if s.Phase != election.PhaseSetup {
		return fmt.Errorf("trustee: key generation is over on the board (phase %s)", s.Phase)
	}
	return nil
}

// errRoundOver means the round a message belongs to ended on the
// witnessed board before the message could be posted: it would not count,
// so it is not posted, and the trustee moves on to the next round.
var errRoundOver = errors.New("trustee: the round is over on the board")

// beforeQualified fails once the qualified set is on the witnessed board:
// a phase-1 message after it would not count.
func beforeQualified(s *election.State) error {
	if err := setup(s); err != nil {
		return err
	}
	if s.Keygen().Qualified != nil {
		return fmt.Errorf("%w: the qualified set is on the board", errRoundOver)
	}
	return nil
}

// post brings the replay to a witnessed checkpoint, checks that still
// holds on it, and posts msg unless the board already has it: the check
// immediately before posting of spec §13.3.
func (r *keygenRun) post(ctx context.Context, msg interface{ Bytes() []byte }, still func(*election.State) error) error {
	if err := r.f.Witness(ctx); err != nil {
		return err
	}
	if posted(r.f.State.Keygen(), msg) {
		return nil // a resumed run, or the board was ahead of our replay
	}
	if err := still(r.f.State); err != nil {
		return err
	}
	return postKeygen(ctx, r.f, r.keys, msg)
}

// wait waits for the board to grow, then brings the replay to a witnessed
// checkpoint.
func (r *keygenRun) wait(ctx context.Context) error {
	if err := r.f.Board.Wait(ctx, r.f.Size()); err != nil {
		return err
	}
	return r.f.Witness(ctx)
}

// deal deals (or takes the dealing back from the saved state) and posts
// the commitments and encrypted shares.
func (r *keygenRun) deal(ctx context.Context) error {
	m, keys := r.f.State.Manifest, r.keys
	base, err := m.BaseHash()
	if err != nil {
		return fmt.Errorf("trustee: %w", err)
	}
	r.p = threshold.Params{N: len(m.Trustees), T: int(m.Threshold)}
	peers := make([]threshold.HPKEPublicKey, r.p.N)
	for i, t := range m.Trustees {
		copy(peers[i][:], t.HPKEKey)
	}
	var cs *threshold.Commitments
	var es *threshold.EncryptedShares
	r.resuming = len(keys.KeygenState) > 0
	if r.resuming {
		if r.t, err = restoreTrustee(keys, r.p, base, r.index, peers, r.o.Rand); err != nil {
			return err
		}
		if cs, es, err = r.t.Dealing(); err != nil {
			return fmt.Errorf("trustee: the saved key-generation state: %w", err)
		}
		if c := ownCommitments(r.f.State.Keygen(), r.index); c != nil && !bytes.Equal(c.Bytes(), cs.Bytes()) {
			return fmt.Errorf("%w: the commitments on the board are not the saved state's", ErrCannotResume)
		}
	} else {
		if r.t, err = threshold.NewTrustee(r.p, base, r.index, keys.HPKE(), peers, r.o.Rand); err != nil {
			return fmt.Errorf("trustee: %w", err)
		}
		if r.f.State.Phase != election.PhaseSetup {
			return fmt.Errorf("%w: the election is in phase %s", ErrCannotResume, r.f.State.Phase)
		}
		if ownCommitments(r.f.State.Keygen(), r.index) != nil {
			return ErrCannotResume
		}
		if cs, es, err = r.t.Deal(); err != nil {
			return fmt.Errorf("trustee: %w", err)
		}
		// Saved before anything is posted: commitments on the board
		// always have their polynomials on disk.
		if r.o.SaveState != nil {
			if err := r.o.SaveState(r.t.MarshalState()); err != nil {
				return fmt.Errorf("trustee: saving the key-generation state: %w", err)
			}
		}
	}
	r.o.tamperWith(es)
	for _, msg := range []interface{ Bytes() []byte }{cs, es} {
		if err := r.post(ctx, msg, beforeQualified); errors.Is(err, errRoundOver) && r.resuming {
			break // a resumed run after the qualified set
		} else if err != nil {
			return fmt.Errorf("trustee: dealing: %w", err)
		}
	}
	r.o.step(StepDealt)
	return nil
}

// complainAndAnswer checks the shares sent to this trustee and complains
// about each that is present and wrong, and answers the complaints against
// it, until the qualified set is on the witnessed board. It never
// complains about a missing share: a dealer whose shares are not on the
// board when the qualified set is computed is disqualified by the rules
// anyway, while a complaint would make an honest dealer whose shares a
// server delayed publish them. It does not answer when t or more trustees
// complain about it: answering would publish t shares of its polynomials,
// its secret; it is disqualified instead.
func (r *keygenRun) complainAndAnswer(ctx context.Context) error {
	start := time.Now()
	reported := false
	for {
		st := r.f.State
		tr := st.Keygen()
		if tr.Qualified != nil || st.Phase != election.PhaseSetup {
			break
		}
		complaints, err := r.t.Complain(tr)
		if err != nil {
			return fmt.Errorf("trustee: %w", err)
		}
		var msgs []interface{ Bytes() []byte }
		for _, c := range complaints {
			if sharesPresent(tr, c.Accused) {
				msgs = append(msgs, c)
			}
		}
		if complaintsAgainst(tr, r.index) < r.p.T {
			for _, a := range r.t.Answer(tr) {
				msgs = append(msgs, a)
			}
		}
		for _, msg := range msgs {
			err := r.post(ctx, msg, beforeQualified)
			if errors.Is(err, errRoundOver) {
				break // the qualified set came first: the loop ends below
			}
			if err != nil {
				return err
			}
		}
		if !reported && (allDealt(st, r.p.N) || r.o.RoundWait > 0 && time.Since(start) > r.o.RoundWait) {
			r.o.step(StepComplained)
			reported = true
		}
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if !reported && r.o.RoundWait > 0 {
			// Wake up when the round's time is up, to report the step.
			wctx, cancel = context.WithDeadline(ctx, start.Add(r.o.RoundWait))
		}
		err = r.wait(wctx)
		cancel()
		if err != nil && (ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded)) {
			return err
		}
	}
	if !reported {
		r.o.step(StepComplained)
	}
	return nil
}

// extract posts the extraction commitments once the qualified set is on
// the witnessed board, which must include this trustee.
func (r *keygenRun) extract(ctx context.Context) error {
	st := r.f.State
	tr := st.Keygen()
	// Open every share on the board (a resumed run, or shares that came
	// just before the qualified set); Extract and Finish adopt the
	// answered ones.
	if _, err := r.t.Complain(tr); err != nil {
		return fmt.Errorf("trustee: %w", err)
	}
	if st.Phase != election.PhaseSetup {
		return nil // a resumed run past the context: only the share is left
	}
	x, err := r.t.Extract(tr)
	if errors.Is(err, threshold.ErrNotQualified) {
		return fmt.Errorf("%w: the qualified set leaves out this trustee's dealing (%w)", ErrExcluded, err)
	}
	if err != nil {
		return fmt.Errorf("trustee: %w", err)
	}
	if _, closed := st.ExtractionClosedAt(); !closed {
		err := r.post(ctx, x, func(s *election.State) error {
			if _, closed := s.ExtractionClosedAt(); closed {
				return fmt.Errorf("%w: the extraction round closed", errRoundOver)
			}
			return setup(s)
		})
		if err != nil && !errors.Is(err, errRoundOver) {
			return err // too late is found out below: ErrExcluded
		}
	}
	r.o.step(StepExtracted)
	return nil
}

// complainExtractionAndReveal waits until the witnessed board holds the
// authority's closing of the extraction round, checks that its own
// extraction commitments are on the board before it, then complains about
// each qualified dealer whose extraction commitments are missing or wrong
// and reveals its shares of every dealer the transcript says must be
// reconstructed, until the context is posted. Both publish shares; both
// are decided on the witnessed board past the round's deadline, where
// "missing" means missing for everyone.
func (r *keygenRun) complainExtractionAndReveal(ctx context.Context) error {
	for {
		st := r.f.State
		if st.Phase != election.PhaseSetup {
			return nil
		}
		if _, closed := st.ExtractionClosedAt(); closed {
			break
		}
		if err := r.wait(ctx); err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(r.f.State.Keygen().Extraction, func(e *threshold.ExtractionCommitments) bool { return e.Dealer == r.index }) {
		return fmt.Errorf("%w: extraction commitments of trustee %d", ErrExcluded, r.index)
	}
	xcs, err := r.t.ComplainExtraction(r.f.State.Keygen())
	if err != nil {
		return fmt.Errorf("trustee: %w", err)
	}
	for _, c := range xcs {
		if err := r.post(ctx, c, setup); err != nil {
			return err
		}
	}
	r.o.step(StepExtractionComplaint)
	for r.f.State.Phase == election.PhaseSetup {
		rs, err := r.t.Reveal(r.f.State.Keygen())
		if err != nil {
			return fmt.Errorf("trustee: %w", err)
		}
		for _, x := range rs {
			if err := r.post(ctx, x, setup); err != nil {
				return err
			}
		}
		if err := r.wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// finish derives the key share from the witnessed transcript the context
// was checked against, and checks it against the context's verification
// key.
func (r *keygenRun) finish() (*Keys, error) {
	st := r.f.State
	if st.Context == nil {
		return nil, fmt.Errorf("trustee: no election context on the board")
	}
	share, _, err := r.t.Finish(st.Keygen())
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if share.VerificationKey().Equal(st.Context.VerificationKeys[r.index-1]) != 1 {
		return nil, fmt.Errorf("trustee: the context's verification key %d is not this trustee's", r.index)
	}
	out := *r.keys
	out.ElectionID, out.Index, out.Share = st.Manifest.ElectionID, r.index, share
	out.KeygenState = nil // secret material no longer needed
	r.o.step(StepKeyShare)
	return &out, nil
}

// sharesPresent reports whether dealer i's encrypted shares are on the
// board.
func sharesPresent(tr *threshold.Transcript, i int) bool {
	return slices.ContainsFunc(tr.EncryptedShares, func(e *threshold.EncryptedShares) bool { return e.Dealer == i })
}

// complaintsAgainst counts the distinct trustees complaining about dealer i.
func complaintsAgainst(tr *threshold.Transcript, i int) int {
	from := map[int]bool{}
	for _, c := range tr.Complaints {
		if c.Accused == i && c.Complainer != i {
			from[c.Complainer] = true
		}
	}
	return len(from)
}

// allDealt reports whether every trustee's commitments and shares are on
// the board.
func allDealt(s *election.State, n int) bool {
	tr := s.Keygen()
	got := map[int]int{}
	for _, c := range tr.Commitments {
		got[c.Dealer] |= 1
	}
	for _, e := range tr.EncryptedShares {
		got[e.Dealer] |= 2
	}
	for j := 1; j <= n; j++ {
		if got[j] != 3 {
			return false
		}
	}
	return true
}
