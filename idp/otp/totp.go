package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// TOTP is a time-based one-time password generator (RFC 6238) with
// HMAC-SHA-1, the algorithm every authenticator app supports: a code is
// HOTP(K, T) (RFC 4226 §5.3) with T = floor(Unix time / Period).
type TOTP struct {
	Secret []byte        // at least 16 bytes; 20 from NewTOTPSecret
	Digits int           // 6 to 8; default 6
	Period time.Duration // default 30 s
}

// TOTPSecretSize is the size of secrets NewTOTPSecret draws (RFC 4226 §4
// recommends 160 bits).
const TOTPSecretSize = 20

// ErrTOTP is returned for a code that does not verify or was already used.
var ErrTOTP = errors.New("otp: authenticator code does not verify")

// NewTOTPSecret draws a secret with crypto/rand.
func NewTOTPSecret() ([]byte, error) {
	s := make([]byte, TOTPSecretSize)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("otp: %w", err)
	}
	return s, nil
}

func (t *TOTP) params() (digits int, period time.Duration) {
	digits, period = t.Digits, t.Period
	if digits == 0 {
		digits = 6
	}
	if period == 0 {
		period = 30 * time.Second
	}
	return digits, period
}

// Step returns the time step of now.
func (t *TOTP) Step(now time.Time) int64 {
	_, p := t.params()
	return now.Unix() / int64(p/time.Second)
}

// CodeAt returns the code of time step step.
func (t *TOTP) CodeAt(step int64) string {
	digits, _ := t.params()
	m := hmac.New(sha1.New, t.Secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f // dynamic truncation, RFC 4226 §5.3
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for i := 0; i < digits; i++ {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// Verify checks code against the steps now−1, now and now+1 (RFC 6238 §5.2
// allows one step of drift each way), comparing in constant time, and
// refuses a step not after lastStep so a code is never accepted twice. It
// returns the step that matched, to be stored as the next lastStep.
func (t *TOTP) Verify(code string, now time.Time, lastStep int64) (int64, error) {
	digits, _ := t.params()
	if len(t.Secret) < 16 || digits < 6 || digits > 8 || len(code) != digits {
		return 0, ErrTOTP
	}
	cur := t.Step(now)
	var matched int64 = -1
	for s := cur - 1; s <= cur+1; s++ {
		ok := subtle.ConstantTimeCompare([]byte(t.CodeAt(s)), []byte(code)) == 1
		if ok && s > lastStep && matched < 0 {
			matched = s
		}
	}
	if matched < 0 {
		return 0, ErrTOTP
	}
	return matched, nil
}

// ProvisioningURI returns the otpauth:// URI authenticator apps read from a
// QR code. The label must not be personal data: use the election name.
func (t *TOTP) ProvisioningURI(issuer, label string) string {
	digits, period := t.params()
	v := url.Values{}
	v.Set("secret", base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(t.Secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", fmt.Sprint(digits))
	v.Set("period", fmt.Sprint(int(period/time.Second)))
	return "otpauth://totp/" + url.PathEscape(issuer+":"+label) + "?" + v.Encode()
}
