package group

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"filippo.io/edwards25519/field"
)

// mixedElements returns n random elements alternating between the two
// representations the bucket method normalises differently: decoded (Z = 1)
// and computed (Z ≠ 1), in runs of varying length. It fails the test unless
// both occur, so that a change in either source cannot hollow out the tests
// that use it.
func mixedElements(t *testing.T, r *rand.Rand, n int) []*Element {
	t.Helper()
	_, es := randomTerms(r, n, true)
	decoded, computed := 0, 0
	for i := range es {
		if (i/(1+i%3))%2 == 0 {
			es[i] = mustDecode(t, es[i].Bytes())
		}
		if hasUnitZ(es[i]) {
			decoded++
		} else {
			computed++
		}
	}
	if n >= 4 && (decoded == 0 || computed == 0) {
		t.Fatalf("want elements with Z = 1 and Z ≠ 1, got %d and %d", decoded, computed)
	}
	return es
}

func mustDecode(t *testing.T, b []byte) *Element {
	t.Helper()
	e, err := new(Element).SetCanonicalBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func hasUnitZ(e *Element) bool {
	_, _, Z, _ := e.p.ExtendedCoordinates()
	return Z.Equal(feOne) == 1
}

// TestAffineNiels checks the batch normalisation against a separate
// inversion per point, on decoded and computed elements and on both
// representations of the identity.
func TestAffineNiels(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 3, 17} {
		es := mixedElements(t, r, n)
		if n > 2 {
			es[0] = NewIdentityElement()
			es[1] = new(Element).Subtract(es[2], es[2])
			if hasUnitZ(es[1]) {
				t.Fatal("computed identity has Z = 1; the test wants Z ≠ 1")
			}
		}
		got := make([]nielsPoint, n)
		affineNiels(got, es)
		for i, e := range es {
			var p extPoint
			var want nielsPoint
			want.fromExt(p.fromPoint(&e.p))
			if got[i].YplusX.Equal(&want.YplusX) != 1 || got[i].YminusX.Equal(&want.YminusX) != 1 || got[i].T2d.Equal(&want.T2d) != 1 {
				t.Errorf("n=%d: element %d (Z = 1: %v) normalised wrongly", n, i, hasUnitZ(e))
			}
		}
	}
}

// TestAffineNielsZeroZPanics: (0:0:0:0) satisfies the curve equations that
// SetExtendedCoordinates checks, but has no affine form; normalising it must
// panic rather than silently yield a wrong sum.
func TestAffineNielsZeroZPanics(t *testing.T) {
	var zero field.Element
	bad := new(Element)
	if _, err := bad.p.SetExtendedCoordinates(&zero, &zero, &zero, &zero); err != nil {
		t.Skip("edwards25519 rejects (0:0:0:0) itself")
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic on Z = 0")
		}
	}()
	affineNiels(make([]nielsPoint, 3), []*Element{NewGeneratorElement(), bad, new(Element).Add(NewGeneratorElement(), NewGeneratorElement())})
}

// TestNielsHelpers checks the mixed subtraction and the conversion of an
// affine point back to extended coordinates.
func TestNielsHelpers(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	_, es := randomTerms(r, 2, false)
	var p, q extPoint
	var qn nielsPoint
	var c completedPoint
	p.fromPoint(&es[0].p)
	qn.fromExt(q.fromPoint(&es[1].p))
	check := func(name string, got *extPoint, want *Element) {
		t.Helper()
		var e Element
		got.toPoint(e.w())
		if e.Equal(want) != 1 {
			t.Errorf("%s is wrong", name)
		}
	}
	var got extPoint
	check("fromNiels(q)", got.fromNiels(&qn, false), es[1])
	check("fromNiels(-q)", got.fromNiels(&qn, true), new(Element).Negate(es[1]))
	check("p + q", got.fromCompleted(c.addNiels(&p, &qn)), new(Element).Add(es[0], es[1]))
	check("p - q", got.fromCompleted(c.subNiels(&p, &qn)), new(Element).Subtract(es[0], es[1]))
}

// scalarOfInt returns the scalar x, which must be below ℓ.
func scalarOfInt(t *testing.T, x *big.Int) *Scalar {
	t.Helper()
	be := x.FillBytes(make([]byte, 32))
	le := make([]byte, 32)
	for i := range be {
		le[i] = be[31-i]
	}
	s, err := new(Scalar).SetCanonicalBytes(le)
	if err != nil {
		t.Fatalf("scalar %x: %v", x, err)
	}
	return s
}

// TestPippengerWindowCarries runs the bucket method at every window width on
// scalars whose length is, or is next to, a multiple of the width, including
// all-ones scalars whose every signed digit carries: the top window must
// absorb the last carry, or a window of carries alone must follow.
func TestPippengerWindowCarries(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	es := mixedElements(t, r, 6)
	ell, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	for c := 4; c <= 12; c++ {
		lengths := map[int]bool{1: true, c - 1: true, c: true, c + 1: true, 2 * c: true, 127: true, 128: true, 129: true, 252: true}
		for _, k := range []int{128 / c, 252 / c} {
			lengths[k*c] = true
		}
		for L := range lengths {
			ones := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(L)), big.NewInt(1))
			top := new(big.Int).Lsh(big.NewInt(1), uint(L-1))
			ss := make([]*Scalar, len(es))
			for i := range ss {
				switch i % 3 {
				case 0:
					ss[i] = scalarOfInt(t, ones)
				case 1:
					ss[i] = scalarOfInt(t, top)
				default:
					ss[i] = scalarOfInt(t, new(big.Int).Add(top, randBelow(r, top)))
				}
			}
			checkPippenger(t, fmt.Sprintf("c=%d bits=%d", c, L), ss, es, c)
		}
		// Full-length scalars: ℓ-1 (253 bits) and 2^252 + small.
		ss := []*Scalar{
			scalarOfInt(t, new(big.Int).Sub(ell, big.NewInt(1))),
			scalarOfInt(t, new(big.Int).Sub(ell, big.NewInt(2))),
			new(Scalar).SetInt64(-1),
			scalarOfInt(t, new(big.Int).Lsh(big.NewInt(1), 252)),
			NewScalar(),
			new(Scalar).SetUint64(1),
		}
		checkPippenger(t, fmt.Sprintf("c=%d near ℓ", c), ss, es, c)
	}
}

// randBelow returns a random integer in [0, m).
func randBelow(r *rand.Rand, m *big.Int) *big.Int {
	b := make([]byte, 40)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return new(big.Int).Mod(new(big.Int).SetBytes(b), m)
}

func checkPippenger(t *testing.T, name string, ss []*Scalar, es []*Element, c int) {
	t.Helper()
	limbs, maxBits := scalarLimbs(ss)
	got := new(Element).pippengerWindow(limbs, maxBits, es, c)
	if want := naiveSum(ss, es); got.Equal(want) != 1 {
		t.Errorf("%s: bucket method differs from naive sum", name)
	}
}

// TestMSMMixedRepresentations checks VarTimeMultiScalarMult on inputs mixing
// decoded and computed elements, with P and -P (cancelling and not),
// repeated points and both representations of the identity.
func TestMSMMixedRepresentations(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{msmPippengerMinShort, msmPippengerMin, 700} {
		for _, short := range []bool{true, false} {
			ss, _ := randomTerms(r, n, short)
			es := mixedElements(t, r, n)
			es[0] = new(Element).Negate(es[1]) // -P, same scalar: cancels
			ss[0] = ss[1]
			es[2] = new(Element).Negate(es[3]) // -P, other scalar
			es[4] = mustDecode(t, es[3].Bytes())
			es[5] = NewIdentityElement()
			es[6] = new(Element).Subtract(es[7], es[7])
			es[8] = es[9]
			ss[10] = new(Scalar).SetInt64(-1)
			got := new(Element).VarTimeMultiScalarMult(ss, es)
			if want := naiveSum(ss, es); got.Equal(want) != 1 {
				t.Errorf("n=%d short=%v: MSM differs from naive sum", n, short)
			}
		}
	}
}
