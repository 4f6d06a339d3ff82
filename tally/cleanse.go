// Package tally holds the pure functions of the tally (spec/09-election.md
// §9.6–9.7 and chapter 6): ballot-box cleansing, the mix chain, and the
// result. The trustees' tools, the server and the auditor's verifier all
// call them, so the cleansing and the counts that anyone recomputes are the
// ones the election published.
package tally

import (
	"errors"
	"fmt"
	"slices"

	"evote/internal/wire"
)

// ErrMalformed is wrapped by decoding errors of this package.
var ErrMalformed = errors.New("tally: malformed")

// A CastBallot is a valid ballot entry on the board (spec §9.5), with the
// pseudonym its credential was issued to.
type CastBallot struct {
	Position  uint64   // index of the ballot's entry in the log
	Pseudonym [32]byte // from the credential-issued entry of its credential key
}

// Cleansing is the result of ballot-box cleansing (spec §9.6): the board
// positions of the ballots that count, and of the ballots cancelled by an
// in-person vote, both ascending. Ballots superseded by a later ballot of
// the same voter are in neither list.
type Cleansing struct {
	Counted   []uint64
	Cancelled []uint64
}

// Cleanse computes the cleansing: for each pseudonym the ballot at the
// highest position counts, unless the pseudonym voted in person, in which
// case all its ballots are cancelled. ballots may be in any order; each
// position must be unique.
func Cleanse(ballots []CastBallot, votedInPerson map[[32]byte]bool) (*Cleansing, error) {
	last := map[[32]byte]uint64{}
	seen := map[uint64]bool{}
	out := &Cleansing{}
	for _, b := range ballots {
		if seen[b.Position] {
			return nil, fmt.Errorf("tally: ballot position %d listed twice", b.Position)
		}
		seen[b.Position] = true
		if votedInPerson[b.Pseudonym] {
			out.Cancelled = append(out.Cancelled, b.Position)
			continue
		}
		if p, ok := last[b.Pseudonym]; !ok || b.Position > p {
			last[b.Pseudonym] = b.Position
		}
	}
	for _, p := range last {
		out.Counted = append(out.Counted, p)
	}
	slices.Sort(out.Counted)
	slices.Sort(out.Cancelled)
	return out, nil
}

const cleansingFormat = 1

// maxListLen bounds decoded position lists (far above any election).
const maxListLen = 1 << 26

// Encode returns the canonical encoding (spec §9.6).
func (c *Cleansing) Encode() []byte {
	w := wire.NewWriter(9 + 8*(len(c.Counted)+len(c.Cancelled)))
	w.U8(cleansingFormat)
	w.U32(uint32(len(c.Counted)))
	for _, p := range c.Counted {
		w.U64(p)
	}
	w.U32(uint32(len(c.Cancelled)))
	for _, p := range c.Cancelled {
		w.U64(p)
	}
	return w.Bytes()
}

// DecodeCleansing parses a canonical cleansing result; lists must be
// strictly ascending and disjoint.
func DecodeCleansing(b []byte) (*Cleansing, error) {
	r := wire.NewReader(b)
	if v := r.U8("format"); r.Err() == nil && v != cleansingFormat {
		return nil, fmt.Errorf("%w: cleansing format %d", ErrMalformed, v)
	}
	c := &Cleansing{}
	n := r.Count(maxListLen, 8, "counted")
	for i := 0; i < n; i++ {
		c.Counted = append(c.Counted, r.U64("counted position"))
	}
	n = r.Count(maxListLen, 8, "cancelled")
	for i := 0; i < n; i++ {
		c.Cancelled = append(c.Cancelled, r.U64("cancelled position"))
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for _, l := range [][]uint64{c.Counted, c.Cancelled} {
		for i := 1; i < len(l); i++ {
			if l[i] <= l[i-1] {
				return nil, fmt.Errorf("%w: positions not strictly ascending", ErrMalformed)
			}
		}
	}
	in := map[uint64]bool{}
	for _, p := range c.Counted {
		in[p] = true
	}
	for _, p := range c.Cancelled {
		if in[p] {
			return nil, fmt.Errorf("%w: position %d both counted and cancelled", ErrMalformed, p)
		}
	}
	return c, nil
}

// Equal reports whether two cleansings list the same positions.
func (c *Cleansing) Equal(o *Cleansing) bool {
	return slices.Equal(c.Counted, o.Counted) && slices.Equal(c.Cancelled, o.Cancelled)
}
