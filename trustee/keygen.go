package trustee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

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
)

// Options tune a trustee's run.
type Options struct {
	// Rand is the randomness of dealing, mixing and proofs (crypto/rand
	// when nil).
	Rand io.Reader
	// RoundWait bounds how long the trustee waits for the others' messages
	// of a round before acting on what is there (complaining about a
	// missing dealer, say). Zero waits until the election authority moves
	// on (the qualified set or the context appears).
	RoundWait time.Duration
	// OnStep, if set, is called as the trustee completes each step.
	OnStep func(step string)
	// Cheat, if set, lets a test make this trustee misbehave (see Cheat).
	Cheat *Cheat
	// LogKey, if set, is the log's verifier key, obtained out of band: the
	// trustee then checks that the board's signed checkpoint commits to
	// the entries it replayed before it acts (no split view).
	LogKey *bulletin.LogVerifier
	// Witnesses and Quorum, with LogKey, require that many witnesses'
	// cosignatures on that checkpoint.
	Witnesses []bulletin.CosignerKey
	Quorum    int
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
}

func (o *Options) follower(b Board) *Follower {
	f := o.Replay
	if f == nil {
		f = NewFollower(b)
	}
	if o.LogKey != nil {
		f.LogKey, f.Witnesses, f.Quorum = o.LogKey, o.Witnesses, o.Quorum
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
// the board has its dealer's answer: the authority posts the qualified set
// only then (or after a deadline), since an answer that came after it
// would not count.
func ComplaintsAnswered(s *election.State) bool {
	if s.Manifest == nil {
		return false
	}
	tr := s.Keygen()
	for _, c := range tr.Complaints {
		if c.Accused < 1 || c.Accused > tr.Params.N || c.Complainer == c.Accused {
			continue
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
// it waits for the manifest, deals, complains about bad shares, answers
// complaints against it until the authority posts the qualified set,
// publishes its extraction commitments, complains and reveals as the
// transcript requires until the authority posts the election context, and
// then derives its key share, which it checks against the context. It
// returns keys with ElectionID, Index and Share set and no KeygenState;
// the caller saves them.
//
// Right after dealing, before posting, it hands its secret state to
// o.SaveState. If keys carry such a state (a run that crashed), it resumes
// instead of dealing: its commitments on the board must be the state's
// (else ErrCannotResume), and it posts only what of its messages the board
// lacks, from wherever the board stands. Without a state, a trustee whose
// commitments are on the board gets ErrCannotResume.
func RunKeygen(ctx context.Context, b Board, keys *Keys, o Options) (*Keys, error) {
	f := o.follower(b)
	if err := f.Until(ctx, func(s *election.State) bool { return s.Manifest != nil }); err != nil {
		return nil, err
	}
	index, err := keys.indexIn(f.State)
	if err != nil {
		return nil, err
	}
	m := f.State.Manifest
	if keys.Share != nil && keys.Index == index {
		return keys, nil // already done
	}
	base, err := m.BaseHash()
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	p := threshold.Params{N: len(m.Trustees), T: int(m.Threshold)}
	peers := make([]threshold.HPKEPublicKey, p.N)
	for i, t := range m.Trustees {
		copy(peers[i][:], t.HPKEKey)
	}
	qualified := func(s *election.State) bool { return s.Keygen().Qualified != nil || s.Phase != election.PhaseSetup }
	ready := func(s *election.State) bool { return s.Phase != election.PhaseSetup }

	// Phase 1: deal, or take the dealing back from the saved state.
	resuming := len(keys.KeygenState) > 0
	var t *threshold.Trustee
	var cs *threshold.Commitments
	var es *threshold.EncryptedShares
	if resuming {
		if t, err = restoreTrustee(keys, p, base, index, peers, o.Rand); err != nil {
			return nil, err
		}
		if cs, es, err = t.Dealing(); err != nil {
			return nil, fmt.Errorf("trustee: the saved key-generation state: %w", err)
		}
		if c := ownCommitments(f.State.Keygen(), index); c != nil && !bytes.Equal(c.Bytes(), cs.Bytes()) {
			return nil, fmt.Errorf("%w: the commitments on the board are not the saved state's", ErrCannotResume)
		}
	} else {
		if t, err = threshold.NewTrustee(p, base, index, keys.HPKE(), peers, o.Rand); err != nil {
			return nil, fmt.Errorf("trustee: %w", err)
		}
		if f.State.Phase != election.PhaseSetup {
			return nil, fmt.Errorf("%w: the election is in phase %s", ErrCannotResume, f.State.Phase)
		}
		if ownCommitments(f.State.Keygen(), index) != nil {
			return nil, ErrCannotResume
		}
		if cs, es, err = t.Deal(); err != nil {
			return nil, fmt.Errorf("trustee: %w", err)
		}
		// Saved before anything is posted: commitments on the board
		// always have their polynomials on disk.
		if o.SaveState != nil {
			if err := o.SaveState(t.MarshalState()); err != nil {
				return nil, fmt.Errorf("trustee: saving the key-generation state: %w", err)
			}
		}
	}
	if o.Cheat != nil && o.Cheat.BadDeal {
		es.Shares[0].Ciphertext[0] ^= 1
	}
	for _, msg := range []interface{ Bytes() []byte }{cs, es} {
		if posted(f.State.Keygen(), msg) {
			continue
		}
		if qualified(f.State) {
			return nil, fmt.Errorf("trustee: the qualified set was posted before this trustee dealt")
		}
		if err := postKeygen(ctx, f, keys, msg); err != nil {
			return nil, err
		}
	}
	o.step(StepDealt)
	allDealt := func(s *election.State) bool {
		tr := s.Keygen()
		got := map[int]int{}
		for _, c := range tr.Commitments {
			got[c.Dealer] |= 1
		}
		for _, e := range tr.EncryptedShares {
			got[e.Dealer] |= 2
		}
		for j := 1; j <= p.N; j++ {
			if got[j] != 3 {
				return false
			}
		}
		return true
	}
	if err := waitRound(ctx, f, &o, allDealt, qualified); err != nil {
		return nil, err
	}
	late := qualified(f.State)
	if late && !resuming {
		return nil, fmt.Errorf("trustee: the qualified set was posted before this trustee could check its shares")
	}
	// Complain opens the shares sent to us (which a resumed run needs
	// again); past the qualified set, complaints would come too late.
	complaints, err := t.Complain(f.State.Keygen())
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	for _, c := range complaints {
		if late || posted(f.State.Keygen(), c) {
			continue
		}
		if err := postKeygen(ctx, f, keys, c); err != nil {
			return nil, err
		}
	}
	o.step(StepComplained)

	// Answer every complaint against us until the authority fixes QUAL
	// (answered covers a board whose replay lags behind our posts).
	answered := map[int]bool{}
	for {
		if err := f.Sync(ctx); err != nil {
			return nil, err
		}
		if qualified(f.State) {
			break // an answer now would come too late to count
		}
		for _, a := range t.Answer(f.State.Keygen()) {
			if answered[a.Complainer] || posted(f.State.Keygen(), a) {
				continue
			}
			answered[a.Complainer] = true
			if err := postKeygen(ctx, f, keys, a); err != nil {
				return nil, err
			}
		}
		if err := b.Wait(ctx, uint64(len(f.Entries))); err != nil {
			return nil, err
		}
	}

	// Phase 2: extraction.
	x, err := t.Extract(f.State.Keygen())
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if !posted(f.State.Keygen(), x) {
		if ready(f.State) {
			return nil, fmt.Errorf("trustee: the election context was posted before this trustee's extraction")
		}
		if err := postKeygen(ctx, f, keys, x); err != nil {
			return nil, err
		}
	}
	o.step(StepExtracted)
	allExtracted := func(s *election.State) bool {
		tr := s.Keygen()
		got := map[int]bool{}
		for _, e := range tr.Extraction {
			got[e.Dealer] = true
		}
		for _, i := range tr.Qualified.Dealers {
			if !got[i] {
				return false
			}
		}
		return true
	}
	if err := waitRound(ctx, f, &o, allExtracted, ready); err != nil {
		return nil, err
	}
	if !ready(f.State) {
		xcs, err := t.ComplainExtraction(f.State.Keygen())
		if err != nil {
			return nil, fmt.Errorf("trustee: %w", err)
		}
		for _, c := range xcs {
			if posted(f.State.Keygen(), c) {
				continue
			}
			if err := postKeygen(ctx, f, keys, c); err != nil {
				return nil, err
			}
		}
	}
	o.step(StepExtractionComplaint)

	// Reveal shares of dealers to be reconstructed until the context.
	revealed := map[int]bool{}
	for {
		if err := f.Sync(ctx); err != nil {
			return nil, err
		}
		if ready(f.State) {
			break
		}
		rs, err := t.Reveal(f.State.Keygen())
		if err != nil {
			return nil, fmt.Errorf("trustee: %w", err)
		}
		for _, r := range rs {
			if revealed[r.Dealer] || posted(f.State.Keygen(), r) {
				continue
			}
			revealed[r.Dealer] = true
			if err := postKeygen(ctx, f, keys, r); err != nil {
				return nil, err
			}
		}
		if err := b.Wait(ctx, uint64(len(f.Entries))); err != nil {
			return nil, err
		}
	}

	if err := f.CheckCheckpoint(ctx); err != nil {
		return nil, err
	}
	// The replay has checked the context against the transcript; Finish
	// derives our share and checks it against our verification key.
	share, _, err := t.Finish(f.State.Keygen())
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if share.VerificationKey().Equal(f.State.Context.VerificationKeys[index-1]) != 1 {
		return nil, fmt.Errorf("trustee: the context's verification key %d is not this trustee's", index)
	}
	out := *keys
	out.ElectionID, out.Index, out.Share = m.ElectionID, index, share
	out.KeygenState = nil // secret material no longer needed
	o.step(StepKeyShare)
	return &out, nil
}
