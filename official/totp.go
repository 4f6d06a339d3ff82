package official

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters (RFC 6238 §4 with the defaults every authenticator app
// supports): HMAC-SHA-1, 30-second steps from the Unix epoch, 6 digits.
const (
	totpStep   = 30
	totpDigits = 6
	// totpSkew is how many steps before and after the current one are
	// accepted, for clock drift between the official's phone and the server.
	totpSkew = 1
	// TOTPSecretSize is the size of a generated secret (RFC 4226 §4
	// recommends at least 160 bits).
	TOTPSecretSize = 20
)

var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// hotp is RFC 4226 §5.3: dynamic truncation of HMAC-SHA-1(key, counter).
func hotp(key []byte, counter uint64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, v%1_000_000)
}

// totpCheck compares code with the codes of the steps around now in
// constant time and returns the matching step. Steps at or before
// lastStep are refused, so a code is used once (RFC 6238 §5.2).
func totpCheck(key []byte, code string, now time.Time, lastStep uint64) (uint64, bool) {
	if len(code) != totpDigits {
		return 0, false
	}
	cur := uint64(now.Unix()) / totpStep
	var found uint64
	ok := 0
	for d := -totpSkew; d <= totpSkew; d++ {
		step := uint64(int64(cur) + int64(d))
		eq := subtle.ConstantTimeCompare([]byte(hotp(key, step)), []byte(code))
		if eq == 1 && step > lastStep {
			found, ok = step, 1
		}
	}
	return found, ok == 1
}

// TOTPCode returns the current code for a base32 secret (for tests and
// the bootstrap printout).
func TOTPCode(secret string, now time.Time) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return hotp(key, uint64(now.Unix())/totpStep), nil
}

func decodeSecret(s string) ([]byte, error) {
	key, err := totpEncoding.DecodeString(strings.ToUpper(strings.TrimRight(s, "=")))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("official: TOTP secret must be base32 of at least 16 bytes")
	}
	return key, nil
}

// TOTPURI is the otpauth:// URI that authenticator apps import (as a QR
// code): issuer and account label, the secret, and the parameters.
func TOTPURI(issuer, user, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return "otpauth://totp/" + url.PathEscape(issuer+":"+user) + "?" + v.Encode()
}
