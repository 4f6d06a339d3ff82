package group

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// ElementSize is the length of a canonical element encoding.
const ElementSize = 32

// ErrInvalidElement is returned when 32 bytes are not the canonical encoding
// of a ristretto255 element (RFC 9496 §4.3.1).
var ErrInvalidElement = errors.New("group: invalid or non-canonical ristretto255 encoding")

// An Element is an element of the ristretto255 group.
//
// The zero value is not a valid element and may be used only as a receiver
// (TestZeroValues): use NewIdentityElement, NewGeneratorElement or a
// decoder. Elements must not be compared with ==, since one group element
// has many internal representations; use Equal.
//
// Methods follow math/big: the receiver is the result, and it is also
// returned so calls chain. Arguments and receiver may alias (v.Add(v, v)
// doubles v), as in edwards25519; TestElementAliasing checks that every
// method gives the same result when they do. Equal and IsIdentity return 1
// or 0, in constant time, so callers can combine them without branching.
type Element struct {
	p edwards25519.Point
	// enc caches the canonical encoding an element was decoded from, so
	// that the many re-encodings of ciphertexts and commitments into
	// transcripts cost nothing. Every write to p goes through w(), which
	// drops the cache; the cache is filled only by SetCanonicalBytes and
	// Set (never lazily by a reader, so concurrent readers do not race).
	enc     [ElementSize]byte
	encoded bool
}

// w returns the point for writing, dropping the cached encoding.
func (e *Element) w() *edwards25519.Point {
	e.encoded = false
	return &e.p
}

// NewIdentityElement returns a new Element set to the identity.
func NewIdentityElement() *Element {
	e := new(Element)
	e.w().Set(edwards25519.NewIdentityPoint())
	return e
}

// NewGeneratorElement returns a new Element set to the standard generator g.
func NewGeneratorElement() *Element {
	e := new(Element)
	e.w().Set(edwards25519.NewGeneratorPoint())
	return e
}

// Set sets e = x and returns e; e may alias x.
func (e *Element) Set(x *Element) *Element {
	e.p.Set(&x.p)
	e.enc, e.encoded = x.enc, x.encoded
	return e
}

// Add sets e = x + y (the group operation) and returns e; e may alias x
// or y.
func (e *Element) Add(x, y *Element) *Element { e.w().Add(&x.p, &y.p); return e }

// Subtract sets e = x - y and returns e; e may alias x or y.
func (e *Element) Subtract(x, y *Element) *Element { e.w().Subtract(&x.p, &y.p); return e }

// Negate sets e = -x and returns e; e may alias x.
func (e *Element) Negate(x *Element) *Element { e.w().Negate(&x.p); return e }

// ScalarMult sets e = s * x in constant time and returns e; e may alias x.
func (e *Element) ScalarMult(s *Scalar, x *Element) *Element {
	e.w().ScalarMult(&s.s, &x.p)
	return e
}

// ScalarBaseMult sets e = s * g in constant time and returns e.
func (e *Element) ScalarBaseMult(s *Scalar) *Element {
	e.w().ScalarBaseMult(&s.s)
	return e
}

// VarTimeDoubleScalarBaseMult sets e = a * A + b * g and returns e; e may
// alias A. It is not constant time: use it only on public values.
func (e *Element) VarTimeDoubleScalarBaseMult(a *Scalar, A *Element, b *Scalar) *Element {
	e.w().VarTimeDoubleScalarBaseMult(&a.s, &A.p, &b.s)
	return e
}

// Equal returns 1 if e and x are the same group element, and 0 otherwise, in
// constant time (RFC 9496 §4.3.3).
func (e *Element) Equal(x *Element) int {
	X1, Y1, _, _ := e.p.ExtendedCoordinates()
	X2, Y2, _, _ := x.p.ExtendedCoordinates()
	var a, b, c, d field.Element
	a.Multiply(X1, Y2)
	b.Multiply(Y1, X2)
	c.Multiply(Y1, Y2)
	d.Multiply(X1, X2)
	return a.Equal(&b) | c.Equal(&d)
}

// IsIdentity returns 1 if e is the identity element, and 0 otherwise, in
// constant time (the convention of Equal and of Scalar.IsZero).
func (e *Element) IsIdentity() int {
	return e.Equal(NewIdentityElement())
}

// Bytes returns the 32-byte canonical encoding of e (RFC 9496 §4.3.2).
func (e *Element) Bytes() []byte {
	var out [ElementSize]byte
	return e.AppendBytes(out[:0])
}

// AppendBytes appends the canonical encoding of e to b and returns the
// extended slice.
func (e *Element) AppendBytes(b []byte) []byte {
	if e.encoded {
		return append(b, e.enc[:]...)
	}
	X0, Y0, Z0, T0 := e.p.ExtendedCoordinates()
	var u1, u2, t, one field.Element
	one.One()
	u1.Add(Z0, Y0)
	t.Subtract(Z0, Y0)
	u1.Multiply(&u1, &t)
	u2.Multiply(X0, Y0)

	var invsqrt field.Element
	t.Square(&u2)
	t.Multiply(&t, &u1)
	invsqrt.SqrtRatio(&one, &t)

	var den1, den2, zInv field.Element
	den1.Multiply(&invsqrt, &u1)
	den2.Multiply(&invsqrt, &u2)
	zInv.Multiply(&den1, &den2)
	zInv.Multiply(&zInv, T0)

	var ix0, iy0, enchanted field.Element
	ix0.Multiply(X0, sqrtM1)
	iy0.Multiply(Y0, sqrtM1)
	enchanted.Multiply(&den1, invsqrtAMinusD)

	t.Multiply(T0, &zInv)
	rotate := t.IsNegative()

	var x, y, denInv field.Element
	x.Select(&iy0, X0, rotate)
	y.Select(&ix0, Y0, rotate)
	denInv.Select(&enchanted, &den2, rotate)

	t.Multiply(&x, &zInv)
	var negY field.Element
	negY.Negate(&y)
	y.Select(&negY, &y, t.IsNegative())

	var s field.Element
	s.Subtract(Z0, &y)
	s.Multiply(&denInv, &s)
	s.Absolute(&s)
	return append(b, s.Bytes()...)
}

// SetCanonicalBytes sets e to the element encoded by b and returns e. It
// returns ErrInvalidElement, leaving e unchanged, unless b is the canonical
// 32-byte encoding of a ristretto255 element (RFC 9496 §4.3.1): the field
// element s must be canonical (< p) and non-negative, and the decoded point
// must exist with t non-negative and y non-zero.
func (e *Element) SetCanonicalBytes(b []byte) (*Element, error) {
	if len(b) != ElementSize {
		return nil, fmt.Errorf("group: element encoding is %d bytes, want %d: %w", len(b), ElementSize, ErrInvalidElement)
	}
	var s field.Element
	if _, err := s.SetBytes(b); err != nil {
		return nil, ErrInvalidElement
	}
	// SetBytes ignores the top bit and accepts values ≥ p: require the
	// re-encoding to match exactly, and s to be non-negative.
	if subtle.ConstantTimeCompare(s.Bytes(), b) != 1 || s.IsNegative() == 1 {
		return nil, ErrInvalidElement
	}

	var one, ss, u1, u2, u2sqr, v, t field.Element
	one.One()
	ss.Square(&s)
	u1.Subtract(&one, &ss)
	u2.Add(&one, &ss)
	u2sqr.Square(&u2)
	v.Square(&u1)
	v.Multiply(&v, curveD)
	v.Negate(&v)
	v.Subtract(&v, &u2sqr)

	var invsqrt field.Element
	t.Multiply(&v, &u2sqr)
	_, wasSquare := invsqrt.SqrtRatio(&one, &t)

	var denX, denY, x, y, tt field.Element
	denX.Multiply(&invsqrt, &u2)
	denY.Multiply(&invsqrt, &denX)
	denY.Multiply(&denY, &v)
	x.Multiply(&s, &denX)
	x.Add(&x, &x)
	x.Absolute(&x)
	y.Multiply(&u1, &denY)
	tt.Multiply(&x, &y)

	var zero field.Element
	if wasSquare == 0 || tt.IsNegative() == 1 || y.Equal(&zero) == 1 {
		return nil, ErrInvalidElement
	}
	if _, err := e.w().SetExtendedCoordinates(&x, &y, &one, &tt); err != nil {
		return nil, ErrInvalidElement
	}
	copy(e.enc[:], b)
	e.encoded = true
	return e, nil
}

// SetUniformBytes sets e to the element derived from 64 uniformly random
// bytes by the one-way map of RFC 9496 §4.3.4, and returns e. It is the last
// step of hash_to_ristretto255 (RFC 9380 Appendix B).
func (e *Element) SetUniformBytes(b []byte) (*Element, error) {
	if len(b) != 64 {
		return nil, fmt.Errorf("group: uniform element input is %d bytes, want 64", len(b))
	}
	var r0, r1 field.Element
	// SetBytes masks the top bit, as the map requires.
	if _, err := r0.SetBytes(b[:32]); err != nil {
		return nil, err
	}
	if _, err := r1.SetBytes(b[32:]); err != nil {
		return nil, err
	}
	var p1, p2 edwards25519.Point
	mapToPoint(&p1, &r0)
	mapToPoint(&p2, &r1)
	e.w().Add(&p1, &p2)
	return e, nil
}

// mapToPoint is the MAP function of RFC 9496 §4.3.4 (Elligator for
// ristretto255).
func mapToPoint(p *edwards25519.Point, t *field.Element) {
	var one, minusOne, r, u, v, tmp field.Element
	one.One()
	minusOne.Negate(&one)

	r.Square(t)
	r.Multiply(&r, sqrtM1)
	u.Add(&r, &one)
	u.Multiply(&u, oneMinusDSq)
	v.Multiply(&r, curveD)
	v.Subtract(&minusOne, &v)
	tmp.Add(&r, curveD)
	v.Multiply(&v, &tmp)

	var s, sPrime field.Element
	_, wasSquare := s.SqrtRatio(&u, &v)
	sPrime.Multiply(&s, t)
	sPrime.Absolute(&sPrime)
	sPrime.Negate(&sPrime)
	s.Select(&s, &sPrime, wasSquare)
	var c field.Element
	c.Select(&minusOne, &r, wasSquare)

	var n field.Element
	n.Subtract(&r, &one)
	n.Multiply(&n, &c)
	n.Multiply(&n, dMinusOneSq)
	n.Subtract(&n, &v)

	var w0, w1, w2, w3, ssq field.Element
	w0.Multiply(&s, &v)
	w0.Add(&w0, &w0)
	w1.Multiply(&n, sqrtADMinusOne)
	ssq.Square(&s)
	w2.Subtract(&one, &ssq)
	w3.Add(&one, &ssq)

	var X, Y, Z, T field.Element
	X.Multiply(&w0, &w3)
	Y.Multiply(&w2, &w1)
	Z.Multiply(&w1, &w3)
	T.Multiply(&w0, &w2)
	if _, err := p.SetExtendedCoordinates(&X, &Y, &Z, &T); err != nil {
		panic("group: one-way map produced an invalid point")
	}
}

// String returns the hexadecimal canonical encoding, for debugging.
func (e *Element) String() string { return fmt.Sprintf("%x", e.Bytes()) }

// Constants of RFC 9496 §4.1, and the curve constant d, as the
// little-endian encodings of the RFC's decimal values (TestConstants
// checks them against the decimals): written out in hex so that the
// voting page's module does not link math/big only to parse them.
var (
	sqrtM1         = feFromHex("b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b")
	sqrtADMinusOne = feFromHex("1b2e7b49a0f6977ebd54781b0c8e9daffdd1f531c9fc3c0fac48832bbf316937")
	invsqrtAMinusD = feFromHex("ea405d80aafdc899be72415a17162f9d40d801fe917bc216a2fcafcf05896c78")
	oneMinusDSq    = feFromHex("76c15f94c1097ce20f355ecd38a1812ce4df70beddab9499d7e0b3b2a8729002")
	dMinusOneSq    = feFromHex("204ded44aa5aad3199191eb02c4a9ed2eb4e9b522fd3dc4c41226cf67ab36859")
	curveD         = feFromHex("a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352")
	curveD2        = new(field.Element).Add(curveD, curveD)
)

// feFromHex decodes a field element from 64 hex digits, little-endian.
func feFromHex(s string) *field.Element {
	le, err := hex.DecodeString(s)
	if err != nil || len(le) != 32 {
		panic("group: bad constant " + s)
	}
	fe, err := new(field.Element).SetBytes(le)
	if err != nil {
		panic(err)
	}
	return fe
}
