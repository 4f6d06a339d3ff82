// Package revote is the cryptographic core of deniable re-voting (spec
// chapter 15, issue 21): voter identifiers, the rows the filter reads, the
// trustees' tag blinding with its batched proof, the selection of the last
// ballot of each voter, the roll call's rules and the verifier of the whole
// filtering step.
//
// In an election with `coercion: deniable-revoting`, ballots carry no
// public pseudonym: each board row carries an encryption of its voter's
// identifier and of its depth (the ballot's rank among its voter's ballots,
// assigned by the ballot box), and the board is padded with dummy rows. Before
// the tally, the filter keeps exactly the deepest (last) row of every voter
// and drops the rest, publicly verifiably, without revealing which rows were
// superseded by which, or how many ballots any voter cast (§15.5).
//
// The package changes no existing format: it composes the existing
// shuffle (crypto/shuffle through tally.Mix), threshold decryption
// (crypto/threshold) and Chaum-Pedersen proofs (crypto/zkp).
package revote

import (
	"encoding/binary"
	"errors"

	"evote/crypto/group"
)

// Domain-separation tags of this package (spec §1.2, §15).
const (
	VoterIDTag     = "evote-v1/revote/voter-id"
	DummyIDTag     = "evote-v1/revote/dummy-id"
	BlindProtocol  = "evote-v1/revote/blind"
	BlindWeightTag = "evote-v1/revote/blind-weight"
	TagKeyContext  = "evote-v1/revote/tag-key"
	DepthContext   = "evote-v1/revote/depth"
	FlagContext    = "evote-v1/revote/flag"
	IDContext      = "evote-v1/revote/id-knowledge"
)

// Errors of the filter. Every rejection wraps one of them.
var (
	ErrMalformed       = errors.New("revote: malformed")
	ErrParams          = errors.New("revote: invalid parameters")
	ErrTagKey          = errors.New("revote: invalid tag key")
	ErrBlindProof      = errors.New("revote: blinding proof does not verify")
	ErrTooFewBlinders  = errors.New("revote: too few distinct trustees blinded the tags")
	ErrDuplicateTag    = errors.New("revote: two rows have the same current tag")
	ErrDroppedBallot   = errors.New("revote: a last ballot was dropped")
	ErrKeptSuperseded  = errors.New("revote: a superseded ballot was kept")
	ErrKeptCount       = errors.New("revote: kept count differs from the rows not superseded")
	ErrRollCall        = errors.New("revote: roll call refused")
	ErrDepth           = errors.New("revote: depth proof does not verify")
	ErrFlag            = errors.New("revote: flag proof does not verify")
	ErrFlags           = errors.New("revote: kept flags refused")
	ErrIDKnowledge     = errors.New("revote: proof of knowledge of the identifier's randomness does not verify")
	ErrDecryption      = errors.New("revote: decryption of tags refused")
	ErrMixes           = errors.New("revote: mix chain incomplete")
	ErrOutputMismatch  = errors.New("revote: filter output differs from the kept rows")
	ErrDummyGroupCount = errors.New("revote: number of dummy voters differs from the padding rule")
)

// VoterID is the identifier of the voter with the given pseudonym (spec
// §8.5.1) in an election (spec §15.2):
//
//	V = HashToElement(string("evote-v1/revote/voter-id") || string(election_id) || pseudonym[32])
//
// with the DST of §2.3. The voter's device recomputes it from the token's
// subject to check the encrypted identifier its credential carries.
func VoterID(electionID string, pseudonym [32]byte) *group.Element {
	msg := appendString(nil, VoterIDTag)
	msg = appendString(msg, electionID)
	msg = append(msg, pseudonym[:]...)
	return group.HashToElement(msg, []byte(group.HashToElementDST))
}

// DummyID is the identifier of dummy voter i ≥ 1 of a ballot style (spec
// §15.4; dummies, like slots and the filter, are per ballot style):
//
//	D_{s,i} = HashToElement(string("evote-v1/revote/dummy-id") || string(election_id)
//	                        || string(ballot_style) || u64(i))
func DummyID(electionID, style string, i uint64) *group.Element {
	msg := appendString(nil, DummyIDTag)
	msg = appendString(msg, electionID)
	msg = appendString(msg, style)
	msg = binary.BigEndian.AppendUint64(msg, i)
	return group.HashToElement(msg, []byte(group.HashToElementDST))
}

// DummyGroups is the padding rule (spec §15.4): with N rows on the board,
// R real voters (those with at least one row) and at most M rows per voter,
// the dummy rows belong to exactly G = ⌈(N − R)/M⌉ dummy voters. G depends
// only on N (fixed by the slot schedule) and R (the turnout, public
// anyway), so neither it nor the number of rows kept (R + G) reveals how
// many re-votes there were. The ballot box can always meet it while the
// re-votes X satisfy X ≤ (N − R) − G: the D = N − R − X dummy rows must fill
// G groups of 1..M rows, and G ≤ D ≤ M·G. It returns −1 for impossible
// arguments.
func DummyGroups(n, r, m int) int {
	if m < 1 || r < 0 || n < r {
		return -1
	}
	return (n - r + m - 1) / m
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
