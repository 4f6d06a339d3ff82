package tally

import (
	"fmt"

	"evote/internal/wire"
)

// A ContestResult is the outcome of one contest (spec §9.7). For a
// single-choice contest Counts[0] is the blank votes and Counts[i] the
// votes for the i-th candidate; for a multi-select contest Counts[i-1] is
// the selections of the i-th candidate. A contest with fewer counted ballots
// than the manifest's minimum anonymity is Withheld: nothing of it is
// decrypted, and Counts is empty.
type ContestResult struct {
	ContestID string
	Ballots   uint64
	Withheld  bool
	Counts    []uint64
}

// A Result is the payload of the result entry.
type Result struct {
	ElectionID string
	Contests   []ContestResult
}

const resultFormat = 1

// Encode returns u8(1) || string(election id) || list<ContestResult>, with
// ContestResult = string(id) || u64(ballots) || u8(withheld) || list<u64>(counts).
func (r *Result) Encode() []byte {
	w := wire.NewWriter(256)
	w.U8(resultFormat)
	w.String(r.ElectionID)
	w.U32(uint32(len(r.Contests)))
	for _, c := range r.Contests {
		w.String(c.ContestID)
		w.U64(c.Ballots)
		if c.Withheld {
			w.U8(1)
		} else {
			w.U8(0)
		}
		w.U32(uint32(len(c.Counts)))
		for _, n := range c.Counts {
			w.U64(n)
		}
	}
	return w.Bytes()
}

// DecodeResult parses a canonical result.
func DecodeResult(b []byte) (*Result, error) {
	r := wire.NewReader(b)
	if v := r.U8("format"); r.Err() == nil && v != resultFormat {
		return nil, fmt.Errorf("%w: result format %d", ErrMalformed, v)
	}
	res := &Result{ElectionID: r.String(64, "election id")}
	n := r.Count(1024, 17, "contests")
	for i := 0; i < n; i++ {
		c := ContestResult{ContestID: r.String(64, "contest id"), Ballots: r.U64("ballots")}
		switch r.U8("withheld") {
		case 0:
		case 1:
			c.Withheld = true
		default:
			r.Fail("withheld flag not 0 or 1")
		}
		k := r.Count(65, 8, "counts")
		for j := 0; j < k; j++ {
			c.Counts = append(c.Counts, r.U64("count"))
		}
		if c.Withheld && len(c.Counts) != 0 {
			r.Fail("withheld contest %s has counts", c.ContestID)
		}
		res.Contests = append(res.Contests, c)
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return res, nil
}

// Equal reports whether two results are the same.
func (r *Result) Equal(o *Result) bool {
	if r.ElectionID != o.ElectionID || len(r.Contests) != len(o.Contests) {
		return false
	}
	for i, c := range r.Contests {
		d := o.Contests[i]
		if c.ContestID != d.ContestID || c.Ballots != d.Ballots || c.Withheld != d.Withheld || len(c.Counts) != len(d.Counts) {
			return false
		}
		for j := range c.Counts {
			if c.Counts[j] != d.Counts[j] {
				return false
			}
		}
	}
	return true
}

// CountChoices counts decrypted single-choice values m ∈ [0, k]: counts[m]
// is the number of ballots with value m. A value above k means a ballot
// with an invalid proof was counted or a decryption went wrong: an error.
func CountChoices(values []uint64, k int) ([]uint64, error) {
	counts := make([]uint64, k+1)
	for i, v := range values {
		if v > uint64(k) {
			return nil, fmt.Errorf("tally: decrypted value %d at position %d outside [0, %d]", v, i, k)
		}
		counts[v]++
	}
	return counts, nil
}
