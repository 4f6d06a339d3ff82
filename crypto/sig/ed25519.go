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
// for the group equation. Items of one batch that share a public key share
// the same A (pointer), which batchCheck uses to merge their A terms.
type prepared struct {
	A, R *edwards25519.Point
	S, k *edwards25519.Scalar
}

// decodeKey applies the public key rules: a canonical encoding of a curve
// point that is not of small order. pub must be PublicKeySize bytes.
func decodeKey(pub []byte) (*edwards25519.Point, error) {
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
	return A, nil
}

// CheckPublicKey reports whether pub passes the public key rules (spec
// §7.3): 32 bytes, the canonical encoding of a curve point, not of small
// order. Every signature under a key it refuses is refused, so a key set
// should be checked with it when it is configured.
func CheckPublicKey(pub []byte) error {
	if len(pub) != PublicKeySize {
		return ErrMalformed
	}
	_, err := decodeKey(pub)
	return err
}

// prepare applies every rule except the group equation.
func prepare(pub, msg, sig []byte) (*prepared, error) {
	if len(pub) != PublicKeySize || len(sig) != SignatureSize {
		return nil, ErrMalformed
	}
	A, err := decodeKey(pub)
	if err != nil {
		return nil, err
	}
	return prepareWithKey(A, pub, msg, sig)
}

// prepareWithKey applies the rules on R and S to a signature whose key pub
// (decoded as A) already passed decodeKey and whose lengths are right.
func prepareWithKey(A *edwards25519.Point, pub, msg, sig []byte) (*prepared, error) {
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
//	[8]([Σ z_i S_i]B − Σ [z_i]R_i − Σ_A [Σ_{i: A_i = A} z_i k_i]A) = identity,
//
// which holds for valid items and fails except with probability 2^-128 if
// any item is invalid. Items that share a public key (byte for byte) share
// one decoding and key check and one term of the multi-scalar
// multiplication, so a batch under few keys costs little more than its R
// terms. On failure it bisects to name every invalid item, so it accepts
// exactly the items Verify accepts. It returns nil or a *BatchError.
func VerifyBatch(items []Item) error {
	errs := make([]error, len(items))
	preps, ok := prepareBatch(items, errs)
	if err := batchBisect(preps, ok, errs); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return &BatchError{Errs: errs}
		}
	}
	return nil
}

// prepareBatch applies every rule but the group equation to each item,
// decoding and checking each distinct public key once. It sets errs[i] for
// the items that break a rule and returns the others with their indices;
// prepared items with the same key bytes share one *Point A.
func prepareBatch(items []Item, errs []error) (preps []*prepared, idx []int) {
	type keyResult struct {
		A   *edwards25519.Point
		err error
	}
	keys := make(map[string]keyResult)
	for i, it := range items {
		if len(it.PublicKey) != PublicKeySize || len(it.Signature) != SignatureSize {
			errs[i] = ErrMalformed
			continue
		}
		kr, seen := keys[string(it.PublicKey)]
		if !seen {
			kr.A, kr.err = decodeKey(it.PublicKey)
			keys[string(it.PublicKey)] = kr
		}
		if kr.err != nil {
			errs[i] = kr.err
			continue
		}
		p, err := prepareWithKey(kr.A, it.PublicKey, it.Message, it.Signature)
		if err != nil {
			errs[i] = err
			continue
		}
		idx = append(idx, i)
		preps = append(preps, p)
	}
	return preps, idx
}

// VerifyEach verifies items as VerifyBatch does and returns one error per
// item: nil for a valid item, the reason for an invalid one, and for every
// item the batch's error if the batch could not be checked at all. It
// saves callers the mapping of a BatchError back to their items.
func VerifyEach(items []Item) []error {
	errs := make([]error, len(items))
	err := VerifyBatch(items)
	var be *BatchError
	switch {
	case err == nil:
	case errors.As(err, &be):
		copy(errs, be.Errs)
	default:
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
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

// batchCheck evaluates the weighted cofactored equation for preps. The A
// terms of items sharing a key (the same *Point from VerifyBatch's key
// cache) are merged into one term whose scalar is Σ −z_i k_i.
func batchCheck(preps []*prepared) (bool, error) {
	n := len(preps)
	scalars := make([]*edwards25519.Scalar, 0, 2*n+1)
	points := make([]*edwards25519.Point, 0, 2*n+1)
	sumS := edwards25519.NewScalar()
	scalars = append(scalars, sumS)
	points = append(points, edwards25519.NewGeneratorPoint())
	// keyScalars[j] is the merged scalar of keyPoints[j], in order of first
	// appearance so the term order does not depend on map iteration.
	var keyScalars []*edwards25519.Scalar
	var keyPoints []*edwards25519.Point
	keyIdx := make(map[*edwards25519.Point]int)
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
		scalars = append(scalars, negZ)
		points = append(points, p.R)
		j, seen := keyIdx[p.A]
		if !seen {
			j = len(keyPoints)
			keyIdx[p.A] = j
			keyPoints = append(keyPoints, p.A)
			keyScalars = append(keyScalars, edwards25519.NewScalar())
		}
		keyScalars[j].MultiplyAdd(negZ, p.k, keyScalars[j])
	}
	scalars = append(scalars, keyScalars...)
	points = append(points, keyPoints...)
	v := new(edwards25519.Point).VarTimeMultiScalarMult(scalars, points)
	v.MultByCofactor(v)
	return v.Equal(edwards25519.NewIdentityPoint()) == 1, nil
}
