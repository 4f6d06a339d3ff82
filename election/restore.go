package election

import (
	"errors"
	"fmt"

	"evote/ballot"
	"evote/record"
)

// Restoring a state from a snapshot (the ballot box's, see package
// ballotbox): the entries that make up almost all of a board — credentials,
// in-person marks and ballots — are put back by the Restore… methods
// below, each at the state's next position, without the rules' checks
// (they were made when the entry was first applied, and the snapshot that
// carries them is authenticated), while every other entry is applied with
// Apply as in a replay. Each Restore… method changes exactly what Apply
// changes for its entry, so a state restored this way equals the state a
// full replay builds (ballotbox's tests compare them field by field).

// ErrRestore is returned for a restored item that cannot be what the
// entry at its position applied (a snapshot that is not this state's).
var ErrRestore = errors.New("election: snapshot item does not fit the state")

// RestoreCredential records credential c as the entry at the state's next
// position, as applying its credential-issued entry did.
func (s *State) RestoreCredential(c *record.CredentialIssued) error {
	if s.Manifest == nil || s.Phase != PhaseOpen {
		return fmt.Errorf("%w: credential at %d in phase %s", ErrRestore, s.Size, s.Phase)
	}
	if _, dup := s.credentials[c.DeviceKey]; dup {
		return fmt.Errorf("%w: credential at %d repeats a device key", ErrRestore, s.Size)
	}
	s.credentials[c.DeviceKey] = c
	s.lastIssued = max(s.lastIssued, c.IssuedAt)
	if _, ok := s.credStyle[c.Pseudonym]; !ok {
		s.credStyle[c.Pseudonym] = c.BallotStyle
		s.credVoters[c.BallotStyle]++
	}
	s.Size++
	return nil
}

// RestoreInPersonMark records an in-person mark of pseudonym p as the
// entry at the state's next position.
func (s *State) RestoreInPersonMark(p [32]byte) error {
	if s.Manifest == nil || s.Phase != PhaseOpen {
		return fmt.Errorf("%w: in-person mark at %d in phase %s", ErrRestore, s.Size, s.Phase)
	}
	if _, dup := s.inPerson[p]; dup {
		return fmt.Errorf("%w: second in-person mark at %d", ErrRestore, s.Size)
	}
	s.inPerson[p] = s.Size
	s.Size++
	return nil
}

// RestoreBallot records a ballot as the entry at the state's next
// position: r.Position must be the state's size, r's encoding (set with
// SetEncoded) the one CastRecord.Encoded returned, and keys its
// CiphertextKeys (nil: computed here). The state keeps r.
func (s *State) RestoreBallot(r *CastRecord, keys [][32]byte) error {
	if s.Manifest == nil || s.Phase != PhaseOpen || r.Position != s.Size {
		return fmt.Errorf("%w: ballot at %d (state at %d) in phase %s", ErrRestore, r.Position, s.Size, s.Phase)
	}
	if err := checkEnc(r.enc); err != nil {
		return fmt.Errorf("%w: %w", ErrRestore, err)
	}
	if _, dup := s.byCode[r.Code]; dup {
		return fmt.Errorf("%w: ballot at %d repeats a tracking code", ErrRestore, r.Position)
	}
	if keys == nil {
		keys = r.CiphertextKeys()
	}
	for _, h := range keys {
		s.ciphertexts[h] = r.Position
	}
	s.byCode[r.Code] = r.Position
	s.byPseudonym[r.Pseudonym] = append(s.byPseudonym[r.Pseudonym], r.Position)
	s.Ballots = append(s.Ballots, r)
	s.Size++
	return nil
}

// SetEncoded sets the ciphertext encoding of a record being restored,
// refusing one whose layout is not CastRecord.Encoded's.
func (r *CastRecord) SetEncoded(enc []byte) error {
	if err := checkEnc(enc); err != nil {
		return fmt.Errorf("%w: %w", ErrRestore, err)
	}
	r.enc = enc
	return nil
}

// Grow sizes an empty state's indices for the ballots (with ciphertexts
// ciphertexts in all), credentials and in-person marks a restore will put
// back, so they are not grown step by step. It does nothing to a state
// that has applied entries.
func (s *State) Grow(ballots, ciphertexts, credentials, marks int) {
	if s.Size != 0 {
		return
	}
	s.init()
	if ballots > 0 {
		s.Ballots = make([]*CastRecord, 0, ballots)
	}
	s.byCode = make(map[ballot.TrackingCode]uint64, ballots)
	s.byPseudonym = make(map[[32]byte][]uint64, ballots)
	s.ciphertexts = make(map[[32]byte]uint64, ciphertexts)
	s.credentials = make(map[[32]byte]*record.CredentialIssued, credentials)
	s.credStyle = make(map[[32]byte]string, credentials)
	s.inPerson = make(map[[32]byte]uint64, marks)
}
