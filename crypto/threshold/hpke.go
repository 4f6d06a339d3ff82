package threshold

import (
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"

	"evote/crypto/group"
)

// The HPKE suite for shares (RFC 9180 §7): DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, ChaCha20-Poly1305, base mode.
var shareSuite = hpke.NewSuite(hpke.KEM_X25519_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_ChaCha20Poly1305)

const (
	// HPKEKeySize is the length of an HPKE public key and of an
	// encapsulated key (X25519).
	HPKEKeySize    = 32
	sharePlainSize = 2 * group.ScalarSize
	// ShareCiphertextSize is the length of an encrypted share: the two
	// scalars and the 16-byte Poly1305 tag.
	ShareCiphertextSize = sharePlainSize + 16
)

// ErrShareDecryption is returned when an encrypted share does not open: it
// was not sealed to this recipient, for this dealer and election, or was
// altered.
var ErrShareDecryption = errors.New("threshold: encrypted share does not open")

// An HPKEPublicKey is a trustee's X25519 key for receiving shares.
type HPKEPublicKey [HPKEKeySize]byte

// ErrHPKEKey is returned for an HPKE public key of small order, to which
// nothing can be encrypted (RFC 7748 §6.1: the shared secret would be zero).
var ErrHPKEKey = errors.New("threshold: hpke public key of small order")

// probeKey is a fixed X25519 scalar used only to test public keys.
var probeKey, _ = ecdh.X25519().NewPrivateKey(make([]byte, 32))

// Validate rejects a key of small order: X25519 with any scalar gives the
// all-zero output, so no share could be encrypted to it (a corrupt trustee
// registering such a key would otherwise stall every honest dealer).
func (k HPKEPublicKey) Validate() error {
	pub, err := ecdh.X25519().NewPublicKey(k[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHPKEKey, err)
	}
	if _, err := probeKey.ECDH(pub); err != nil {
		return ErrHPKEKey
	}
	return nil
}

// An HPKEPrivateKey is a trustee's X25519 key for opening shares.
type HPKEPrivateKey struct {
	sk  kem.PrivateKey
	pub HPKEPublicKey
}

// GenerateHPKEKey derives a key pair from 32 bytes of rand (crypto/rand
// when nil) with DeriveKeyPair of RFC 9180 §7.1.3.
func GenerateHPKEKey(rand io.Reader) (*HPKEPrivateKey, error) {
	var seed [32]byte
	if _, err := io.ReadFull(randOrDefault(rand), seed[:]); err != nil {
		return nil, fmt.Errorf("threshold: hpke key: %w", err)
	}
	return NewHPKEPrivateKey(seed[:])
}

// NewHPKEPrivateKey derives the key pair of a 32-byte seed (RFC 9180
// DeriveKeyPair), so a trustee can keep only the seed.
func NewHPKEPrivateKey(seed []byte) (*HPKEPrivateKey, error) {
	if len(seed) != 32 {
		return nil, fmt.Errorf("threshold: hpke seed is %d bytes, want 32", len(seed))
	}
	pk, sk := hpke.KEM_X25519_HKDF_SHA256.Scheme().DeriveKeyPair(seed)
	b, err := pk.MarshalBinary()
	if err != nil || len(b) != HPKEKeySize {
		return nil, fmt.Errorf("threshold: hpke public key encoding failed")
	}
	k := &HPKEPrivateKey{sk: sk}
	copy(k.pub[:], b)
	return k, nil
}

// Public returns the public key.
func (k *HPKEPrivateKey) Public() HPKEPublicKey { return k.pub }

// shareInfo is the HPKE info string binding a share to its election,
// dealer and recipient (spec §5.4):
// string(ShareInfoTag) || baseHash || u16(dealer) || u16(recipient).
func shareInfo(base [32]byte, dealer, recipient int) []byte {
	b := appendString(nil, ShareInfoTag)
	b = append(b, base[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(dealer))
	return binary.BigEndian.AppendUint16(b, uint16(recipient))
}

// sealShare encrypts Scalar(s) || Scalar(s') to pk.
func sealShare(rand io.Reader, pk HPKEPublicKey, base [32]byte, dealer, recipient int, s, s2 *group.Scalar) (enc [HPKEKeySize]byte, ct [ShareCiphertextSize]byte, err error) {
	pub, err := hpke.KEM_X25519_HKDF_SHA256.Scheme().UnmarshalBinaryPublicKey(pk[:])
	if err != nil {
		return enc, ct, fmt.Errorf("threshold: recipient %d hpke key: %w", recipient, err)
	}
	sender, err := shareSuite.NewSender(pub, shareInfo(base, dealer, recipient))
	if err != nil {
		return enc, ct, fmt.Errorf("threshold: hpke sender: %w", err)
	}
	e, sealer, err := sender.Setup(randOrDefault(rand))
	if err != nil {
		return enc, ct, fmt.Errorf("threshold: hpke setup for recipient %d: %w", recipient, err)
	}
	pt := append(s.Bytes(), s2.Bytes()...)
	c, err := sealer.Seal(pt, nil)
	if err != nil || len(e) != HPKEKeySize || len(c) != ShareCiphertextSize {
		return enc, ct, fmt.Errorf("threshold: hpke seal failed")
	}
	copy(enc[:], e)
	copy(ct[:], c)
	return enc, ct, nil
}

// openShare decrypts a share sealed by sealShare and decodes its scalars.
func openShare(k *HPKEPrivateKey, base [32]byte, dealer, recipient int, enc, ct []byte) (*group.Scalar, *group.Scalar, error) {
	r, err := shareSuite.NewReceiver(k.sk, shareInfo(base, dealer, recipient))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrShareDecryption, err)
	}
	opener, err := r.Setup(enc)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrShareDecryption, err)
	}
	pt, err := opener.Open(ct, nil)
	if err != nil || len(pt) != sharePlainSize {
		return nil, nil, ErrShareDecryption
	}
	s, err1 := new(group.Scalar).SetCanonicalBytes(pt[:32])
	s2, err2 := new(group.Scalar).SetCanonicalBytes(pt[32:])
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("%w: non-canonical scalar", ErrShareDecryption)
	}
	return s, s2, nil
}
