package group

import "filippo.io/edwards25519"

// MultiScalarMult sets e = Σ scalars[i]·elements[i] in constant time and
// returns e: its running time depends only on the number of terms. It is
// meant for provers whose scalars are secret and whose bases are each used
// once (a shuffle proof's Π h_i^{ω_i}); the doublings are shared, so a term
// costs about a third of a ScalarMult. It panics if the slices' lengths
// differ.
func (e *Element) MultiScalarMult(scalars []*Scalar, elements []*Element) *Element {
	if len(scalars) != len(elements) {
		panic("group: MultiScalarMult with mismatched lengths")
	}
	ss := make([]*edwards25519.Scalar, len(scalars))
	ps := make([]*edwards25519.Point, len(elements))
	for i := range scalars {
		ss[i] = &scalars[i].s
		ps[i] = &elements[i].p
	}
	e.w().MultiScalarMult(ss, ps)
	return e
}
