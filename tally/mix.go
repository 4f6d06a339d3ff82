package tally

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"evote/crypto/elgamal"
	"evote/crypto/shuffle"
)

// Errors of the mix chain (spec §6.8). A skipped mix entry's MixFailure
// wraps one of these, or a verification error of crypto/shuffle
// (shuffle.ErrInvalidProof, shuffle.ErrRowCount, …).
var (
	// ErrWrongContest: the entry names another election or contest.
	ErrWrongContest = errors.New("tally: mix entry for another election or contest")
	// ErrDuplicateMixer: the trustee already has a valid mix in the chain.
	ErrDuplicateMixer = errors.New("tally: trustee already mixed this list")
	// ErrInputMismatch: the entry did not shuffle the last valid list.
	ErrInputMismatch = errors.New("tally: mix input is not the last valid list")
	// ErrTooFewMixes: fewer valid mixes by distinct trustees than required.
	ErrTooFewMixes = errors.New("tally: too few valid mixes")
)

// MixParams names one contest's mix chain: the election (its id seeds the
// commitment generators, its extended hash is the proofs' context), the
// contest, and the election public key.
type MixParams struct {
	ElectionID string
	ContestID  string
	Context    []byte // the election's extended hash (spec §9.2)
	PublicKey  *elgamal.PublicKey
	// Generators, if not nil, were derived by shuffle.DeriveGenerators for
	// this election and at least as many rows; otherwise the chain derives
	// them once for all its mixes.
	Generators *shuffle.Generators
	// Progress, if not nil, receives progress reports (spec §6.8).
	Progress shuffle.Progress
}

// shuffleParams returns the crypto/shuffle parameters for a mix by mixer.
func (p *MixParams) shuffleParams(mixer uint32) *shuffle.Params {
	return &shuffle.Params{
		ElectionID: []byte(p.ElectionID),
		Context:    p.Context,
		Mixer:      mixer,
		PublicKey:  p.PublicKey,
		Generators: p.Generators,
		Progress:   p.Progress,
	}
}

// A MixFailure is a mix entry the chain skipped, and why.
type MixFailure struct {
	Index int    // position of the entry in the list given to VerifyMixChain
	Mixer uint32 // the trustee the entry names
	Err   error
}

func (f MixFailure) Error() string {
	return fmt.Sprintf("tally: mix %d by trustee %d skipped: %v", f.Index, f.Mixer, f.Err)
}

func (f MixFailure) Unwrap() error { return f.Err }

// A ChainResult is the outcome of verifying a mix chain: the last valid
// list, the trustees whose mixes are valid (in order), and the entries
// skipped.
type ChainResult struct {
	Output   *shuffle.Rows
	Mixers   []uint32
	Failures []MixFailure
	digest   [32]byte // of Output
}

// Complete returns nil if at least mixes valid mixes by distinct trustees
// exist (spec §9.1: mixes ≥ threshold), so decryption may start.
func (r *ChainResult) Complete(mixes int) error {
	if len(r.Mixers) < mixes {
		return fmt.Errorf("%w: %d of %d", ErrTooFewMixes, len(r.Mixers), mixes)
	}
	return nil
}

// VerifyMixChain verifies a contest's mix entries in board order, starting
// from the cleansed list input, whose cleansing the caller has checked
// (spec §6.8): an entry that names another election or contest, comes from
// a trustee with a valid mix already, does not take the last valid list as
// input, or whose proof of shuffle fails is skipped with its reason; each
// valid entry's output becomes the current list. The commitment generators
// are derived once for the whole chain.
func VerifyMixChain(p *MixParams, input *shuffle.Rows, entries []*MixEntry) *ChainResult {
	res := NewChain(input)
	if len(entries) == 0 {
		return res
	}
	p = p.withGenerators(input.Len())
	for i, m := range entries {
		res.Step(p, i, m)
	}
	return res
}

// NewChain starts a mix chain at the cleansed list input.
func NewChain(input *shuffle.Rows) *ChainResult {
	return &ChainResult{Output: input, digest: input.Digest()}
}

// Step checks entry m, at position i of the chain's entries, as the next
// mix (spec §6.8): if it is valid its output becomes the current list and
// Step returns nil; otherwise it is recorded in r.Failures and Step
// returns the failure. Callers replaying a board one entry at a time use it
// instead of VerifyMixChain; p should carry generators (withGenerators) so
// they are derived once per chain.
func (r *ChainResult) Step(p *MixParams, i int, m *MixEntry) error {
	var err error
	switch {
	case m.ElectionID != p.ElectionID || m.ContestID != p.ContestID:
		err = fmt.Errorf("%w: %q/%q", ErrWrongContest, m.ElectionID, m.ContestID)
	case slices.Contains(r.Mixers, m.Mixer):
		err = ErrDuplicateMixer
	case m.Input != r.digest:
		err = ErrInputMismatch
	default:
		err = shuffle.Verify(p.shuffleParams(m.Mixer), r.Output, m.Output, m.Proof)
	}
	if err != nil {
		f := MixFailure{Index: i, Mixer: m.Mixer, Err: err}
		r.Failures = append(r.Failures, f)
		return f
	}
	r.Output, r.Mixers = m.Output, append(r.Mixers, m.Mixer)
	r.digest = m.Output.Digest()
	return nil
}

// InputDigest returns the RowsDigest of the current list, the input the
// next mix must name.
func (r *ChainResult) InputDigest() [32]byte { return r.digest }

// WithGenerators returns p with commitment generators for n rows, derived
// once, for a caller that will Step through a chain.
func (p *MixParams) WithGenerators(n int) *MixParams { return p.withGenerators(n) }

// withGenerators returns p with generators for n rows, deriving them if p
// has none for its election and n rows.
func (p *MixParams) withGenerators(n int) *MixParams {
	if p.Generators.Serves([]byte(p.ElectionID), n) {
		return p
	}
	q := *p
	q.Generators = shuffle.DeriveGenerators([]byte(p.ElectionID), n, p.Progress)
	return &q
}

// Mix is trustee mixer's turn (spec §6.8): it verifies every earlier mix
// entry itself, refuses if it already has a valid mix, then shuffles the
// last valid list (or the cleansed input if none is valid) with its own
// randomness and returns the entry to post. rand is crypto/rand when nil.
func Mix(p *MixParams, mixer uint32, input *shuffle.Rows, earlier []*MixEntry, rand io.Reader) (*MixEntry, *ChainResult, error) {
	p = p.withGenerators(input.Len())
	chain := VerifyMixChain(p, input, earlier)
	if slices.Contains(chain.Mixers, mixer) {
		return nil, chain, fmt.Errorf("%w: trustee %d", ErrDuplicateMixer, mixer)
	}
	out, proof, err := shuffle.Shuffle(p.shuffleParams(mixer), chain.Output, rand)
	if err != nil {
		return nil, chain, fmt.Errorf("tally: mixing: %w", err)
	}
	m := &MixEntry{
		ElectionID: p.ElectionID,
		ContestID:  p.ContestID,
		Mixer:      mixer,
		Input:      chain.Output.Digest(),
		Output:     out,
		Proof:      proof,
	}
	return m, chain, nil
}
