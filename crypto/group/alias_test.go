package group

import (
	"bytes"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
)

// The doc comments of Element and Scalar promise that a method's receiver
// may alias its arguments. These property tests check each method against
// the same call on fresh copies, in the style of edwards25519's
// scalar_alias_test.go.

var quickConfig = &quick.Config{MaxCount: 64}

// Generate returns a random scalar; one in eight is zero or one, so that
// the edge cases are met.
func (Scalar) Generate(r *rand.Rand, _ int) reflect.Value {
	var s Scalar
	switch r.Intn(8) {
	case 0:
	case 1:
		s.SetUint64(1)
	default:
		var b [64]byte
		r.Read(b[:])
		if _, err := s.SetUniformBytes(b[:]); err != nil {
			panic(err)
		}
	}
	return reflect.ValueOf(s)
}

// Generate returns a random element, computed (no cached encoding) or
// decoded (with one), and now and then the identity.
func (Element) Generate(r *rand.Rand, size int) reflect.Value {
	s := Scalar{}.Generate(r, size).Interface().(Scalar)
	e := new(Element).ScalarBaseMult(&s)
	if r.Intn(2) == 0 {
		if _, err := e.SetCanonicalBytes(e.Bytes()); err != nil {
			panic(err)
		}
	}
	return reflect.ValueOf(*e)
}

// sameElement reports whether a and b are the same element with the same
// encoding (so a stale cached encoding would show).
func sameElement(a, b *Element) bool {
	return a.Equal(b) == 1 && bytes.Equal(a.Bytes(), b.Bytes()) &&
		bytes.Equal(a.Bytes(), new(Element).Add(a, NewIdentityElement()).Bytes())
}

func TestElementAliasing(t *testing.T) {
	unary := map[string]func(v, x *Element) *Element{
		"Set":        (*Element).Set,
		"Negate":     (*Element).Negate,
		"ScalarMult": func(v, x *Element) *Element { return v.ScalarMult(new(Scalar).SetUint64(7), x) },
		"VarTimeDoubleScalarBaseMult": func(v, x *Element) *Element {
			return v.VarTimeDoubleScalarBaseMult(new(Scalar).SetUint64(5), x, new(Scalar).SetUint64(3))
		},
		"MultiScalarMult": func(v, x *Element) *Element {
			return v.MultiScalarMult([]*Scalar{new(Scalar).SetUint64(3)}, []*Element{x})
		},
		"VarTimeMultiScalarMult": func(v, x *Element) *Element {
			return v.VarTimeMultiScalarMult([]*Scalar{new(Scalar).SetUint64(3)}, []*Element{x})
		},
	}
	for name, f := range unary {
		t.Run(name, func(t *testing.T) {
			check := func(x Element) bool {
				x1, want := x, new(Element)
				f(want, &x1)
				if !sameElement(&x1, &x) {
					return false // the argument was modified
				}
				return sameElement(f(&x1, &x1), want)
			}
			if err := quick.Check(check, quickConfig); err != nil {
				t.Error(err)
			}
		})
	}
	binary := map[string]func(v, x, y *Element) *Element{
		"Add":      (*Element).Add,
		"Subtract": (*Element).Subtract,
	}
	for name, f := range binary {
		t.Run(name, func(t *testing.T) {
			check := func(x, y Element) bool {
				want := f(new(Element), &x, &y)
				x1, y1 := x, y
				if !sameElement(f(&x1, &x1, &y1), want) { // v = x
					return false
				}
				x1, y1 = x, y
				if !sameElement(f(&y1, &x1, &y1), want) { // v = y
					return false
				}
				x1 = x
				return sameElement(f(&x1, &x1, &x1), f(new(Element), &x, &x)) // v = x = y
			}
			if err := quick.Check(check, quickConfig); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestScalarAliasing(t *testing.T) {
	unary := map[string]func(v, x *Scalar) *Scalar{
		"Set":    (*Scalar).Set,
		"Negate": (*Scalar).Negate,
		"Invert": (*Scalar).Invert,
	}
	for name, f := range unary {
		t.Run(name, func(t *testing.T) {
			check := func(x Scalar) bool {
				x1 := x
				want := f(new(Scalar), &x1)
				return x1 == x && f(&x1, &x1).Equal(want) == 1
			}
			if err := quick.Check(check, quickConfig); err != nil {
				t.Error(err)
			}
		})
	}
	binary := map[string]func(v, x, y *Scalar) *Scalar{
		"Add":       (*Scalar).Add,
		"Subtract":  (*Scalar).Subtract,
		"Multiply":  (*Scalar).Multiply,
		"Select(1)": func(v, x, y *Scalar) *Scalar { return v.Select(x, y, 1) },
		"Select(0)": func(v, x, y *Scalar) *Scalar { return v.Select(x, y, 0) },
	}
	for name, f := range binary {
		t.Run(name, func(t *testing.T) {
			check := func(x, y Scalar) bool {
				want := f(new(Scalar), &x, &y)
				x1, y1 := x, y
				if f(&x1, &x1, &y1).Equal(want) != 1 || y1 != y {
					return false
				}
				x1, y1 = x, y
				if f(&y1, &x1, &y1).Equal(want) != 1 || x1 != x {
					return false
				}
				x1 = x
				return f(&x1, &x1, &x1).Equal(f(new(Scalar), &x, &x)) == 1
			}
			if err := quick.Check(check, quickConfig); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("MultiplyAdd", func(t *testing.T) {
		check := func(x, y, z Scalar) bool {
			want := new(Scalar).MultiplyAdd(&x, &y, &z)
			for _, alias := range []func(x, y, z *Scalar) *Scalar{
				func(x, y, z *Scalar) *Scalar { return x.MultiplyAdd(x, y, z) },
				func(x, y, z *Scalar) *Scalar { return y.MultiplyAdd(x, y, z) },
				func(x, y, z *Scalar) *Scalar { return z.MultiplyAdd(x, y, z) },
			} {
				x1, y1, z1 := x, y, z
				if alias(&x1, &y1, &z1).Equal(want) != 1 {
					return false
				}
			}
			x1 := x
			return x1.MultiplyAdd(&x1, &x1, &x1).Equal(new(Scalar).MultiplyAdd(&x, &x, &x)) == 1
		}
		if err := quick.Check(check, quickConfig); err != nil {
			t.Error(err)
		}
	})
}

// TestSelectRefusesOtherConditions: a condition other than 0 or 1 is a
// broken invariant, and Select panics instead of mixing its arguments.
func TestSelectRefusesOtherConditions(t *testing.T) {
	a, b := new(Scalar).SetUint64(1), new(Scalar).SetUint64(2)
	if new(Scalar).Select(a, b, 1).Equal(a) != 1 || new(Scalar).Select(a, b, 0).Equal(b) != 1 {
		t.Fatal("Select(1) or Select(0) picked the wrong scalar")
	}
	for _, cond := range []int{2, 3, -1, 255, 1 << 40} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Select with condition %d did not panic", cond)
				}
			}()
			new(Scalar).Select(a, b, cond)
		}()
	}
}

// TestConditionConvention: the predicates return 1 or 0, never a bool, so
// that constant-time callers can combine them (one convention for the
// package, see the Element and Scalar docs).
func TestConditionConvention(t *testing.T) {
	id, g := NewIdentityElement(), NewGeneratorElement()
	zero, one := NewScalar(), new(Scalar).SetUint64(1)
	for name, got := range map[string][2]int{
		"IsIdentity": {id.IsIdentity(), g.IsIdentity()},
		"IsZero":     {zero.IsZero(), one.IsZero()},
		"Equal":      {g.Equal(g), g.Equal(id)},
	} {
		if got != [2]int{1, 0} {
			t.Errorf("%s returned %v, want [1 0]", name, got)
		}
	}
}

// TestZeroValues checks the zero values' documented contracts: the zero
// Scalar is a valid zero, and the zero Element, although not a valid
// element, is a valid receiver (every setter overwrites it).
func TestZeroValues(t *testing.T) {
	var s Scalar
	one := new(Scalar).SetUint64(1)
	if s.IsZero() != 1 || s.Equal(NewScalar()) != 1 || !bytes.Equal(s.Bytes(), make([]byte, ScalarSize)) {
		t.Error("the zero Scalar is not zero")
	}
	if new(Scalar).Add(&s, one).Equal(one) != 1 {
		t.Error("0 + 1 != 1 with the zero Scalar")
	}
	g := NewGeneratorElement()
	for name, set := range map[string]func(e *Element) *Element{
		"Set":             func(e *Element) *Element { return e.Set(g) },
		"Add":             func(e *Element) *Element { return e.Add(g, NewIdentityElement()) },
		"ScalarBaseMult":  func(e *Element) *Element { return e.ScalarBaseMult(one) },
		"ScalarMultFixed": func(e *Element) *Element { return e.ScalarMultFixed(one, GeneratorTable()) },
		"SetCanonicalBytes": func(e *Element) *Element {
			if _, err := e.SetCanonicalBytes(g.Bytes()); err != nil {
				t.Fatal(err)
			}
			return e
		},
	} {
		var e Element
		if !sameElement(set(&e), g) {
			t.Errorf("%s on a zero Element did not give g", name)
		}
	}
}
