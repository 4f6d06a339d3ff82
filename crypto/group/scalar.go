package group

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"
)

// ScalarSize is the length of a canonical scalar encoding.
const ScalarSize = 32

// ErrNonCanonicalScalar is returned when a scalar encoding is not the
// little-endian encoding of an integer strictly less than the group order.
var ErrNonCanonicalScalar = errors.New("group: non-canonical scalar encoding")

// A Scalar is an integer modulo the group order
// ℓ = 2^252 + 27742317777372353535851937790883648493.
//
// The zero value is a valid zero scalar. Arithmetic is constant time.
//
// Methods follow math/big: the receiver is the result, and it is also
// returned so calls chain. Arguments and receiver may alias (s.Multiply(s,
// s) squares s), as in edwards25519; TestScalarAliasing checks that every
// method gives the same result when they do. Equal and IsZero return 1 or 0,
// in constant time, and Select takes such a condition.
type Scalar struct {
	s edwards25519.Scalar
}

// NewScalar returns a new zero Scalar.
func NewScalar() *Scalar { return new(Scalar) }

// RandomScalar returns a uniformly random scalar read from crypto/rand.
func RandomScalar() *Scalar {
	s, err := new(Scalar).SetRandom(rand.Reader)
	if err != nil {
		// crypto/rand.Reader does not fail on supported platforms.
		panic("group: crypto/rand failed: " + err.Error())
	}
	return s
}

// SetRandom sets s to a uniformly random scalar computed from 64 bytes of r,
// and returns s. A nil r means crypto/rand. Production code always passes nil
// or crypto/rand.Reader; a deterministic reader is for test vectors only.
func (s *Scalar) SetRandom(r io.Reader) (*Scalar, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [64]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("group: reading randomness: %w", err)
	}
	if _, err := s.s.SetUniformBytes(b[:]); err != nil {
		panic("group: SetUniformBytes rejected 64 bytes")
	}
	return s, nil
}

// Set sets s = x and returns s; s may alias x.
func (s *Scalar) Set(x *Scalar) *Scalar { s.s.Set(&x.s); return s }

// SetUint64 sets s = x and returns s.
func (s *Scalar) SetUint64(x uint64) *Scalar {
	var b [32]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(x >> (8 * i))
	}
	if _, err := s.s.SetCanonicalBytes(b[:]); err != nil {
		panic("group: small integer rejected")
	}
	return s
}

// SetInt64 sets s = x mod ℓ (x may be negative) and returns s.
func (s *Scalar) SetInt64(x int64) *Scalar {
	if x >= 0 {
		return s.SetUint64(uint64(x))
	}
	s.SetUint64(uint64(-x))
	return s.Negate(s)
}

// SetCanonicalBytes sets s to the scalar encoded in the 32-byte little-endian
// string b. It returns an error, and leaves s unchanged, if b has the wrong
// length or encodes an integer ≥ ℓ (spec §1.1).
func (s *Scalar) SetCanonicalBytes(b []byte) (*Scalar, error) {
	if len(b) != ScalarSize {
		return nil, fmt.Errorf("group: scalar encoding is %d bytes, want %d", len(b), ScalarSize)
	}
	var t edwards25519.Scalar
	if _, err := t.SetCanonicalBytes(b); err != nil {
		return nil, ErrNonCanonicalScalar
	}
	s.s = t
	return s, nil
}

// SetUniformBytes sets s to the 64-byte little-endian integer b reduced
// modulo ℓ, and returns s. It is how hashes become challenges.
func (s *Scalar) SetUniformBytes(b []byte) (*Scalar, error) {
	if len(b) != 64 {
		return nil, fmt.Errorf("group: uniform scalar input is %d bytes, want 64", len(b))
	}
	if _, err := s.s.SetUniformBytes(b); err != nil {
		return nil, fmt.Errorf("group: %w", err)
	}
	return s, nil
}

// SetShortBytes sets s to the little-endian integer b of at most 32 bytes,
// which must be below ℓ; it is meant for 128-bit batch-verification weights.
func (s *Scalar) SetShortBytes(b []byte) (*Scalar, error) {
	if len(b) > 31 {
		return nil, fmt.Errorf("group: short scalar is %d bytes, want at most 31", len(b))
	}
	var buf [32]byte
	copy(buf[:], b)
	return s.SetCanonicalBytes(buf[:])
}

// Bytes returns the 32-byte canonical little-endian encoding of s.
func (s *Scalar) Bytes() []byte { return s.s.Bytes() }

// Add sets s = x + y and returns s; s may alias x or y.
func (s *Scalar) Add(x, y *Scalar) *Scalar { s.s.Add(&x.s, &y.s); return s }

// Subtract sets s = x - y and returns s; s may alias x or y.
func (s *Scalar) Subtract(x, y *Scalar) *Scalar { s.s.Subtract(&x.s, &y.s); return s }

// Multiply sets s = x * y and returns s; s may alias x or y.
func (s *Scalar) Multiply(x, y *Scalar) *Scalar { s.s.Multiply(&x.s, &y.s); return s }

// MultiplyAdd sets s = x * y + z and returns s; s may alias x, y or z.
func (s *Scalar) MultiplyAdd(x, y, z *Scalar) *Scalar { s.s.MultiplyAdd(&x.s, &y.s, &z.s); return s }

// Negate sets s = -x and returns s; s may alias x.
func (s *Scalar) Negate(x *Scalar) *Scalar { s.s.Negate(&x.s); return s }

// Invert sets s = 1/x and returns s; s may alias x. If x is zero, s is set
// to zero.
func (s *Scalar) Invert(x *Scalar) *Scalar { s.s.Invert(&x.s); return s }

// Equal returns 1 if s and x are equal, and 0 otherwise, in constant time.
func (s *Scalar) Equal(x *Scalar) int { return s.s.Equal(&x.s) }

// IsZero returns 1 if s is zero, and 0 otherwise, in constant time.
func (s *Scalar) IsZero() int { return s.s.Equal(edwards25519.NewScalar()) }

// Select sets s to a if cond == 1 and to b if cond == 0, in constant time,
// and returns s; s may alias a or b. Any other cond is a broken invariant of
// the caller (a condition must come from Equal, IsZero or
// subtle.ConstantTime…, never from arbitrary arithmetic), and Select panics
// rather than return a mixture of a and b, as circl's selectors do.
func (s *Scalar) Select(a, b *Scalar, cond int) *Scalar {
	if cond&^1 != 0 { // the same branch for 0 and 1: leaks nothing
		panic("group: Scalar.Select with a condition other than 0 or 1")
	}
	ab, bb := a.s.Bytes(), b.s.Bytes()
	mask := byte(-cond)
	var out [32]byte
	for i := range out {
		out[i] = bb[i] ^ (mask & (ab[i] ^ bb[i]))
	}
	if _, err := s.s.SetCanonicalBytes(out[:]); err != nil {
		panic("group: select produced a non-canonical scalar")
	}
	return s
}

// String returns the hexadecimal canonical encoding, for debugging.
func (s *Scalar) String() string { return fmt.Sprintf("%x", s.s.Bytes()) }
