package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"evote/bulletin"
)

// Signature type prefixes of the log's verifier keys (spec §11.2): the
// C2SP signed-note Ed25519 type and evote's ML-DSA-65 type (chapter 7).
var (
	keyTypeEd25519 = []byte{0x01}
	keyTypeMLDSA   = append([]byte{0xff}, "evote-v1/ml-dsa-65"...)
)

// FormatLogKey returns the log's verifier key as text: one line per key,
// each "<origin>+<key id hex>+<base64(type || public key)>" (the C2SP
// signed-note verifier key format).
func FormatLogKey(v bulletin.LogVerifier) string {
	line := func(typ, pub []byte) string {
		id := bulletin.KeyID(v.Origin, typ, pub)
		return v.Origin + "+" + hex.EncodeToString(id[:]) + "+" + base64.StdEncoding.EncodeToString(append(append([]byte{}, typ...), pub...)) + "\n"
	}
	s := line(keyTypeEd25519, v.Ed25519[:])
	if v.MLDSA != nil {
		s += line(keyTypeMLDSA, v.MLDSA)
	}
	return s
}

// ParseLogKey parses the text of FormatLogKey: exactly one Ed25519 line and
// at most one ML-DSA-65 line, for the same origin, each with a key id that
// matches its key.
func ParseLogKey(text string) (bulletin.LogVerifier, error) {
	var v bulletin.LogVerifier
	var haveEd bool
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		parts := strings.SplitN(l, "+", 3)
		if len(parts) != 3 {
			return v, fmt.Errorf("verify: log key line %q: want origin+keyid+key", l)
		}
		origin := parts[0]
		if err := bulletin.ValidOrigin(origin); err != nil {
			return v, fmt.Errorf("verify: log key: %w", err)
		}
		if v.Origin != "" && v.Origin != origin {
			return v, fmt.Errorf("verify: log key lines for two origins")
		}
		id, err := hex.DecodeString(parts[1])
		if err != nil || len(id) != 4 {
			return v, fmt.Errorf("verify: log key id %q", parts[1])
		}
		raw, err := base64.StdEncoding.Strict().DecodeString(parts[2])
		if err != nil {
			return v, fmt.Errorf("verify: log key: %w", err)
		}
		var typ []byte
		switch {
		case len(raw) == 33 && raw[0] == keyTypeEd25519[0]:
			if haveEd {
				return v, fmt.Errorf("verify: two Ed25519 log keys")
			}
			typ, haveEd = keyTypeEd25519, true
			copy(v.Ed25519[:], raw[1:])
		case bytes.HasPrefix(raw, keyTypeMLDSA) && len(raw) > len(keyTypeMLDSA):
			if v.MLDSA != nil {
				return v, fmt.Errorf("verify: two ML-DSA log keys")
			}
			typ = keyTypeMLDSA
			v.MLDSA = bytes.Clone(raw[len(keyTypeMLDSA):])
		default:
			return v, fmt.Errorf("verify: log key of unknown type or length")
		}
		if want := bulletin.KeyID(origin, typ, raw[len(typ):]); !bytes.Equal(want[:], id) {
			return v, fmt.Errorf("verify: log key id %s does not match the key", parts[1])
		}
		v.Origin = origin
	}
	if !haveEd {
		return v, fmt.Errorf("verify: no Ed25519 log key")
	}
	return v, nil
}
