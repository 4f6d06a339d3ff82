// Package elgamal implements exponential ElGamal encryption over
// ristretto255 (spec/03-elgamal.md): a message m is encrypted under public
// key h = g^x as (g^r, h^r·g^m), which makes ciphertexts additively
// homomorphic and lets them be re-randomised; decryption recovers g^m, and a
// bounded discrete-logarithm table recovers small m.
//
// A [PublicKey] encrypts ([PublicKey.Encrypt]) and re-randomises
// ([PublicKey.ReEncrypt]); [Ciphertext.Add] adds the messages of two
// ciphertexts; a [PrivateKey] decrypts to g^m, which a [DLogTable] turns
// into m. Election keys are shared among trustees instead
// ([evote/crypto/threshold]); this package's PrivateKey serves single-key
// uses and tests. The example shows the round trip. Group arithmetic is
// [evote/crypto/group]'s.
package elgamal

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"evote/crypto/group"
)

// CiphertextSize is the length of an encoded ciphertext.
const CiphertextSize = 2 * group.ElementSize

// ErrIdentityKey is returned for a public key equal to the identity element,
// under which encryption would hide nothing.
var ErrIdentityKey = errors.New("elgamal: public key is the identity element")

// A PublicKey is an ElGamal public key h = g^x. It is immutable: its
// encoding is computed once, when it is made, and its fixed-base table is
// built on first use and shared by every encryption under the key. The zero
// value is not a valid key: use NewPublicKey or ParsePublicKey.
type PublicKey struct {
	h         group.Element
	enc       [group.ElementSize]byte
	tableOnce sync.Once
	table     *group.FixedBase
}

// NewPublicKey returns the public key h. It rejects the identity.
func NewPublicKey(h *group.Element) (*PublicKey, error) {
	if h.IsIdentity() == 1 {
		return nil, ErrIdentityKey
	}
	pk := &PublicKey{}
	pk.h.Set(h)
	h.AppendBytes(pk.enc[:0])
	return pk, nil
}

// ParsePublicKey decodes a 32-byte public key.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	h, err := new(group.Element).SetCanonicalBytes(b)
	if err != nil {
		return nil, fmt.Errorf("elgamal: public key: %w", err)
	}
	return NewPublicKey(h)
}

// Element returns a copy of h.
func (pk *PublicKey) Element() *group.Element { return new(group.Element).Set(&pk.h) }

// Bytes returns the 32-byte encoding of h.
func (pk *PublicKey) Bytes() []byte { return pk.AppendBytes(make([]byte, 0, group.ElementSize)) }

// AppendBytes appends the 32-byte encoding of h to b and returns the
// extended slice. It costs a copy: the encoding is kept with the key.
func (pk *PublicKey) AppendBytes(b []byte) []byte { return append(b, pk.enc[:]...) }

// Table returns the fixed-base table of h, building it on first use.
func (pk *PublicKey) Table() *group.FixedBase {
	pk.tableOnce.Do(func() { pk.table = group.NewFixedBase(&pk.h) })
	return pk.table
}

// Equal reports whether pk and other are the same key.
func (pk *PublicKey) Equal(other *PublicKey) bool { return pk.h.Equal(&other.h) == 1 }

// A PrivateKey is an ElGamal secret key x with its public key g^x. Joint
// election keys are never held as one PrivateKey: trustees hold shares
// (crypto/threshold); this type serves single-key uses and tests.
type PrivateKey struct {
	x   group.Scalar
	pub *PublicKey
}

// GenerateKey returns a fresh key pair. rand is crypto/rand when nil.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	x, err := new(group.Scalar).SetRandom(rand)
	if err != nil {
		return nil, fmt.Errorf("elgamal: %w", err)
	}
	return NewPrivateKey(x)
}

// NewPrivateKey returns the key pair with secret x, which must not be zero.
func NewPrivateKey(x *group.Scalar) (*PrivateKey, error) {
	if x.IsZero() == 1 {
		return nil, errors.New("elgamal: secret key is zero")
	}
	h := new(group.Element).ScalarMultFixed(x, group.GeneratorTable())
	pub, err := NewPublicKey(h)
	if err != nil {
		return nil, err
	}
	sk := &PrivateKey{pub: pub}
	sk.x.Set(x)
	return sk, nil
}

// Public returns the public key.
func (sk *PrivateKey) Public() *PublicKey { return sk.pub }

// Scalar returns a copy of the secret x.
func (sk *PrivateKey) Scalar() *group.Scalar { return new(group.Scalar).Set(&sk.x) }

// A Ciphertext is a pair (A, B) = (g^r, h^r·g^m).
type Ciphertext struct {
	A, B group.Element
}

// NewCiphertext returns a ciphertext with the given components.
func NewCiphertext(a, b *group.Element) *Ciphertext {
	c := &Ciphertext{}
	c.A.Set(a)
	c.B.Set(b)
	return c
}

// Zero returns the trivial encryption (1, 1) of 0, the identity of Add.
func Zero() *Ciphertext {
	id := group.NewIdentityElement()
	return NewCiphertext(id, id)
}

// Encrypt encrypts the integer m with fresh randomness, returning the
// ciphertext and the randomness r (needed for proofs and Benaloh audits).
// It is constant time in m and r.
func (pk *PublicKey) Encrypt(m uint64, rand io.Reader) (*Ciphertext, *group.Scalar, error) {
	r, err := new(group.Scalar).SetRandom(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("elgamal: %w", err)
	}
	return pk.EncryptWithRandomness(new(group.Scalar).SetUint64(m), r), r, nil
}

// EncryptWithRandomness returns (g^r, h^r·g^m) for the scalar m, in
// constant time.
func (pk *PublicKey) EncryptWithRandomness(m, r *group.Scalar) *Ciphertext {
	gt := group.GeneratorTable()
	c := &Ciphertext{}
	c.A.ScalarMultFixed(r, gt)
	c.B.ScalarMultFixed(r, pk.Table())
	var gm group.Element
	gm.ScalarMultFixed(m, gt)
	c.B.Add(&c.B, &gm)
	return c
}

// ReEncrypt returns c·(g^r, h^r), an encryption of the same message with
// randomness increased by r, in constant time.
func (pk *PublicKey) ReEncrypt(c *Ciphertext, r *group.Scalar) *Ciphertext {
	out := &Ciphertext{}
	out.A.ScalarMultFixed(r, group.GeneratorTable())
	out.B.ScalarMultFixed(r, pk.Table())
	out.A.Add(&out.A, &c.A)
	out.B.Add(&out.B, &c.B)
	return out
}

// Add sets c = x·y (component-wise), an encryption of the sum of the
// messages, and returns c.
func (c *Ciphertext) Add(x, y *Ciphertext) *Ciphertext {
	c.A.Add(&x.A, &y.A)
	c.B.Add(&x.B, &y.B)
	return c
}

// Set sets c = x and returns c.
func (c *Ciphertext) Set(x *Ciphertext) *Ciphertext {
	c.A.Set(&x.A)
	c.B.Set(&x.B)
	return c
}

// Equal reports whether c and x have equal components.
func (c *Ciphertext) Equal(x *Ciphertext) bool {
	return c.A.Equal(&x.A)&c.B.Equal(&x.B) == 1
}

// Bytes returns Element(A) || Element(B).
func (c *Ciphertext) Bytes() []byte {
	return c.AppendBytes(make([]byte, 0, CiphertextSize))
}

// AppendBytes appends the encoding of c to b.
func (c *Ciphertext) AppendBytes(b []byte) []byte {
	return c.B.AppendBytes(c.A.AppendBytes(b))
}

// SetBytes decodes a 64-byte ciphertext. It rejects any other length and
// any non-canonical element, leaving c unchanged.
func (c *Ciphertext) SetBytes(b []byte) (*Ciphertext, error) {
	if len(b) != CiphertextSize {
		return nil, fmt.Errorf("elgamal: ciphertext is %d bytes, want %d", len(b), CiphertextSize)
	}
	var a, bb group.Element
	if _, err := a.SetCanonicalBytes(b[:32]); err != nil {
		return nil, fmt.Errorf("elgamal: ciphertext A: %w", err)
	}
	if _, err := bb.SetCanonicalBytes(b[32:]); err != nil {
		return nil, fmt.Errorf("elgamal: ciphertext B: %w", err)
	}
	c.A.Set(&a)
	c.B.Set(&bb)
	return c, nil
}

// Decrypt returns g^m for the ciphertext c: B·A^(-x).
func (sk *PrivateKey) Decrypt(c *Ciphertext) *group.Element {
	var s group.Element
	s.ScalarMult(&sk.x, &c.A)
	return new(group.Element).Subtract(&c.B, &s)
}
