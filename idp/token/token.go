// Package token issues and verifies voting tokens: short-lived JWTs (RFC
// 7519) signed with EdDSA/Ed25519 (RFC 8037) by the identity service, bound to
// one election, one voter pseudonym, one ballot style and one device public
// key (the "cnf" claim of RFC 7800 §3.2). The format is spec/08-identity.md
// §8.6.
//
// The ballot box imports only this package and the identity service's public
// key set: it calls Verifier.Verify on the bearer token of a cast request and
// checks the ballot's signature under Claims.DeviceKey. Package token knows
// nothing of the identity service itself, and a token carries no PIN, name or
// phone number.
package token

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"evote/crypto/sig"
	"evote/record"
)

// Type is the JOSE "typ" header of a voting token (explicit typing, RFC 8725
// §3.11): a verifier refuses a JWT of any other type, so an ID token or an
// access token of another system signed by the same key cannot pass as one.
const Type = "evote-voter+jwt"

// Algorithm is the only accepted JOSE "alg".
const Algorithm = "EdDSA"

// MaxTokenLen bounds the size of a token accepted for parsing.
const MaxTokenLen = 4096

// Errors. Every rejection wraps ErrInvalid; a few reasons have their own
// sentinel for callers that answer differently (an expired token asks the
// voter to sign in again).
var (
	ErrInvalid       = errors.New("token: invalid voting token")
	ErrExpired       = errors.New("token: expired")
	ErrWrongElection = errors.New("token: issued for another election")
	ErrUnknownKey    = errors.New("token: unknown key id")
	ErrKeyWindow     = errors.New("token: issued outside its key's validity window")
	// ErrUnknownClaim: a header parameter or claim that spec §8.6 does not
	// list (a verifier that ignored it would accept a token whose meaning
	// the issuer did not intend, e.g. "crit" or a private claim).
	ErrUnknownClaim = errors.New("token: unknown header parameter or claim")
)

// Claims is what a voting token says, decoded and checked.
type Claims struct {
	Issuer      string
	Audience    string
	ElectionID  string
	ContextHash [32]byte // the election's context hash (spec chapter 1)
	Pseudonym   [32]byte // the voter's pseudonym (spec §8.5)
	BallotStyle string
	DeviceKey   ed25519.PublicKey // 32 bytes; the ballot is signed with its private half
	TokenID     string            // "jti": 22 base64url characters (16 random bytes)
	KeyID       string            // "kid" of the signing key
	IssuedAt    time.Time
	NotBefore   time.Time
	ExpiresAt   time.Time
	// Mark: the token of an in-person mark's row in deniable re-voting
	// mode (claim "mark": true, spec §8.6, §15.16.4). The ballot box
	// accepts such a token for the mark's row only, and only such a token
	// for it: a polling station's device cannot cast an online ballot for
	// the voter it marks.
	Mark bool
}

// PseudonymHex returns the pseudonym as the token's "sub": 64 lowercase hex
// digits.
func (c *Claims) PseudonymHex() string { return hex.EncodeToString(c.Pseudonym[:]) }

// KeyID derives the key id of an identity-service public key (record.IdentityKeyID:
// "idp-" and 16 hex digits of a tagged SHA-256 of the key). Deriving it from
// the key means a kid cannot silently be reused for another key.
func KeyID(pub ed25519.PublicKey) string { return record.IdentityKeyID(pub) }

var (
	electionIDRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	ballotStyleRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	tokenIDRe     = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	kidRe         = regexp.MustCompile(`^idp-[0-9a-f]{16}$`)
)

// ValidElectionID reports whether s is a well-formed election id: 1 to 64
// characters from [A-Za-z0-9._-], starting with a letter or digit.
func ValidElectionID(s string) bool { return electionIDRe.MatchString(s) }

// ValidBallotStyle reports whether s is a well-formed ballot style (same
// alphabet and length as an election id).
func ValidBallotStyle(s string) bool { return ballotStyleRe.MatchString(s) }

func validKeySet(keys map[string]ed25519.PublicKey) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: empty key set", ErrInvalid)
	}
	for kid, k := range keys {
		if len(k) != ed25519.PublicKeySize || kid != KeyID(k) {
			return fmt.Errorf("token: key set entry %q is not a well-formed Ed25519 key under its derived id", kid)
		}
		if err := sig.CheckPublicKey(k); err != nil {
			return fmt.Errorf("token: key set entry %q: %w", kid, err)
		}
	}
	return nil
}
