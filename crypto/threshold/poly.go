package threshold

import (
	"fmt"

	"evote/crypto/group"
)

// evalPoly returns Σ_k coeffs[k]·x^k by Horner's rule. Scalar arithmetic is
// constant time, so secret coefficients are safe here.
func evalPoly(coeffs []group.Scalar, x int) *group.Scalar {
	xs := new(group.Scalar).SetUint64(uint64(x))
	acc := group.NewScalar()
	for k := len(coeffs) - 1; k >= 0; k-- {
		acc.MultiplyAdd(acc, xs, &coeffs[k])
	}
	return acc
}

// powers returns 1, j, j², …, j^{t-1} as scalars (public exponents).
func powers(j, t int) []*group.Scalar {
	out := make([]*group.Scalar, t)
	js := new(group.Scalar).SetUint64(uint64(j))
	out[0] = new(group.Scalar).SetUint64(1)
	for k := 1; k < t; k++ {
		out[k] = new(group.Scalar).Multiply(out[k-1], js)
	}
	return out
}

// evalCommitments returns Π_k C_k^{j^k}, the commitment to the share of
// trustee j (public values, variable time).
func evalCommitments(cs []*group.Element, j int) *group.Element {
	return new(group.Element).VarTimeMultiScalarMult(powers(j, len(cs)), cs)
}

// pedersenCommit returns g^s·H^{s'} in constant time.
func pedersenCommit(s, s2 *group.Scalar) *group.Element {
	_, ht := pedersen()
	var a, b group.Element
	a.ScalarMultFixed(s, group.GeneratorTable())
	b.ScalarMultFixed(s2, ht)
	return a.Add(&a, &b)
}

// checkPedersenShare reports whether (s, s') is trustee j's share under
// the Pedersen commitments cs: g^s·H^{s'} = Π_k C_k^{j^k}.
func checkPedersenShare(cs []*group.Element, j int, s, s2 *group.Scalar) bool {
	return pedersenCommit(s, s2).Equal(evalCommitments(cs, j)) == 1
}

// checkFeldmanShare reports whether g^s = Π_k A_k^{j^k}.
func checkFeldmanShare(as []*group.Element, j int, s *group.Scalar) bool {
	lhs := new(group.Element).ScalarMultFixed(s, group.GeneratorTable())
	return lhs.Equal(evalCommitments(as, j)) == 1
}

// LagrangeAtZero returns the Lagrange coefficients λ_j at 0 for the distinct
// trustee indices in idx: λ_j = Π_{m≠j} m / (m − j). It rejects an empty
// list, repeated indices and indices outside 1..MaxTrustees.
func LagrangeAtZero(idx []int) ([]*group.Scalar, error) {
	if len(idx) == 0 {
		return nil, fmt.Errorf("%w: no indices", ErrParams)
	}
	seen := make(map[int]bool, len(idx))
	for _, j := range idx {
		if j < 1 || j > MaxTrustees || seen[j] {
			return nil, fmt.Errorf("%w: index %d repeated or out of range", ErrParams, j)
		}
		seen[j] = true
	}
	out := make([]*group.Scalar, len(idx))
	for a, j := range idx {
		num := new(group.Scalar).SetUint64(1)
		den := new(group.Scalar).SetUint64(1)
		for _, m := range idx {
			if m == j {
				continue
			}
			num.Multiply(num, new(group.Scalar).SetUint64(uint64(m)))
			den.Multiply(den, new(group.Scalar).SetInt64(int64(m-j)))
		}
		out[a] = num.Multiply(num, den.Invert(den))
	}
	return out, nil
}

// interpolate returns the coefficients of the unique polynomial of degree
// < len(xs) through the points (xs[i], ys[i]). The xs must be distinct
// valid indices (callers check).
func interpolate(xs []int, ys []*group.Scalar) []group.Scalar {
	t := len(xs)
	out := make([]group.Scalar, t)
	for i, xi := range xs {
		// basis = Π_{m≠i} (z − x_m) / (x_i − x_m), built coefficient by
		// coefficient.
		basis := make([]group.Scalar, 1, t)
		basis[0].SetUint64(1)
		den := new(group.Scalar).SetUint64(1)
		for m, xm := range xs {
			if m == i {
				continue
			}
			negXm := new(group.Scalar).SetInt64(-int64(xm))
			next := make([]group.Scalar, len(basis)+1)
			for k := range basis {
				// (z − x_m)·basis: shift up and subtract x_m·basis.
				next[k+1].Add(&next[k+1], &basis[k])
				next[k].MultiplyAdd(negXm, &basis[k], &next[k])
			}
			basis = next
			den.Multiply(den, new(group.Scalar).SetInt64(int64(xi-xm)))
		}
		f := new(group.Scalar).Multiply(ys[i], den.Invert(den))
		for k := range basis {
			out[k].MultiplyAdd(f, &basis[k], &out[k])
		}
	}
	return out
}
