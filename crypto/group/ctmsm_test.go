package group

import "testing"

// TestMultiScalarMult checks the constant-time MSM against separate
// multiplications and against the variable-time MSM.
func TestMultiScalarMult(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 64} {
		ss := make([]*Scalar, n)
		es := make([]*Element, n)
		want := NewIdentityElement()
		for i := range ss {
			ss[i] = RandomScalar()
			es[i] = new(Element).ScalarBaseMult(RandomScalar())
			want.Add(want, new(Element).ScalarMult(ss[i], es[i]))
		}
		got := new(Element).MultiScalarMult(ss, es)
		if got.Equal(want) != 1 {
			t.Errorf("n=%d: MultiScalarMult disagrees with ScalarMult sum", n)
		}
		if vt := new(Element).VarTimeMultiScalarMult(ss, es); vt.Equal(got) != 1 {
			t.Errorf("n=%d: MultiScalarMult disagrees with VarTimeMultiScalarMult", n)
		}
	}
}

// BenchmarkMultiScalarMult reports the cost per term of the constant-time
// MSM ("ns/pt").
func BenchmarkMultiScalarMult(b *testing.B) {
	const n = 256
	ss := make([]*Scalar, n)
	es := make([]*Element, n)
	for i := range ss {
		ss[i] = RandomScalar()
		es[i] = new(Element).ScalarBaseMult(RandomScalar())
	}
	e := new(Element)
	for b.Loop() {
		e.MultiScalarMult(ss, es)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/pt")
}
