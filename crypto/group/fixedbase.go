package group

import (
	"crypto/subtle"
	"sync"
)

// A FixedBase holds precomputed multiples of one element B so that s·B can be
// computed for secret s in constant time at about a third of the cost of a
// variable-base ScalarMult. It is meant for elements used many times: the
// generator g, the election public key, Pedersen generators.
//
// The table holds j·16^i·B for i = 0..63 and j = 1..8 in affine form
// (about 61 KiB); a multiplication is 64 constant-time table lookups and 64
// mixed additions, with the scalar in signed radix 16.
type FixedBase struct {
	base  Element
	table [64][8]nielsPoint
}

// NewFixedBase precomputes the table for b. It costs about 512 inversions.
func NewFixedBase(b *Element) *FixedBase {
	t := &FixedBase{}
	t.base.Set(b)
	var p, acc extPoint
	var c completedPoint
	var cached cachedPoint
	p.fromPoint(&b.p)
	for i := 0; i < 64; i++ {
		// acc runs through j·P for j = 1..8, where P = 16^i·B.
		acc = p
		cached.fromExt(&p)
		for j := 0; j < 8; j++ {
			if j > 0 {
				acc.fromCompleted(c.addCached(&acc, &cached))
			}
			t.table[i][j].fromExt(&acc)
		}
		// P ← 16·P.
		for k := 0; k < 4; k++ {
			p.fromCompleted(c.double(&p))
		}
	}
	return t
}

// Base returns a copy of the element the table was built for.
func (t *FixedBase) Base() *Element { return new(Element).Set(&t.base) }

var (
	generatorTableOnce sync.Once
	generatorTable     *FixedBase
)

// GeneratorTable returns the shared fixed-base table of the generator g.
func GeneratorTable() *FixedBase {
	generatorTableOnce.Do(func() { generatorTable = NewFixedBase(NewGeneratorElement()) })
	return generatorTable
}

// ScalarMultFixed sets e = s·B, where B is t's base, in constant time, and
// returns e.
func (e *Element) ScalarMultFixed(s *Scalar, t *FixedBase) *Element {
	digits := signedRadix16(s)
	var acc extPoint
	var c completedPoint
	var sel nielsPoint
	acc.setIdentity()
	for i := 0; i < 64; i++ {
		t.lookup(&sel, i, digits[i])
		acc.fromCompleted(c.addNiels(&acc, &sel))
	}
	acc.toPoint(e.w())
	return e
}

// lookup sets out = d·16^i·B for d in [-8, 8], in constant time.
func (t *FixedBase) lookup(out *nielsPoint, i int, d int8) {
	neg := int((uint8(d) >> 7) & 1)
	mask := d >> 7
	abs := uint8((d ^ mask) - mask)
	out.setIdentity()
	for j := 0; j < 8; j++ {
		cond := subtle.ConstantTimeByteEq(abs, uint8(j+1))
		out.YplusX.Select(&t.table[i][j].YplusX, &out.YplusX, cond)
		out.YminusX.Select(&t.table[i][j].YminusX, &out.YminusX, cond)
		out.T2d.Select(&t.table[i][j].T2d, &out.T2d, cond)
	}
	out.condNeg(neg)
}

// signedRadix16 writes s (< 2^253) as Σ d_i·16^i with d_i in [-8, 8], in
// constant time.
func signedRadix16(s *Scalar) [64]int8 {
	b := s.s.Bytes()
	var d [64]int8
	for i := 0; i < 32; i++ {
		d[2*i] = int8(b[i] & 15)
		d[2*i+1] = int8(b[i] >> 4)
	}
	for i := 0; i < 63; i++ {
		carry := (d[i] + 8) >> 4
		d[i] -= carry << 4
		d[i+1] += carry
	}
	return d
}
