package election

import (
	"crypto/sha256"
	"fmt"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/zkp"
	"evote/tally"
)

// A CheckedBallot is a ballot entry whose stateless checks passed: it
// decodes, fits the manifest, and its proofs verify (or were added to a
// batch that the caller will verify).
type CheckedBallot struct {
	Ballot *ballot.EncryptedBallot
	Code   ballot.TrackingCode
	// ctHashes are SHA-256 of each ciphertext's encoding, computed outside
	// the ballot box's lock, for the copy check of rule 5.
	ctHashes [][32]byte
}

// Election returns what devices and verifiers need to encrypt and check
// ballots; nil before the election context is posted.
func (s *State) Election() *ballot.Election {
	if s.Context == nil {
		return nil
	}
	return &ballot.Election{Manifest: s.Manifest, PublicKey: s.PublicKey, ExtendedHash: s.Context.ExtendedHash}
}

// NewCheckedBallot wraps a decoded ballot (and its payload, for the
// tracking code) whose proofs the caller has verified (ballot.Election's
// Verify or AddToBatch), for ApplyChecked. It hashes the ciphertexts for
// the copy check; callers outside this package must build CheckedBallots
// only with it.
func NewCheckedBallot(payload []byte, b *ballot.EncryptedBallot) *CheckedBallot {
	cb := &CheckedBallot{Ballot: b, Code: ballot.TrackingCodeOf(payload)}
	for _, ct := range b.Ciphertexts() {
		cb.ctHashes = append(cb.ctHashes, sha256.Sum256(ct.Bytes()))
	}
	return cb
}

// CiphertextHashes returns SHA-256 of each ciphertext's encoding, the keys
// of the copy check (spec §9.5 rule 5).
func (cb *CheckedBallot) CiphertextHashes() [][32]byte { return cb.ctHashes }

// CheckBallot makes the checks of a ballot entry that do not depend on the
// mutable state (spec §9.5 rules 1 and 4), verifying its proofs at once.
// It is safe to call concurrently with other CheckBallot calls.
func (s *State) CheckBallot(e *bulletin.Entry) (*CheckedBallot, error) {
	batch := zkp.NewBatch()
	cb, err := s.PrecheckBallot(e, batch)
	if err != nil {
		return nil, err
	}
	if err := batch.Verify(); err != nil {
		return nil, refuse("ballot proofs: %w", err)
	}
	return cb, nil
}

// PrecheckBallot decodes the ballot and adds its proofs to batch; the
// proofs hold only once batch.Verify succeeds.
func (s *State) PrecheckBallot(e *bulletin.Entry, batch *zkp.Batch) (*CheckedBallot, error) {
	if s.Context == nil {
		return nil, refuse("ballot before the election context")
	}
	if e.Type != bulletin.TypeBallot {
		return nil, refuse("not a ballot entry")
	}
	b, err := ballot.DecodeBallot(e.Payload)
	if err != nil {
		return nil, refuse("%w", err)
	}
	if b.CredentialKey != e.Author {
		return nil, refuse("ballot's credential key is not the entry's author")
	}
	if err := s.Election().AddToBatch(batch, b, "ballot"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err) // ballot's sentinels (ErrClearCiphertext) stay visible
	}
	return NewCheckedBallot(e.Payload, b), nil
}

// ReplayBallot decodes a ballot entry and checks its author and shape
// against the manifest, without its proofs: for the replay of a board
// whose ballots had their proofs verified when they were first applied
// (the ballot box's restart, over the entries its log signed). Parsing
// the proofs is most of PrecheckBallot's cost. The stateful rules apply
// when the ballot is applied.
func (s *State) ReplayBallot(e *bulletin.Entry) (*CheckedBallot, error) {
	if s.Context == nil {
		return nil, refuse("ballot before the election context")
	}
	if e.Type != bulletin.TypeBallot {
		return nil, refuse("not a ballot entry")
	}
	b, err := ballot.DecodeBallot(e.Payload)
	if err != nil {
		return nil, refuse("%w", err)
	}
	if b.CredentialKey != e.Author {
		return nil, refuse("ballot's credential key is not the entry's author")
	}
	if err := b.CheckShape(s.Manifest); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return NewCheckedBallot(e.Payload, b), nil
}

// ApplyChecked applies a ballot entry whose CheckedBallot has been
// verified, at the next position.
func (s *State) ApplyChecked(e *bulletin.Entry, cb *CheckedBallot) error {
	if err := s.apply(e, cb); err != nil {
		return fmt.Errorf("entry %d (%s): %w", s.Size, e.Type, err)
	}
	s.Size++
	return nil
}

// CheckCast makes the stateful checks of a ballot (spec §9.5 rules 2, 3, 5,
// 6) without changing the state, and returns the voter's pseudonym.
func (s *State) CheckCast(cb *CheckedBallot) ([32]byte, error) {
	if s.Phase != PhaseOpen {
		return [32]byte{}, refuse("voting is not open (phase %s)", s.Phase)
	}
	if len(cb.ctHashes) != len(cb.Ballot.Ciphertexts()) {
		panic("election: CheckedBallot not built by NewCheckedBallot")
	}
	if s.unindexed != 0 {
		return [32]byte{}, fmt.Errorf("%w: the ciphertexts of %d restored ballots are not indexed (RestoreCiphertexts)", ErrRestore, s.unindexed)
	}
	if s.uncredited != 0 {
		return [32]byte{}, fmt.Errorf("%w: %d restored credentials are not indexed (RestoreCredentials)", ErrRestore, s.uncredited)
	}
	cred, ok := s.credentials.get(cb.Ballot.CredentialKey)
	if !ok {
		return [32]byte{}, refuse("no credential was issued for the ballot's device key")
	}
	if cred.BallotStyle != cb.Ballot.Style {
		return [32]byte{}, refuse("ballot style %s, the credential is for %s", cb.Ballot.Style, cred.BallotStyle)
	}
	if s.VotedInPerson(cred.Pseudonym) {
		return [32]byte{}, refuse("the voter has voted in person")
	}
	if p, dup := s.byCode.get(cb.Code); dup {
		return [32]byte{}, refuse("tracking code already on the board at entry %d", p)
	}
	for _, h := range cb.ctHashes {
		if p, dup := s.ciphertexts.get(h); dup {
			return [32]byte{}, refuse("a ciphertext of this ballot repeats one of entry %d", p)
		}
	}
	if s.Manifest.Revote == ballot.SingleBallot && len(s.BallotsOf(cred.Pseudonym)) > 0 {
		return [32]byte{}, refuse("this election allows one ballot per voter, and one was cast")
	}
	return cred.Pseudonym, nil
}

func (s *State) applyBallot(e *bulletin.Entry, cb *CheckedBallot) error {
	pseudonym, err := s.CheckCast(cb)
	if err != nil {
		return err
	}
	pos := s.Size
	for _, h := range cb.ctHashes {
		s.ciphertexts.put(h, pos)
	}
	s.byCode.set(cb.Code, pos)
	s.byPseudonym.set(pseudonym, append(s.BallotsOf(pseudonym), pos))
	// Keep the ciphertexts, encoded, not the proofs: they were checked,
	// and a million ballots' proofs would double the state's memory.
	s.Ballots = append(s.Ballots, &CastRecord{Position: pos, Style: cb.Ballot.Style, Code: cb.Code, Pseudonym: pseudonym, enc: encodeCiphertexts(cb.Ballot)})
	return nil
}

func (s *State) applyAudited(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	if s.Phase != PhaseOpen {
		return refuse("audited ballots are posted only while voting is open")
	}
	a, err := ballot.DecodeAuditedBallot(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	if err := a.Verify(s.Manifest, s.PublicKey); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err) // the ballot box refuses it with the same error
	}
	var keys [][32]byte
	for _, c := range a.Contests {
		for _, ct := range c.Ciphertexts {
			k := sha256.Sum256(ct.Bytes())
			if p, dup := s.ciphertexts.get(k); dup {
				return refuse("audited ciphertext repeats one of entry %d", p)
			}
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		s.ciphertexts.put(k, s.Size)
	}
	s.Audited = append(s.Audited, s.Size)
	return nil
}

// ComputeCleansing computes the cleansing from the ballots and in-person
// marks on the board (spec §9.6).
func (s *State) ComputeCleansing() (*tally.Cleansing, error) {
	cast := make([]tally.CastBallot, len(s.Ballots))
	for i, b := range s.Ballots {
		cast[i] = tally.CastBallot{Position: b.Position, Pseudonym: b.Pseudonym}
	}
	inPerson := map[[32]byte]bool{}
	for p := range s.inPerson {
		inPerson[p] = true
	}
	return tally.Cleanse(cast, inPerson)
}

func (s *State) applyCleansing(e *bulletin.Entry) error {
	if err := s.requireAuthor(e, s.Authority, "election authority"); err != nil {
		return err
	}
	if s.Phase != PhaseClosed || s.Cleansing != nil {
		return refuse("cleansing result posted in phase %s or twice", s.Phase)
	}
	got, err := tally.DecodeCleansing(e.Payload)
	if err != nil {
		return refuse("%w", err)
	}
	want, err := s.ComputeCleansing()
	if err != nil {
		return refuse("%w", err)
	}
	if !got.Equal(want) {
		return refuse("cleansing result differs from the one recomputed from the board (%d counted, %d cancelled; recomputed %d, %d)", len(got.Counted), len(got.Cancelled), len(want.Counted), len(want.Cancelled))
	}
	s.Cleansing = got
	return s.prepareTally()
}
