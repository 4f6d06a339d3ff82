package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"filippo.io/edwards25519"
)

// ErrMalformed is wrapped by every decoding error of this package's identity
// records: wrong length, trailing bytes, a value outside its range, an
// identifier outside its alphabet, a non-canonical key.
var ErrMalformed = errors.New("record: malformed")

// idWriter appends the canonical encodings of spec/01-encoding.md §1.1.
type idWriter struct{ b []byte }

func (w *idWriter) u8(v uint8)   { w.b = append(w.b, v) }
func (w *idWriter) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *idWriter) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *idWriter) fixed(p []byte) {
	w.b = append(w.b, p...)
}
func (w *idWriter) bytes(p []byte) {
	w.u32(uint32(len(p)))
	w.b = append(w.b, p...)
}
func (w *idWriter) str(s string) { w.bytes([]byte(s)) }

// idReader consumes canonical encodings; the first error sticks and every
// later read returns zero values, so decoders check err once at the end.
type idReader struct {
	b   []byte
	err error
}

func (r *idReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
	}
}

func (r *idReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("%s: truncated", what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *idReader) u8(what string) uint8 {
	p := r.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *idReader) u32(what string) uint32 {
	p := r.take(4, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *idReader) u64(what string) uint64 {
	p := r.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

func (r *idReader) fixed(dst []byte, what string) {
	if p := r.take(len(dst), what); p != nil {
		copy(dst, p)
	}
}

// str reads a string of at most max bytes.
func (r *idReader) str(max int, what string) string {
	n := r.u32(what + " length")
	if r.err != nil {
		return ""
	}
	if int64(n) > int64(max) {
		r.fail("%s: length %d above limit %d", what, n, max)
		return ""
	}
	p := r.take(int(n), what)
	if p == nil {
		return ""
	}
	if !utf8.Valid(p) {
		r.fail("%s: invalid UTF-8", what)
		return ""
	}
	return string(p)
}

// count reads a list count, rejecting one above max or one that cannot fit in
// the remaining bytes at minItem bytes per item.
func (r *idReader) count(max, minItem int, what string) int {
	n := r.u32(what + " count")
	if r.err != nil {
		return 0
	}
	if int64(n) > int64(max) || int64(n)*int64(minItem) > int64(len(r.b)) {
		r.fail("%s: count %d too large", what, n)
		return 0
	}
	return int(n)
}

func (r *idReader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

// MaxIDLen bounds every identifier (election id, ballot style, station and
// official ids, key ids).
const MaxIDLen = 64

// ValidID reports whether s is a well-formed identifier: 1 to 64 characters
// from [A-Za-z0-9._-], the first a letter or digit (spec/08-identity.md §8.7).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}

func (r *idReader) id(what string) string {
	s := r.str(MaxIDLen, what)
	if r.err == nil && !ValidID(s) {
		r.fail("%s: not a well-formed identifier", what)
	}
	return s
}

// ValidEd25519Key reports whether k is a canonical encoding of an Ed25519
// point that is not of small order: the keys a strict verifier accepts
// (spec/07-bulletin.md §7.3).
func ValidEd25519Key(k []byte) bool {
	if len(k) != 32 {
		return false
	}
	p, err := new(edwards25519.Point).SetBytes(k)
	if err != nil {
		return false
	}
	enc := p.Bytes()
	for i := range enc {
		if enc[i] != k[i] {
			return false
		}
	}
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1
}

func (r *idReader) edKey(dst *[32]byte, what string) {
	r.fixed(dst[:], what)
	if r.err == nil && !ValidEd25519Key(dst[:]) {
		r.fail("%s: not a valid Ed25519 public key", what)
	}
}
