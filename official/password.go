package official

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters (RFC 9106 §4; the second
// recommended option is t=3, m=64 MiB).
type Argon2Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultArgon2 is RFC 9106's second recommended option.
var DefaultArgon2 = Argon2Params{Time: 3, Memory: 64 << 10, Threads: 2}

const (
	saltSize = 16
	hashSize = 32
	// MinPassword and MaxPassword bound officials' passwords.
	MinPassword = 12
	MaxPassword = 256
)

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string
// $argon2id$v=19$m=<m>,t=<t>,p=<p>$<salt>$<hash>.
func HashPassword(password string, p Argon2Params) (string, error) {
	if len(password) < MinPassword || len(password) > MaxPassword {
		return "", fmt.Errorf("%w: password must be %d to %d bytes", ErrInvalid, MinPassword, MaxPassword)
	}
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, hashSize)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(h)), nil
}

var errHash = errors.New("official: malformed password hash")

// checkPassword verifies password against a PHC string in constant time.
func checkPassword(password, phc string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errHash
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || p.Time == 0 || p.Memory == 0 || p.Threads == 0 || p.Memory > 1<<21 || p.Time > 100 || p.Memory < 8*uint32(p.Threads) {
		return false, errHash
	}
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) != hashSize || len(salt) < 8 || len(salt) > 64 {
		return false, errHash
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, hashSize)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
