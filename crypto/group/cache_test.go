package group

import (
	"bytes"
	"testing"
)

// encodeFresh encodes x's point, ignoring any cached encoding.
func encodeFresh(x *Element) []byte {
	var y Element
	y.p.Set(&x.p)
	return y.AppendBytes(nil)
}

// TestEncodingCacheInvalidated: every operation that writes an element
// decoded from bytes (which caches its encoding) must drop the cache.
func TestEncodingCacheInvalidated(t *testing.T) {
	a := new(Element).ScalarBaseMult(RandomScalar())
	b := new(Element).ScalarBaseMult(RandomScalar())
	s := RandomScalar()
	table := NewFixedBase(b)
	ops := map[string]func(e *Element){
		"Add":                         func(e *Element) { e.Add(e, b) },
		"Subtract":                    func(e *Element) { e.Subtract(e, b) },
		"Negate":                      func(e *Element) { e.Negate(e) },
		"ScalarMult":                  func(e *Element) { e.ScalarMult(s, e) },
		"ScalarBaseMult":              func(e *Element) { e.ScalarBaseMult(s) },
		"ScalarMultFixed":             func(e *Element) { e.ScalarMultFixed(s, table) },
		"VarTimeDoubleScalarBaseMult": func(e *Element) { e.VarTimeDoubleScalarBaseMult(s, b, s) },
		"VarTimeMultiScalarMult":      func(e *Element) { e.VarTimeMultiScalarMult([]*Scalar{s}, []*Element{b}) },
		"VarTimeMultiScalarMult-big": func(e *Element) {
			ss, es := make([]*Scalar, 300), make([]*Element, 300)
			for i := range ss {
				ss[i], es[i] = s, b
			}
			e.VarTimeMultiScalarMult(ss, es)
		},
		"MultiScalarMult":   func(e *Element) { e.MultiScalarMult([]*Scalar{s}, []*Element{b}) },
		"Set":               func(e *Element) { e.Set(b) },
		"SetUniformBytes":   func(e *Element) { e.SetUniformBytes(bytes.Repeat([]byte{7}, 64)) },
		"SetCanonicalBytes": func(e *Element) { e.SetCanonicalBytes(b.Bytes()) },
	}
	for name, op := range ops {
		e, err := new(Element).SetCanonicalBytes(a.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		op(e)
		if got, want := e.Bytes(), encodeFresh(e); !bytes.Equal(got, want) {
			t.Errorf("%s: stale cached encoding", name)
		}
	}
	// Set copies the cache with the point.
	d, _ := new(Element).SetCanonicalBytes(a.Bytes())
	c := new(Element).Set(d)
	if !bytes.Equal(c.Bytes(), encodeFresh(a)) {
		t.Error("Set copied a wrong encoding")
	}
}
