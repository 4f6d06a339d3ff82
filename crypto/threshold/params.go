package threshold

import (
	cryptorand "crypto/rand"
	"encoding/binary"
	"errors"
	"evote/crypto/threshold/contexthash"
	"fmt"
	"io"
	"sync"

	"evote/crypto/group"
)

// Domain-separation tags and generator parameters of this package (spec
// §1.2, §2.5, §5).
const (
	// BaseHashTag opens the base hash (spec §5.2).
	BaseHashTag = contexthash.BaseTag
	// ExtendedHashTag opens the extended hash (spec §5.2).
	ExtendedHashTag = contexthash.ExtendedTag
	// ShareInfoTag opens the HPKE info string of an encrypted share (§5.4).
	ShareInfoTag = "evote-v1/threshold/share"
	// ExtractionProofTag is part of the context of a dealer's proof of
	// knowledge of its secret in the extraction phase (§5.6).
	ExtractionProofTag = "evote-v1/threshold/extraction-pok"
	// ExtractionConsistencyTag is the transcript protocol name that derives
	// the weights of a dealer's proof that its extraction commitments match
	// its Pedersen commitments, and part of that proof's context (§5.6).
	ExtractionConsistencyTag = "evote-v1/threshold/extraction-consistency"
	// BatchWeightsProtocol is the transcript protocol name from which the
	// weights of a batched decryption proof are derived (§5.10).
	BatchWeightsProtocol = "evote-v1/threshold/batch-weights"
	// BatchWeightTag opens the hash that expands one batch weight (§5.10).
	BatchWeightTag = "evote-v1/threshold/batch-weight"

	// PedersenSeed and PedersenLabel define the second Pedersen generator
	// H = Generators(PedersenSeed, PedersenLabel, 1)[0] (spec §2.5).
	PedersenSeed  = "evote-v1/threshold"
	PedersenLabel = "pedersen-h"
)

// MaxTrustees bounds n: the manifest's bound (spec §9.1, §1.3), which every
// decoder of this package applies too, so that no message can name a
// trustee no election can have. Real elections have a handful.
const MaxTrustees = 32

// Errors callers branch on.
var (
	// ErrParams reports an invalid (n, t).
	ErrParams = errors.New("threshold: invalid parameters")
	// ErrMalformed reports a message that does not decode or does not fit
	// the parameters (wrong counts, indices out of range).
	ErrMalformed = errors.New("threshold: malformed message")
)

// Params are the number of trustees n and the threshold t: any t trustees
// can decrypt, t-1 cannot. Trustees are numbered 1..n.
type Params struct {
	N, T int
}

// Validate checks 1 ≤ t ≤ n ≤ MaxTrustees.
func (p Params) Validate() error {
	if p.N < 1 || p.N > MaxTrustees || p.T < 1 || p.T > p.N {
		return fmt.Errorf("%w: n=%d t=%d (want 1 ≤ t ≤ n ≤ %d)", ErrParams, p.N, p.T, MaxTrustees)
	}
	return nil
}

func (p Params) validIndex(i int) bool { return i >= 1 && i <= p.N }

var (
	pedersenOnce  sync.Once
	pedersenH     *group.Element
	pedersenTable *group.FixedBase
)

func pedersen() (*group.Element, *group.FixedBase) {
	pedersenOnce.Do(func() {
		pedersenH = group.Generators([]byte(PedersenSeed), PedersenLabel, 1)[0]
		pedersenTable = group.NewFixedBase(pedersenH)
	})
	return pedersenH, pedersenTable
}

// PedersenGenerator returns a copy of H, the second generator of Pedersen
// commitments: Generators("evote-v1/threshold", "pedersen-h", 1)[0]. Its
// discrete logarithm to g is unknown to everyone (spec §2.4).
func PedersenGenerator() *group.Element {
	h, _ := pedersen()
	return new(group.Element).Set(h)
}

// TrusteeKeys are the public keys a trustee registers before key
// generation: its board signing key (Ed25519, 32 bytes, checked by the board)
// and its HPKE key for receiving shares.
type TrusteeKeys struct {
	SigningKey [32]byte
	HPKEKey    HPKEPublicKey
}

// BaseHash returns the context hash used during key generation (spec §5.2):
//
//	SHA-256(string(BaseHashTag) || manifestHash || u16(n) || u16(t) ||
//	        u32(n) || (SigningKey_i || HPKEKey_i) for i = 1..n)
//
// manifestHash is the 32-byte hash of the election manifest (defined by the
// ballot chapter). keys[i-1] belongs to trustee i.
func BaseHash(manifestHash [32]byte, p Params, keys []TrusteeKeys) ([32]byte, error) {
	if err := p.Validate(); err != nil {
		return [32]byte{}, err
	}
	if len(keys) != p.N {
		return [32]byte{}, fmt.Errorf("%w: %d trustee keys for n=%d", ErrParams, len(keys), p.N)
	}
	for j, k := range keys {
		if err := k.HPKEKey.Validate(); err != nil {
			return [32]byte{}, fmt.Errorf("trustee %d: %w", j+1, err)
		}
	}
	signing := make([][32]byte, len(keys))
	hpke := make([][32]byte, len(keys))
	for i, k := range keys {
		signing[i], hpke[i] = k.SigningKey, k.HPKEKey
	}
	return contexthash.Base(manifestHash, p.N, p.T, signing, hpke), nil
}

// ExtendedHash returns the context hash of every proof after key generation
// (spec §5.2):
//
//	SHA-256(string(ExtendedHashTag) || baseHash || Element(jointKey) ||
//	        list<Element>(verificationKeys) || voterListCommitment)
//
// verificationKeys[j-1] is trustee j's h_j. It depends only on values fixed
// before it, so nothing is defined circularly.
func ExtendedHash(baseHash [32]byte, jointKey *group.Element, verificationKeys []*group.Element, voterListCommitment [32]byte) [32]byte {
	return contexthash.Extended(baseHash, jointKey, verificationKeys, voterListCommitment)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func randOrDefault(r io.Reader) io.Reader {
	if r == nil {
		return cryptorand.Reader
	}
	return r
}
