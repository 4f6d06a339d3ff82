package sig

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// ML-DSA-65 (FIPS 204) sizes.
const (
	MLDSAPublicKeySize = mldsa65.PublicKeySize
	MLDSASignatureSize = mldsa65.SignatureSize
	MLDSASeedSize      = mldsa65.SeedSize
)

// ErrMLDSA is returned for a malformed ML-DSA key or a signature that does
// not verify.
var ErrMLDSA = errors.New("sig: ML-DSA-65 signature does not verify")

// MLDSAPrivateKey is an ML-DSA-65 signing key. The post-quantum signature
// keeps the record's integrity verifiable after Ed25519 may have fallen.
type MLDSAPrivateKey struct {
	sk *mldsa65.PrivateKey
	pk *mldsa65.PublicKey
}

// GenerateMLDSAKey returns a fresh key from crypto/rand.
func GenerateMLDSAKey() (*MLDSAPrivateKey, error) {
	pk, sk, err := mldsa65.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sig: generate ML-DSA-65 key: %w", err)
	}
	return &MLDSAPrivateKey{sk: sk, pk: pk}, nil
}

// NewMLDSAKeyFromSeed derives the key deterministically from a 32-byte seed
// (FIPS 204 ML-DSA.KeyGen_internal); the seed is the key's storage form.
func NewMLDSAKeyFromSeed(seed []byte) (*MLDSAPrivateKey, error) {
	if len(seed) != MLDSASeedSize {
		return nil, fmt.Errorf("sig: ML-DSA-65 seed must be %d bytes, got %d", MLDSASeedSize, len(seed))
	}
	var s [MLDSASeedSize]byte
	copy(s[:], seed)
	pk, sk := mldsa65.NewKeyFromSeed(&s)
	return &MLDSAPrivateKey{sk: sk, pk: pk}, nil
}

// PublicKey returns the 1952-byte encoded public key.
func (k *MLDSAPrivateKey) PublicKey() []byte { return k.pk.Bytes() }

// Sign signs msg under the FIPS 204 context string ctx (at most 255 bytes)
// with hedged randomness from crypto/rand.
func (k *MLDSAPrivateKey) Sign(msg, ctx []byte) ([]byte, error) {
	out := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(k.sk, msg, ctx, true, out); err != nil {
		return nil, fmt.Errorf("sig: ML-DSA-65 sign: %w", err)
	}
	return out, nil
}

// SignDeterministic signs with the FIPS 204 deterministic variant (no fresh
// randomness). It exists for reproducible test vectors; production
// signatures use Sign.
func (k *MLDSAPrivateKey) SignDeterministic(msg, ctx []byte) ([]byte, error) {
	out := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(k.sk, msg, ctx, false, out); err != nil {
		return nil, fmt.Errorf("sig: ML-DSA-65 sign: %w", err)
	}
	return out, nil
}

// VerifyMLDSA checks an ML-DSA-65 signature of msg under context ctx. It
// returns nil or an error wrapping ErrMLDSA; it never panics on bad input.
func VerifyMLDSA(pub, msg, ctx, sig []byte) error {
	if len(pub) != mldsa65.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrMLDSA, len(pub), mldsa65.PublicKeySize)
	}
	if len(sig) != mldsa65.SignatureSize {
		return fmt.Errorf("%w: signature is %d bytes, want %d", ErrMLDSA, len(sig), mldsa65.SignatureSize)
	}
	if len(ctx) > 255 {
		return fmt.Errorf("%w: context longer than 255 bytes", ErrMLDSA)
	}
	var pk mldsa65.PublicKey
	if err := pk.UnmarshalBinary(pub); err != nil {
		return fmt.Errorf("%w: %v", ErrMLDSA, err)
	}
	if !mldsa65.Verify(&pk, msg, ctx, sig) {
		return ErrMLDSA
	}
	return nil
}
