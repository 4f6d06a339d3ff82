// Package sig implements evote's signature verification rules: strict,
// cofactored Ed25519 (single and batch, which always agree) and a thin
// wrapper over ML-DSA-65 for long-term checkpoint signatures.
//
// The Ed25519 rules are normative in spec/07-bulletin.md §7.3. In short, a
// signature (R, S) by public key A on message M is valid if and only if
//
//   - A and R are canonical encodings of points on the curve (y < p, and the
//     sign bit is clear when x = 0), re-encoding them gives the same bytes;
//   - S is a canonical scalar, S < ℓ;
//   - A is not of small order ([8]A ≠ identity);
//   - [8][S]B = [8]R + [8][k]A with k = SHA-512(R || A || M) mod ℓ.
//
// The cofactored equation is what makes single and random-linear-combination
// batch verification accept exactly the same set of signatures (see "Taming
// the many EdDSAs", Chalkias, Garillot, Nikolaenko, SSR 2020). Signing is
// plain RFC 8032 Ed25519 (crypto/ed25519), whose outputs always satisfy these
// rules for keys it generates.
package sig

import (
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Sizes of Ed25519 encodings.
const (
	PublicKeySize = 32
	SignatureSize = 64
)

// Sentinel errors, one per rule of spec/07-bulletin.md §7.3, so callers and
// test vectors can name exactly why a signature was refused.
var (
	ErrMalformed         = errors.New("sig: wrong length")
	ErrNonCanonicalKey   = errors.New("sig: non-canonical public key encoding")
	ErrInvalidKey        = errors.New("sig: public key is not a curve point")
	ErrSmallOrderKey     = errors.New("sig: public key of small order")
	ErrNonCanonicalR     = errors.New("sig: non-canonical R encoding")
	ErrInvalidR          = errors.New("sig: R is not a curve point")
	ErrNonCanonicalS     = errors.New("sig: non-canonical S (S >= l)")
	ErrInvalidSignature  = errors.New("sig: signature does not verify")
	errBatchInternalFail = errors.New("sig: batch randomness unavailable")
)

// decodePoint decodes a point and reports whether its encoding is
// canonical. SetBytes accepts y ≥ p and x = 0 with the sign bit set; those
// are exactly the encodings whose re-encoding differs from the input, and
// canonicalEncoding detects them from the bytes without the field
// inversion a re-encoding costs.
func decodePoint(b []byte) (p *edwards25519.Point, onCurve bool, canonical bool) {
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return nil, false, false
	}
	return p, true, canonicalEncoding(b)
}

// canonicalEncoding reports whether a 32-byte encoding of a curve point is
// the one RFC 8032 §5.1.2 produces: y < p = 2^255 − 19, and the sign bit
// clear when x = 0 (which happens only for y = 1 and y = p − 1).
func canonicalEncoding(b []byte) bool {
	// y ≥ p iff bytes 1..30 are 0xff, byte 31 (sign cleared) is 0x7f and
	// byte 0 is at least 0xed.
	high := b[31]&0x7f == 0x7f
	for i := 1; i < 31 && high; i++ {
		high = b[i] == 0xff
	}
	if high && b[0] >= 0xed {
		return false
	}
	if b[31]&0x80 == 0 {
		return true
	}
	// Sign bit set: refuse it for y = 1 and y = p − 1, where x = 0.
	one, minusOne := b[0] == 0x01, b[0] == 0xec && high
	for i := 1; i < 31 && one; i++ {
		one = b[i] == 0
	}
	one = one && b[31]&0x7f == 0
	return !one && !minusOne
}

// prepared is a signature whose encodings passed every format rule, ready
// for the group equation.
type prepared struct {
	A, R *edwards25519.Point
	S, k *edwards25519.Scalar
}

// prepare applies every rule except the group equation.
func prepare(pub, msg, sig []byte) (*prepared, error) {
	if len(pub) != PublicKeySize || len(sig) != SignatureSize {
		return nil, ErrMalformed
	}
	A, ok, canon := decodePoint(pub)
	if !ok {
		return nil, ErrInvalidKey
	}
	if !canon {
		return nil, ErrNonCanonicalKey
	}
	if new(edwards25519.Point).MultByCofactor(A).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, ErrSmallOrderKey
	}
	R, ok, canon := decodePoint(sig[:32])
	if !ok {
		return nil, ErrInvalidR
	}
	if !canon {
		return nil, ErrNonCanonicalR
	}
	S, err := new(edwards25519.Scalar).SetCanonicalBytes(sig[32:])
	if err != nil {
		return nil, ErrNonCanonicalS
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(pub)
	h.Write(msg)
	k, err := new(edwards25519.Scalar).SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic("sig: SetUniformBytes on 64 bytes failed") // broken invariant
	}
	return &prepared{A: A, R: R, S: S, k: k}, nil
}

// check evaluates the cofactored equation [8]([S]B − [k]A − R) = identity.
func (p *prepared) check() bool {
	negA := new(edwards25519.Point).Negate(p.A)
	v := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(p.k, negA, p.S)
	v.Subtract(v, p.R)
	v.MultByCofactor(v)
	return v.Equal(edwards25519.NewIdentityPoint()) == 1
}

// Verify reports whether sig is a valid signature of msg by pub under the
// strict cofactored rules above. It returns nil or one of the sentinel
// errors (wrapped), never panics on any input.
func Verify(pub, msg, sig []byte) error {
	p, err := prepare(pub, msg, sig)
	if err != nil {
		return err
	}
	if !p.check() {
		return ErrInvalidSignature
	}
	return nil
}

// Item is one (public key, message, signature) triple of a batch.
type Item struct {
	PublicKey []byte
	Message   []byte
	Signature []byte
}

// BatchError names every item of a batch that failed, by index.
type BatchError struct {
	Errs []error // Errs[i] is nil for a valid item
}

func (e *BatchError) Error() string {
	n, first := 0, -1
	for i, err := range e.Errs {
		if err != nil {
			n++
			if first < 0 {
				first = i
			}
		}
	}
	return fmt.Sprintf("sig: %d of %d signatures invalid, first at item %d: %v", n, len(e.Errs), first, e.Errs[first])
}

// Unwrap exposes the per-item errors to errors.Is.
func (e *BatchError) Unwrap() []error {
	var out []error
	for _, err := range e.Errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// VerifyBatch verifies all items at once with a random linear combination:
// with fresh 128-bit weights z_i it checks
//
//	[8]([Σ z_i S_i]B − Σ [z_i]R_i − Σ [z_i k_i]A_i) = identity,
//
// which holds for valid items and fails except with probability 2^-128 if
// any item is invalid. On failure it bisects to name every invalid item, so
// it accepts exactly the items Verify accepts. It returns nil or a
// *BatchError.
func VerifyBatch(items []Item) error {
	errs := make([]error, len(items))
	var ok []int
	var preps []*prepared
	bad := false
	for i, it := range items {
		p, err := prepare(it.PublicKey, it.Message, it.Signature)
		if err != nil {
			errs[i] = err
			bad = true
			continue
		}
		ok = append(ok, i)
		preps = append(preps, p)
	}
	if err := batchBisect(preps, ok, errs); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			bad = true
		}
	}
	if bad {
		return &BatchError{Errs: errs}
	}
	return nil
}

// batchBisect checks preps as one combination; on failure it splits the set
// in two and recurses, falling back to single verification for one item.
func batchBisect(preps []*prepared, idx []int, errs []error) error {
	switch len(preps) {
	case 0:
		return nil
	case 1:
		if !preps[0].check() {
			errs[idx[0]] = ErrInvalidSignature
		}
		return nil
	}
	good, err := batchCheck(preps)
	if err != nil {
		return err
	}
	if good {
		return nil
	}
	h := len(preps) / 2
	if err := batchBisect(preps[:h], idx[:h], errs); err != nil {
		return err
	}
	return batchBisect(preps[h:], idx[h:], errs)
}

// batchCheck evaluates the weighted cofactored equation for preps.
func batchCheck(preps []*prepared) (bool, error) {
	n := len(preps)
	scalars := make([]*edwards25519.Scalar, 0, 2*n+1)
	points := make([]*edwards25519.Point, 0, 2*n+1)
	sumS := edwards25519.NewScalar()
	scalars = append(scalars, sumS)
	points = append(points, edwards25519.NewGeneratorPoint())
	var buf [32]byte
	rnd := make([]byte, 16*n)
	if _, err := rand.Read(rnd); err != nil {
		return false, fmt.Errorf("%w: %v", errBatchInternalFail, err)
	}
	for i, p := range preps {
		clear(buf[:])
		copy(buf[:16], rnd[16*i:16*i+16])
		z, err := new(edwards25519.Scalar).SetCanonicalBytes(buf[:])
		if err != nil {
			panic("sig: 128-bit scalar not canonical") // broken invariant
		}
		sumS.MultiplyAdd(z, p.S, sumS)
		negZ := new(edwards25519.Scalar).Negate(z)
		scalars = append(scalars, negZ, new(edwards25519.Scalar).Multiply(negZ, p.k))
		points = append(points, p.R, p.A)
	}
	v := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	v.MultByCofactor(v)
	return v.Equal(edwards25519.NewIdentityPoint()) == 1, nil
}
