package record

import (
	"crypto/ed25519"
	"fmt"

	"evote/crypto/sig"
)

// Domain tags of the statements signed by polling-station and election
// officials (spec/08-identity.md §8.8).
const (
	InPersonMarkTag    = "evote-v1/in-person-mark"
	VoterListChangeTag = "evote-v1/voter-list-change"
)

// InPersonMark is the board entry (type 0x0204, §8.8.3) recording that a
// voter voted in person at a polling station. It is signed by the station's
// key and by the official's key, posted while voting is open, and names the
// voter only by pseudonym. At cleansing every online ballot under a
// pseudonym with a mark is cancelled; a voter who did not vote in person sees
// the mark (and gets an SMS), so a mark cannot quietly cancel a ballot.
type InPersonMark struct {
	ElectionID  string
	ContextHash [32]byte
	Pseudonym   [32]byte
	BallotStyle string
	StationID   string
	StationKey  [32]byte
	OfficialID  string
	OfficialKey [32]byte
	MarkedAt    uint64 // Unix seconds
	StationSig  [64]byte
	OfficialSig [64]byte
}

func (m *InPersonMark) encodeStatement(w *idWriter) {
	w.str(m.ElectionID)
	w.fixed(m.ContextHash[:])
	w.fixed(m.Pseudonym[:])
	w.str(m.BallotStyle)
	w.str(m.StationID)
	w.fixed(m.StationKey[:])
	w.str(m.OfficialID)
	w.fixed(m.OfficialKey[:])
	w.u64(m.MarkedAt)
}

// SigningBytes returns the message both the station and the official sign:
// bytes("evote-v1/in-person-mark") followed by every field up to and
// including MarkedAt, encoded as in Encode.
func (m *InPersonMark) SigningBytes() []byte {
	w := &idWriter{}
	w.str(InPersonMarkTag)
	m.encodeStatement(w)
	return w.encoded()
}

// Encode returns the canonical encoding: the fields in declaration order
// (strings as string, keys and hashes as fixed bytes, MarkedAt as u64),
// then StationSig || OfficialSig.
func (m *InPersonMark) Encode() []byte {
	w := &idWriter{}
	m.encodeStatement(w)
	w.fixed(m.StationSig[:])
	w.fixed(m.OfficialSig[:])
	return w.encoded()
}

// Sign fills both signatures (used by stations, and by tests).
func (m *InPersonMark) Sign(station, official ed25519.PrivateKey) {
	msg := m.SigningBytes()
	copy(m.StationSig[:], ed25519.Sign(station, msg))
	copy(m.OfficialSig[:], ed25519.Sign(official, msg))
}

// VerifySignatures checks both signatures under the strict rules of
// spec/07-bulletin.md §7.3. Whether the keys belong to a registered station
// and official is the caller's check.
func (m *InPersonMark) VerifySignatures() error {
	msg := m.SigningBytes()
	if err := sig.Verify(m.StationKey[:], msg, m.StationSig[:]); err != nil {
		return fmt.Errorf("record: in-person mark: station signature: %w", err)
	}
	if err := sig.Verify(m.OfficialKey[:], msg, m.OfficialSig[:]); err != nil {
		return fmt.Errorf("record: in-person mark: official signature: %w", err)
	}
	return nil
}

// DecodeInPersonMark strictly decodes b. It checks forms, not signatures.
func DecodeInPersonMark(b []byte) (*InPersonMark, error) {
	r := newIDReader(b)
	m := &InPersonMark{}
	m.ElectionID = r.id("election id")
	r.fixed(m.ContextHash[:], "context hash")
	r.fixed(m.Pseudonym[:], "pseudonym")
	m.BallotStyle = r.id("ballot style")
	m.StationID = r.id("station id")
	r.edKey(&m.StationKey, "station key")
	m.OfficialID = r.id("official id")
	r.edKey(&m.OfficialKey, "official key")
	m.MarkedAt = r.u64("marked at")
	r.fixed(m.StationSig[:], "station signature")
	r.fixed(m.OfficialSig[:], "official signature")
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("record: in-person mark: %w", err)
	}
	return m, nil
}

// Kinds of voter-list change.
const (
	ListBuilt         uint8 = 1 // initial list built from the population register
	ListImported      uint8 = 2 // list or additions imported from a file
	ListAdded         uint8 = 3 // voters added one by one
	ListRemoved       uint8 = 4 // voters removed
	ListContactUpdate uint8 = 5 // phone numbers updated (consular officials, voters abroad)
)

// StyleCount is the number of voters on the list for one ballot style
// (constituency) after a change.
type StyleCount struct {
	BallotStyle string
	Voters      uint32
}

// VoterListChange is the board entry (type 0x0202, §8.8.4) for every change
// to an election's voter list. The details (which PINs, which phones) stay
// in the identity service. The official who made the change signs a
// statement (election, sequence, kind, salted digest of the details, time);
// the identity service appends what the change did: voters added, removed
// and updated, and the count per ballot style after it. The board entry as a
// whole is signed by the identity service (spec/07-bulletin.md), so an
// auditor can tell who vouches for what, and check across the chain that
// each entry's total equals the previous total plus Added minus Removed.
type VoterListChange struct {
	// Signed by the official.
	ElectionID    string
	ContextHash   [32]byte
	Sequence      uint64 // 1, 2, 3, … per election, no gaps
	Kind          uint8  // ListBuilt … ListContactUpdate
	OfficialID    string
	OfficialKey   [32]byte
	DetailsDigest [32]byte // §8.8.4: SHA-256 over a random salt and the change details
	ChangedAt     uint64   // Unix seconds
	OfficialSig   [64]byte
	// Computed by the identity service.
	Added   uint32
	Removed uint32
	Updated uint32
	Counts  []StyleCount // sorted strictly by BallotStyle
}

// MaxStyles bounds the ballot styles of one election.
const MaxStyles = 4096

func (c *VoterListChange) encodeStatement(w *idWriter) {
	w.str(c.ElectionID)
	w.fixed(c.ContextHash[:])
	w.u64(c.Sequence)
	w.u8(c.Kind)
	w.str(c.OfficialID)
	w.fixed(c.OfficialKey[:])
	w.fixed(c.DetailsDigest[:])
	w.u64(c.ChangedAt)
}

// SigningBytes returns the message the official signs:
// bytes("evote-v1/voter-list-change") followed by the fields from ElectionID
// to ChangedAt, encoded as in Encode.
func (c *VoterListChange) SigningBytes() []byte {
	w := &idWriter{}
	w.str(VoterListChangeTag)
	c.encodeStatement(w)
	return w.encoded()
}

// Encode returns the canonical encoding: the fields in declaration order
// (Kind as u8, times and Sequence as u64, counters as u32, Counts as
// list<string(BallotStyle) || u32(Voters)>).
func (c *VoterListChange) Encode() []byte {
	w := &idWriter{}
	c.encodeStatement(w)
	w.fixed(c.OfficialSig[:])
	w.u32(c.Added)
	w.u32(c.Removed)
	w.u32(c.Updated)
	w.u32(uint32(len(c.Counts)))
	for _, s := range c.Counts {
		w.str(s.BallotStyle)
		w.u32(s.Voters)
	}
	return w.encoded()
}

// Sign fills OfficialSig.
func (c *VoterListChange) Sign(official ed25519.PrivateKey) {
	copy(c.OfficialSig[:], ed25519.Sign(official, c.SigningBytes()))
}

// VerifySignature checks OfficialSig under OfficialKey (strict rules).
func (c *VoterListChange) VerifySignature() error {
	if err := sig.Verify(c.OfficialKey[:], c.SigningBytes(), c.OfficialSig[:]); err != nil {
		return fmt.Errorf("record: voter list change: %w", err)
	}
	return nil
}

// DecodeVoterListChange strictly decodes b: Sequence ≥ 1, a known Kind,
// counts sorted strictly by ballot style, at most MaxStyles of them.
func DecodeVoterListChange(b []byte) (*VoterListChange, error) {
	r := newIDReader(b)
	c := &VoterListChange{}
	c.ElectionID = r.id("election id")
	r.fixed(c.ContextHash[:], "context hash")
	c.Sequence = r.u64("sequence")
	c.Kind = r.u8("kind")
	c.OfficialID = r.id("official id")
	r.edKey(&c.OfficialKey, "official key")
	r.fixed(c.DetailsDigest[:], "details digest")
	c.ChangedAt = r.u64("changed at")
	r.fixed(c.OfficialSig[:], "official signature")
	c.Added = r.u32("added")
	c.Removed = r.u32("removed")
	c.Updated = r.u32("updated")
	n := r.count(MaxStyles, 4+1+4, "counts")
	for i := 0; i < n && !r.failed(); i++ {
		var s StyleCount
		s.BallotStyle = r.id("ballot style")
		s.Voters = r.u32("voters")
		if !r.failed() && i > 0 && c.Counts[i-1].BallotStyle >= s.BallotStyle {
			r.fail("counts not strictly sorted by ballot style")
		}
		c.Counts = append(c.Counts, s)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("record: voter list change: %w", err)
	}
	if c.Sequence == 0 || c.Kind < ListBuilt || c.Kind > ListContactUpdate {
		return nil, fmt.Errorf("record: voter list change: %w: sequence 0 or unknown kind %d", ErrMalformed, c.Kind)
	}
	return c, nil
}
