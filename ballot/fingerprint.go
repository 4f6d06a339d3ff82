package ballot

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrFingerprintMismatch means a manifest is not the one whose fingerprint
// the officials published: whoever served it is not running the election
// the party was told of.
var ErrFingerprintMismatch = errors.New("ballot: the manifest does not have the published fingerprint")

// A Fingerprint identifies an election: the manifest hash (spec §9.2),
// which binds everything fixed before key generation, including the
// board's trust anchors. The officials publish it out of band (gazette,
// website, posters); every party checks the manifest it is served against
// it before trusting anything the manifest pins.
type Fingerprint [32]byte

// Fingerprint returns the election's fingerprint.
func (m *Manifest) Fingerprint() Fingerprint { return Fingerprint(m.Hash()) }

// shortFingerprintBytes is how much of the hash the short form shows: 160
// bits, so forging a manifest with a given short form costs 2^160 hashes.
const shortFingerprintBytes = 20

// String returns the short form for people: the first 20 bytes in base32
// (RFC 4648, no padding), in eight groups of four, as tracking codes are
// written, e.g. "ABCD-EFGH-…".
func (f Fingerprint) String() string {
	s := codeEncoding.EncodeToString(f[:shortFingerprintBytes])
	parts := make([]string, 0, len(s)/4)
	for i := 0; i < len(s); i += 4 {
		parts = append(parts, s[i:i+4])
	}
	return strings.Join(parts, "-")
}

// Hex returns the whole fingerprint in lowercase hex.
func (f Fingerprint) Hex() string { return hex.EncodeToString(f[:]) }

// An ExpectedFingerprint is a fingerprint as a party was given it: the
// whole hash (64 hex digits) or its short form (String). Check compares a
// manifest with it.
type ExpectedFingerprint struct{ prefix []byte }

// ParseFingerprint parses a fingerprint in either form. The short form is
// read case-insensitively, with or without its dashes and spaces.
func ParseFingerprint(s string) (ExpectedFingerprint, error) {
	s = strings.TrimSpace(s)
	if len(s) == 64 {
		b, err := hex.DecodeString(s)
		if err != nil {
			return ExpectedFingerprint{}, fmt.Errorf("ballot: fingerprint of 64 characters is not hex: %w", err)
		}
		return ExpectedFingerprint{b}, nil
	}
	compact := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(s))
	b, err := codeEncoding.DecodeString(compact)
	if err != nil || len(b) != shortFingerprintBytes {
		return ExpectedFingerprint{}, fmt.Errorf("ballot: fingerprint %q is neither 64 hex digits nor the short form XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX", s)
	}
	return ExpectedFingerprint{b}, nil
}

// ExpectFingerprint returns the expected fingerprint of a manifest the
// party holds itself (a manifest file).
func ExpectFingerprint(f Fingerprint) ExpectedFingerprint {
	return ExpectedFingerprint{bytes.Clone(f[:])}
}

// IsZero reports whether no fingerprint was given.
func (e ExpectedFingerprint) IsZero() bool { return len(e.prefix) == 0 }

// Check returns nil if m has the expected fingerprint, else an error
// wrapping ErrFingerprintMismatch that shows both.
func (e ExpectedFingerprint) Check(m *Manifest) error {
	if e.IsZero() {
		return fmt.Errorf("%w: no fingerprint to compare with", ErrFingerprintMismatch)
	}
	f := m.Fingerprint()
	if !bytes.Equal(f[:len(e.prefix)], e.prefix) {
		return fmt.Errorf("%w: the served manifest's is %s, expected %s", ErrFingerprintMismatch, f, e)
	}
	return nil
}

// String returns the expected fingerprint in the form it was given.
func (e ExpectedFingerprint) String() string {
	var f Fingerprint
	copy(f[:], e.prefix)
	if len(e.prefix) == len(f) {
		return f.Hex()
	}
	return f.String()
}
