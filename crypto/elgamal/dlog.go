package elgamal

import (
	"errors"

	"evote/crypto/group"
)

// ErrOutOfRange is returned when a decrypted g^m has no m in the table's
// range.
var ErrOutOfRange = errors.New("elgamal: plaintext outside the discrete-logarithm table's range")

// A DLogTable recovers m from g^m for 0 ≤ m ≤ Max by baby-step giant-step:
// it stores the encodings of g^j for j < step and walks giant steps of
// g^-step. Lookups are variable time; m is a public tally, never a secret.
type DLogTable struct {
	max   uint64
	step  uint64
	baby  map[[32]byte]uint64
	giant group.Element
}

// NewDLogTable prepares a table for messages up to max. Memory is about
// 50·√max bytes.
func NewDLogTable(max uint64) *DLogTable {
	step := uint64(1)
	for step*step < max+1 {
		step++
	}
	t := &DLogTable{max: max, step: step, baby: make(map[[32]byte]uint64, step)}
	acc := group.NewIdentityElement()
	g := group.NewGeneratorElement()
	for j := uint64(0); j < step; j++ {
		t.baby[[32]byte(acc.Bytes())] = j
		acc.Add(acc, g)
	}
	// acc = g^step; the giant step subtracts it.
	t.giant.Negate(acc)
	return t
}

// Max returns the largest message the table recovers.
func (t *DLogTable) Max() uint64 { return t.max }

// Lookup returns m such that e = g^m and 0 ≤ m ≤ Max.
func (t *DLogTable) Lookup(e *group.Element) (uint64, error) {
	cur := new(group.Element).Set(e)
	for i := uint64(0); i*t.step <= t.max; i++ {
		if j, ok := t.baby[[32]byte(cur.Bytes())]; ok {
			m := i*t.step + j
			if m > t.max {
				return 0, ErrOutOfRange
			}
			return m, nil
		}
		cur.Add(cur, &t.giant)
	}
	return 0, ErrOutOfRange
}
