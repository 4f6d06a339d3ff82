package official

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// TOTP secrets at rest. With Config.SealKey set, the database holds each
// secret sealed with XChaCha20-Poly1305 under that key, bound to its user
// name (so a sealed secret copied to another row does not open):
//
//	"sealed-v1:" || base64url(nonce[24] || ciphertext)
//	ciphertext = Seal(key, nonce, base32 secret, aad = "evote/official/totp:" || username)
//
// A copy of the database alone then does not let anyone compute an
// official's codes. Rows written without a key (plain base32) are still
// read, and sealed at the official's next successful login.
const sealedPrefix = "sealed-v1:"

// ErrSealKey means a stored TOTP secret could not be opened: sealed under
// another key, sealed while no key is configured, or altered.
var ErrSealKey = errors.New("official: a stored TOTP secret does not open under the configured seal key")

func totpAAD(user string) []byte { return []byte("evote/official/totp:" + user) }

// sealSecret returns what the database stores for user's secret.
func (s *Service) sealSecret(user, secret string) (string, error) {
	if s.aead == nil {
		return secret, nil
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(secret)+chacha20poly1305.Overhead)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(secret), totpAAD(user))), nil
}

// openSecret returns the base32 secret of a stored value, and whether the
// value is sealed.
func (s *Service) openSecret(user, stored string) (string, bool, error) {
	rest, sealed := strings.CutPrefix(stored, sealedPrefix)
	if !sealed {
		return stored, false, nil
	}
	if s.aead == nil {
		return "", true, fmt.Errorf("%w: no seal key is configured", ErrSealKey)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return "", true, fmt.Errorf("%w: malformed", ErrSealKey)
	}
	plain, err := s.aead.Open(nil, b[:chacha20poly1305.NonceSizeX], b[chacha20poly1305.NonceSizeX:], totpAAD(user))
	if err != nil {
		return "", true, ErrSealKey
	}
	return string(plain), true, nil
}
