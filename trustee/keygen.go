package trustee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
// secret polynomials are gone: key generation cannot be resumed, only
// restarted as a new election.
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

// RunKeygen takes part in key generation (spec chapter 5) over the board:
// it waits for the manifest, deals, complains about bad shares, answers
// complaints against it until the authority posts the qualified set,
// publishes its extraction commitments, complains and reveals as the
// transcript requires until the authority posts the election context, and
// then derives its key share, which it checks against the context. It
// returns keys with ElectionID, Index and Share set; the caller saves them.
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
	t, err := threshold.NewTrustee(p, base, index, keys.HPKE(), peers, o.Rand)
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if f.State.Phase != election.PhaseSetup {
		return nil, fmt.Errorf("%w: the election is in phase %s", ErrCannotResume, f.State.Phase)
	}
	for _, c := range f.State.Keygen().Commitments {
		if c.Dealer == index {
			return nil, ErrCannotResume
		}
	}

	// Phase 1: deal.
	cs, es, err := t.Deal()
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if err := postKeygen(ctx, f, keys, cs); err != nil {
		return nil, err
	}
	if o.Cheat != nil && o.Cheat.BadDeal {
		es.Shares[0].Ciphertext[0] ^= 1
	}
	if err := postKeygen(ctx, f, keys, es); err != nil {
		return nil, err
	}
	o.step(StepDealt)
	qualified := func(s *election.State) bool { return s.Keygen().Qualified != nil || s.Phase != election.PhaseSetup }
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
	if qualified(f.State) {
		return nil, fmt.Errorf("trustee: the qualified set was posted before this trustee could check its shares")
	}
	complaints, err := t.Complain(f.State.Keygen())
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	for _, c := range complaints {
		if err := postKeygen(ctx, f, keys, c); err != nil {
			return nil, err
		}
	}
	o.step(StepComplained)

	// Answer every complaint against us until the authority fixes QUAL.
	answered := map[int]bool{}
	for {
		if err := f.Sync(ctx); err != nil {
			return nil, err
		}
		if qualified(f.State) {
			break // an answer now would come too late to count
		}
		for _, a := range t.Answer(f.State.Keygen()) {
			if answered[a.Complainer] {
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
	ready := func(s *election.State) bool { return s.Phase != election.PhaseSetup }
	if ready(f.State) {
		return nil, fmt.Errorf("trustee: the election context was posted before this trustee's extraction")
	}

	// Phase 2: extraction.
	x, err := t.Extract(f.State.Keygen())
	if err != nil {
		return nil, fmt.Errorf("trustee: %w", err)
	}
	if err := postKeygen(ctx, f, keys, x); err != nil {
		return nil, err
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
			if revealed[r.Dealer] {
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
	o.step(StepKeyShare)
	return &out, nil
}
