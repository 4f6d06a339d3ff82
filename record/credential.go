package record

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// CredentialIssued is the board entry (type 0x0203, spec/08-identity.md
// §8.8.1) the identity service posts each time it issues a voting token. It
// binds the token to the election's context hash, the voter's pseudonym,
// the ballot style and the device public key that will sign the ballot, so
// anyone can check that every ballot on the board was cast under a credential
// the identity service issued, and a voter who abstained can see that no
// credential was issued in their name. It carries no PIN, name or phone.
type CredentialIssued struct {
	ElectionID  string
	ContextHash [32]byte
	Pseudonym   [32]byte
	BallotStyle string
	DeviceKey   [32]byte // Ed25519 public key, canonical, not of small order
	TokenID     [16]byte // the token's "jti", decoded from base64url
	KeyID       string   // kid of the key that signed the token
	IssuedAt    uint64   // Unix seconds
	NotBefore   uint64
	ExpiresAt   uint64
}

// MaxCredentialLifetime bounds ExpiresAt − IssuedAt, in seconds (2 hours).
const MaxCredentialLifetime = 7200

// Encode returns the canonical encoding:
//
//	string(ElectionID) || ContextHash || Pseudonym || string(BallotStyle) ||
//	DeviceKey || TokenID || string(KeyID) || u64(IssuedAt) ||
//	u64(NotBefore) || u64(ExpiresAt)
func (c *CredentialIssued) Encode() []byte {
	w := &idWriter{}
	w.str(c.ElectionID)
	w.fixed(c.ContextHash[:])
	w.fixed(c.Pseudonym[:])
	w.str(c.BallotStyle)
	w.fixed(c.DeviceKey[:])
	w.fixed(c.TokenID[:])
	w.str(c.KeyID)
	w.u64(c.IssuedAt)
	w.u64(c.NotBefore)
	w.u64(c.ExpiresAt)
	return w.encoded()
}

// DecodeCredentialIssued strictly decodes b (see Encode) and checks every
// field's form: identifiers, a valid device key, a key id of the form
// IdentityKeyID gives, IssuedAt ≤ NotBefore < ExpiresAt and a lifetime of at
// most MaxCredentialLifetime.
func DecodeCredentialIssued(b []byte) (*CredentialIssued, error) {
	r := newIDReader(b)
	c := &CredentialIssued{}
	c.ElectionID = r.id("election id")
	r.fixed(c.ContextHash[:], "context hash")
	r.fixed(c.Pseudonym[:], "pseudonym")
	c.BallotStyle = r.id("ballot style")
	r.edKey(&c.DeviceKey, "device key")
	r.fixed(c.TokenID[:], "token id")
	c.KeyID = r.str(MaxIDLen, "key id")
	c.IssuedAt = r.u64("issued at")
	c.NotBefore = r.u64("not before")
	c.ExpiresAt = r.u64("expires at")
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("record: credential issued: %w", err)
	}
	if !validKeyID(c.KeyID) {
		return nil, fmt.Errorf("record: credential issued: %w: key id %q", ErrMalformed, c.KeyID)
	}
	if c.NotBefore < c.IssuedAt || c.ExpiresAt <= c.NotBefore || c.ExpiresAt-c.IssuedAt > MaxCredentialLifetime {
		return nil, fmt.Errorf("record: credential issued: %w: validity period", ErrMalformed)
	}
	return c, nil
}

// IdentityKeyIDTag is the domain tag of IdentityKeyID.
const IdentityKeyIDTag = "evote-v1/idp-key-id"

// IdentityKeyID derives the key id ("kid") of an identity-service signing
// key: "idp-" followed by the first 8 bytes, in lowercase hex, of
// SHA-256(string("evote-v1/idp-key-id") || pub). A kid derived from its key
// cannot be reused for another key.
func IdentityKeyID(pub []byte) string {
	w := &idWriter{}
	w.str(IdentityKeyIDTag)
	w.fixed(pub)
	h := sha256.New()
	h.Write(w.encoded())
	return "idp-" + hex.EncodeToString(h.Sum(nil)[:8])
}

func validKeyID(s string) bool {
	if len(s) != 20 || s[:4] != "idp-" {
		return false
	}
	for i := 4; i < 20; i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IdentityKey is one signing key of the identity service.
type IdentityKey struct {
	KeyID     string   // IdentityKeyID(PublicKey)
	PublicKey [32]byte // Ed25519
	ValidFrom uint64   // Unix seconds when it began signing
	RetiredAt uint64   // Unix seconds when it stopped signing; 0 while current
}

// ValidAt reports whether the key may have signed at time t (Unix seconds):
// its validity window is [ValidFrom, RetiredAt], or [ValidFrom, ∞) while it
// is current (spec/08-identity.md §8.8.2). The window is closed at
// RetiredAt because the identity service retires a key at the second its
// successor becomes current, and a token signed in that second is valid.
func (k *IdentityKey) ValidAt(t uint64) bool {
	return k.ValidFrom <= t && (k.RetiredAt == 0 || t <= k.RetiredAt)
}

// IdentityKeySet is the board entry (type 0x0003, §8.8.2) listing every key
// the identity service ever signed tokens with for an election, so that
// every CredentialIssued and every token can be checked by anyone.
type IdentityKeySet struct {
	ElectionID  string
	ContextHash [32]byte
	Issuer      string // the tokens' "iss", at most 256 bytes
	Audience    string // the tokens' "aud", at most 256 bytes
	Keys        []IdentityKey
}

// Key returns the key with id kid.
func (s *IdentityKeySet) Key(kid string) (IdentityKey, bool) {
	for _, k := range s.Keys {
		if k.KeyID == kid {
			return k, true
		}
	}
	return IdentityKey{}, false
}

// MaxIdentityKeys bounds the keys of one IdentityKeySet.
const MaxIdentityKeys = 64

// Encode returns the canonical encoding:
//
//	string(ElectionID) || ContextHash || string(Issuer) || string(Audience) ||
//	list<string(KeyID) || PublicKey || u64(ValidFrom) || u64(RetiredAt)>
//
// with keys in strictly increasing byte order of KeyID.
func (s *IdentityKeySet) Encode() []byte {
	w := &idWriter{}
	w.str(s.ElectionID)
	w.fixed(s.ContextHash[:])
	w.str(s.Issuer)
	w.str(s.Audience)
	w.u32(uint32(len(s.Keys)))
	for _, k := range s.Keys {
		w.str(k.KeyID)
		w.fixed(k.PublicKey[:])
		w.u64(k.ValidFrom)
		w.u64(k.RetiredAt)
	}
	return w.encoded()
}

// DecodeIdentityKeySet strictly decodes b. Besides the encoding rules it
// checks: 1 to MaxIdentityKeys keys, sorted strictly by KeyID, each KeyID
// equal to IdentityKeyID(PublicKey), each key valid, RetiredAt either 0 or
// after ValidFrom, and at most one key not retired.
func DecodeIdentityKeySet(b []byte) (*IdentityKeySet, error) {
	r := newIDReader(b)
	s := &IdentityKeySet{}
	s.ElectionID = r.id("election id")
	r.fixed(s.ContextHash[:], "context hash")
	s.Issuer = r.str(256, "issuer")
	s.Audience = r.str(256, "audience")
	n := r.count(MaxIdentityKeys, 4+32+16, "keys")
	for i := 0; i < n && !r.failed(); i++ {
		var k IdentityKey
		k.KeyID = r.str(MaxIDLen, "key id")
		r.edKey(&k.PublicKey, "public key")
		k.ValidFrom = r.u64("valid from")
		k.RetiredAt = r.u64("retired at")
		s.Keys = append(s.Keys, k)
	}
	if err := r.end(); err != nil {
		return nil, fmt.Errorf("record: identity key set: %w", err)
	}
	if s.Issuer == "" || s.Audience == "" || len(s.Keys) == 0 {
		return nil, fmt.Errorf("record: identity key set: %w: empty issuer, audience or key list", ErrMalformed)
	}
	current := 0
	for i, k := range s.Keys {
		if k.KeyID != IdentityKeyID(k.PublicKey[:]) {
			return nil, fmt.Errorf("record: identity key set: %w: key %d: id is not derived from the key", ErrMalformed, i)
		}
		if i > 0 && s.Keys[i-1].KeyID >= k.KeyID {
			return nil, fmt.Errorf("record: identity key set: %w: keys not strictly sorted by id", ErrMalformed)
		}
		if k.RetiredAt == 0 {
			current++
		} else if k.RetiredAt <= k.ValidFrom {
			return nil, fmt.Errorf("record: identity key set: %w: key %d retired before it was valid", ErrMalformed, i)
		}
	}
	if current > 1 {
		return nil, fmt.Errorf("record: identity key set: %w: %d keys current, at most 1", ErrMalformed, current)
	}
	return s, nil
}
