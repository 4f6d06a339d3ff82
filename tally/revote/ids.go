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
)

// Domain-separation tags of this package (spec §1.2, §15).
const (
	BlindProtocol  = "evote-v1/revote/blind"
	BlindWeightTag = "evote-v1/revote/blind-weight"
	TagKeyContext  = "evote-v1/revote/tag-key"
)

// Errors of the filter. Every rejection wraps one of them.
var (
	ErrTagKey          = errors.New("revote: invalid tag key")
	ErrBlindProof      = errors.New("revote: blinding proof does not verify")
	ErrTooFewBlinders  = errors.New("revote: too few distinct trustees blinded the tags")
	ErrDuplicateTag    = errors.New("revote: two rows have the same current tag")
	ErrDroppedBallot   = errors.New("revote: a last ballot was dropped")
	ErrKeptSuperseded  = errors.New("revote: a superseded ballot was kept")
	ErrKeptCount       = errors.New("revote: kept count differs from the rows not superseded")
	ErrRollCall        = errors.New("revote: roll call refused")
	ErrDepth           = errors.New("revote: depth proof does not verify")
	ErrFlags           = errors.New("revote: kept flags refused")
	ErrDecryption      = errors.New("revote: decryption of tags refused")
	ErrMixes           = errors.New("revote: mix chain incomplete")
	ErrOutputMismatch  = errors.New("revote: filter output differs from the kept rows")
	ErrDummyGroupCount = errors.New("revote: number of dummy voters differs from the padding rule")
)

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
