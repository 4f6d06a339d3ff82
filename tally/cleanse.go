// Package tally holds the pure functions of the tally (spec/09-election.md
// §9.6–9.7 and chapter 6): ballot-box cleansing, the mix chain, and the
// result. The trustees' tools, the server and the auditor's verifier all
// call them, so the cleansing and the counts that anyone recomputes are the
// ones the election published.
package tally

import (
	"bytes"
	"cmp"
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
	if !ascending(ballots) {
		seen := make(map[uint64]bool, len(ballots))
		for _, b := range ballots {
			if seen[b.Position] {
				return nil, fmt.Errorf("tally: ballot position %d listed twice", b.Position)
			}
			seen[b.Position] = true
		}
	}
	// Sorted by pseudonym then position, each voter's ballots are a run
	// whose last one counts: no map of a million pseudonyms (spec §11.7).
	out := &Cleansing{}
	kept := make([]CastBallot, 0, len(ballots))
	for _, b := range ballots {
		if votedInPerson[b.Pseudonym] {
			out.Cancelled = append(out.Cancelled, b.Position)
			continue
		}
		kept = append(kept, b)
	}
	slices.SortFunc(kept, func(a, b CastBallot) int {
		if c := bytes.Compare(a.Pseudonym[:], b.Pseudonym[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Position, b.Position)
	})
	for i, b := range kept {
		if i+1 == len(kept) || kept[i+1].Pseudonym != b.Pseudonym {
			out.Counted = append(out.Counted, b.Position)
		}
	}
	slices.Sort(out.Counted)
	slices.Sort(out.Cancelled)
	return out, nil
}

// ascending reports whether the ballots' positions are strictly ascending
// (as a board lists them), so that none is listed twice.
func ascending(ballots []CastBallot) bool {
	for i := 1; i < len(ballots); i++ {
		if ballots[i].Position <= ballots[i-1].Position {
			return false
		}
	}
	return true
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
	// Both lists ascend: a merge finds a position in both.
	for i, j := 0, 0; i < len(c.Counted) && j < len(c.Cancelled); {
		switch a, b := c.Counted[i], c.Cancelled[j]; {
		case a < b:
			i++
		case a > b:
			j++
		default:
			return nil, fmt.Errorf("%w: position %d both counted and cancelled", ErrMalformed, b)
		}
	}
	return c, nil
}

// Equal reports whether two cleansings list the same positions.
func (c *Cleansing) Equal(o *Cleansing) bool {
	return slices.Equal(c.Counted, o.Counted) && slices.Equal(c.Cancelled, o.Cancelled)
}
