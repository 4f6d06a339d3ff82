// Package keytext decodes the fixed-size binary values operators copy
// between tools (public keys, seeds, hashes) in any of the three
// encodings the tools print: hex, standard base64 and base64url, padded
// or not (issue 19, finding 2). The encoding is decided by length and
// alphabet, never by trial: for a given size the hex, padded and unpadded
// base64 lengths all differ, and a text mixing the standard and URL
// alphabets is refused. Decoding is strict (canonical base64, unused bits
// zero), so one value has exactly one text in each encoding.
package keytext

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrKey is the error of a text that is no value of the wanted size.
var ErrKey = errors.New("keytext: not a key")

// Decode returns the size bytes written in s (surrounding spaces and line
// ends ignored) in hex (either case), base64 or base64url, with or
// without padding. Its error names the lengths it accepts and never
// repeats s (which may be a secret).
func Decode(s string, size int) ([]byte, error) {
	s = strings.TrimSpace(s)
	hexLen := 2 * size
	padLen := 4 * ((size + 2) / 3)
	rawLen := (size*8 + 5) / 6
	want := func(why string) error {
		return fmt.Errorf("%w: want %d bytes as %d hex digits or %d (unpadded %d) base64 or base64url characters; got %d characters%s",
			ErrKey, size, hexLen, padLen, rawLen, len(s), why)
	}
	std := strings.ContainsAny(s, "+/")
	url := strings.ContainsAny(s, "-_")
	if std && url {
		return nil, want(" mixing base64 (+/) and base64url (-_)")
	}
	var enc *base64.Encoding
	switch {
	case len(s) == hexLen:
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, want(" that are not all hex digits")
		}
		return b, nil
	case len(s) == padLen && strings.HasSuffix(s, "=") || len(s) == padLen && padLen == rawLen:
		enc = base64.StdEncoding
		if url {
			enc = base64.URLEncoding
		}
	case len(s) == rawLen:
		enc = base64.RawStdEncoding
		if url {
			enc = base64.RawURLEncoding
		}
	default:
		return nil, want("")
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil || len(b) != size {
		return nil, want(" that are not canonical base64")
	}
	return b, nil
}
