package election

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"

	"evote/ballot"
	"evote/crypto/elgamal"
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
// position, as applying its credential-issued entry did. It is not
// indexed by its device key here (only a ballot's or a credential's rules
// read that index): a restore ends with RestoreCredentials, given the
// index of every credential it restored, which NewCredentialIndex builds
// meanwhile. Its pseudonym's style is recorded here, in board order: a
// voter-list change reads the count of voters per style.
func (s *State) RestoreCredential(c *record.CredentialIssued) error {
	if s.Manifest == nil || s.Phase != PhaseOpen {
		return fmt.Errorf("%w: credential at %d in phase %s", ErrRestore, s.Size, s.Phase)
	}
	s.uncredited++
	s.lastIssued = max(s.lastIssued, c.IssuedAt)
	// A pseudonym's credentials all have one style (the rules refuse
	// another), so setting it again changes nothing: one operation.
	n := len(s.credStyle)
	if s.credStyle[c.Pseudonym] = c.BallotStyle; len(s.credStyle) > n {
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
	n := len(s.inPerson)
	if s.inPerson[p] = s.Size; len(s.inPerson) == n {
		return fmt.Errorf("%w: second in-person mark at %d", ErrRestore, s.Size)
	}
	s.Size++
	return nil
}

// RestoreBallot records a ballot as the entry at the state's next
// position: r.Position must be the state's size, r's encoding (set with
// SetEncoded) the one CastRecord.Encoded returned. The state keeps r. It
// is not indexed here (its ciphertexts, tracking code and pseudonym: no
// other entry's rules read those indices, only a ballot's): a restore
// ends with RestoreCiphertexts, given the indices of every ballot it
// restored, which NewCiphertextIndex builds meanwhile, in one batched
// pass each (on another core: they are the largest indices of a board).
func (s *State) RestoreBallot(r *CastRecord) error {
	if s.Manifest == nil || s.Phase != PhaseOpen || r.Position != s.Size {
		return fmt.Errorf("%w: ballot at %d (state at %d) in phase %s", ErrRestore, r.Position, s.Size, s.Phase)
	}
	if err := checkEnc(r.enc); err != nil {
		return fmt.Errorf("%w: %w", ErrRestore, err)
	}
	s.Ballots = append(s.Ballots, r)
	s.unindexed++
	s.Size++
	return nil
}

// A CiphertextIndex maps the hash of each ciphertext of some ballots to
// the ballot's position (NewCiphertextIndex): a frozen open-addressing
// table filled in one pass, which the state then keeps; with it, the
// frozen indices of their tracking codes and pseudonyms.
type CiphertextIndex struct {
	t       frozenCTs
	codes   index32[ballot.TrackingCode, uint64]
	voters  index32[[32]byte, []uint64]
	ballots int
}

// NewCiphertextIndex indexes the ciphertexts, tracking codes and
// pseudonyms of rs (records whose encoding SetEncoded accepted, in
// increasing positions), refusing a ciphertext or a tracking code
// repeated among them. It reads rs only, so it may run while the same
// records are restored; the index keeps rs and refers to the ciphertexts
// in their encodings.
func NewCiphertextIndex(rs []*CastRecord) (*CiphertextIndex, error) {
	codes, stop := fillIndex32(len(rs), func(i int) *ballot.TrackingCode { return &rs[i].Code },
		func(i int) uint64 { return rs[i].Position }, func(int, *uint64) bool { return false })
	if stop >= 0 {
		return nil, fmt.Errorf("%w: ballot at %d repeats a tracking code", ErrRestore, rs[stop].Position)
	}
	// A voter's first position from one slab (full slices, so a second
	// ballot's append copies), not one allocation per voter.
	slab := make([]uint64, len(rs))
	voters, _ := fillIndex32(len(rs), func(i int) *[32]byte { return &rs[i].Pseudonym },
		func(i int) []uint64 { slab[i] = rs[i].Position; return slab[i : i+1 : i+1] },
		func(i int, ps *[]uint64) bool { *ps = append(*ps, rs[i].Position); return true })
	x, err := newCiphertextIndex(rs)
	if err != nil {
		return nil, err
	}
	x.codes, x.voters = codes, voters
	return x, nil
}

func newCiphertextIndex(rs []*CastRecord) (*CiphertextIndex, error) {
	// first[i] is the ordinal of rs[i]'s first ciphertext.
	first := make([]uint32, len(rs)+1)
	n := 0
	for i, r := range rs {
		if n > maxFrozenCTs {
			return nil, fmt.Errorf("%w: more than %d ciphertexts", ErrRestore, maxFrozenCTs)
		}
		first[i] = uint32(n)
		n += (len(r.enc) - 1 - 2*r.Contests()) / elgamal.CiphertextSize
	}
	if n > maxFrozenCTs {
		return nil, fmt.Errorf("%w: more than %d ciphertexts", ErrRestore, maxFrozenCTs)
	}
	first[len(rs)] = uint32(n)
	// The ballot of a ciphertext: the last i with first[i] ≤ ord.
	ballotOf := func(ord uint32) int {
		return sort.Search(len(rs), func(i int) bool { return first[i+1] > ord })
	}
	ct := func(r *CastRecord, j uint32) []byte {
		off := 1 + 2*r.Contests() + int(j)*elgamal.CiphertextSize
		return r.enc[off : off+elgamal.CiphertextSize]
	}
	t := newFrozenCTs(n, func(ord uint32) [32]byte {
		i := ballotOf(ord)
		return sha256.Sum256(ct(rs[i], ord-first[i]))
	}, func(ord uint32) uint64 { return rs[ballotOf(ord)].Position })
	batch := make([]pendingCT, 0, 64)
	flush := func() error {
		if i := t.addBatch(batch); i >= 0 {
			return fmt.Errorf("%w: a ciphertext of the ballot at %d repeats one of an earlier ballot", ErrRestore, rs[ballotOf(batch[i].ord)].Position)
		}
		batch = batch[:0]
		return nil
	}
	for i, r := range rs {
		cts := r.enc[1+2*r.Contests():]
		for j := range uint32(len(cts) / elgamal.CiphertextSize) {
			batch = append(batch, pendingCT{k: sha256.Sum256(ct(r, j)), ord: first[i] + j})
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return &CiphertextIndex{t: t, ballots: len(rs)}, nil
}

// RestoreCiphertexts ends a restore: x must index the ciphertexts of
// every ballot restored by RestoreBallot since the last call; the
// ciphertexts the state indexed meanwhile (audited ballots applied
// between them) are kept beside it, and a repeat between the two is
// refused, as the rules refuse an audited ballot or a ballot repeating
// the other's ciphertext. The state keeps x's table; x must not be used
// again.
func (s *State) RestoreCiphertexts(x *CiphertextIndex) error {
	if x.ballots != s.unindexed {
		return fmt.Errorf("%w: an index of %d ballots' ciphertexts for %d restored", ErrRestore, x.ballots, s.unindexed)
	}
	for k, p := range s.ciphertexts.later {
		if q, dup := x.t.get(k); dup {
			return fmt.Errorf("%w: the audited ballot at %d repeats a ciphertext of the ballot at %d", ErrRestore, p, q)
		}
	}
	if old := s.ciphertexts.frozen; len(old.slots) != 0 {
		// A second restored run: the first run's table joins the map
		// (checked against the new table like the rest).
		var dup error
		old.each(func(k [32]byte, p uint64) {
			if q, ok := x.t.get(k); ok && dup == nil {
				dup = fmt.Errorf("%w: the ballot at %d repeats a ciphertext of the ballot at %d", ErrRestore, q, p)
			}
		})
		if dup != nil {
			return dup
		}
		old.each(func(k [32]byte, p uint64) { s.ciphertexts.later[k] = p })
	}
	s.ciphertexts.frozen, s.unindexed = x.t, 0
	// The tracking codes: none indexed since the restore began can be
	// there (only a ballot indexes one); an earlier run's table joins the
	// map.
	s.byCode.thaw()
	for k, p := range s.byCode.later {
		if q, dup := x.codes.get(k); dup {
			return fmt.Errorf("%w: the ballot at %d repeats the tracking code of the ballot at %d", ErrRestore, q, p)
		}
	}
	x.codes.later, s.byCode = s.byCode.later, x.codes
	// The pseudonyms: a voter of an earlier run's ballots has those
	// first.
	s.byPseudonym.thaw()
	for k, ps := range s.byPseudonym.later {
		if qs, ok := x.voters.get(k); ok {
			x.voters.set(k, append(slices.Clip(ps), qs...))
			delete(s.byPseudonym.later, k)
		}
	}
	x.voters.later, s.byPseudonym = s.byPseudonym.later, x.voters
	x.t = frozenCTs{}
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

// Grow sizes an empty state's indices for the ballots, credentials and
// in-person marks a restore will put back, so they are not grown step by
// step. It does nothing to a state that has applied entries.
func (s *State) Grow(ballots, credentials, marks int) {
	if s.Size != 0 {
		return
	}
	s.init()
	if ballots > 0 {
		s.Ballots = make([]*CastRecord, 0, ballots)
	}
	s.credStyle = make(map[[32]byte]string, credentials)
	s.inPerson = make(map[[32]byte]uint64, marks)
}

// A CredentialIndex maps the device keys of some credentials to them
// (NewCredentialIndex): a frozen table, which the state then keeps.
type CredentialIndex struct {
	t index32[[32]byte, *record.CredentialIssued]
}

// NewCredentialIndex indexes credentials cred(0)…cred(n−1) (in board
// order) by device key, refusing a device key repeated among them. It
// reads their device keys only, so it may run while the same credentials
// are restored.
func NewCredentialIndex(n int, cred func(i int) *record.CredentialIssued) (*CredentialIndex, error) {
	t, stop := fillIndex32(n, func(i int) *[32]byte { return &cred(i).DeviceKey }, cred,
		func(int, **record.CredentialIssued) bool { return false })
	if stop >= 0 {
		return nil, fmt.Errorf("%w: credential %d of the restore repeats a device key", ErrRestore, stop)
	}
	return &CredentialIndex{t: t}, nil
}

// RestoreCredentials ends a restore's credentials: x must index every
// credential restored by RestoreCredential since the last call; one
// indexed otherwise (an earlier restored run's, or applied) must not
// repeat a device key of x's. The state keeps x's table; x must not be
// used again.
func (s *State) RestoreCredentials(x *CredentialIndex) error {
	if len(x.t.keys) != s.uncredited {
		return fmt.Errorf("%w: an index of %d credentials for %d restored", ErrRestore, len(x.t.keys), s.uncredited)
	}
	s.credentials.thaw()
	for k := range s.credentials.later {
		if _, dup := x.t.get(k); dup {
			return fmt.Errorf("%w: a restored credential repeats the device key of an earlier one", ErrRestore)
		}
	}
	x.t.later, s.credentials, s.uncredited = s.credentials.later, x.t, 0
	x.t = index32[[32]byte, *record.CredentialIssued]{}
	return nil
}
