package record

import (
	"errors"
	"fmt"

	"evote/crypto/sig"
	"evote/internal/wire"
)

// ErrMalformed is wrapped by every decoding error of this package's identity
// records: wrong length, trailing bytes, a value outside its range, an
// identifier outside its alphabet, a non-canonical key.
var ErrMalformed = errors.New("record: malformed")

// idWriter and idReader adapt internal/wire, the canonical encoding of
// spec/01-encoding.md §1.1 shared by every record type, to this package:
// every decoding error wraps ErrMalformed.
type idWriter struct{ w wire.Writer }

func (w *idWriter) u8(v uint8)      { w.w.U8(v) }
func (w *idWriter) u32(v uint32)    { w.w.U32(v) }
func (w *idWriter) u64(v uint64)    { w.w.U64(v) }
func (w *idWriter) fixed(p []byte)  { w.w.Fixed(p) }
func (w *idWriter) str(s string)    { w.w.String(s) }
func (w *idWriter) encoded() []byte { return w.w.Bytes() }

type idReader struct{ r *wire.Reader }

func newIDReader(b []byte) *idReader { return &idReader{r: wire.NewReader(b)} }

func (r *idReader) failed() bool                            { return r.r.Err() != nil }
func (r *idReader) fail(format string, a ...any)            { r.r.Fail(format, a...) }
func (r *idReader) u8(what string) uint8                    { return r.r.U8(what) }
func (r *idReader) u32(what string) uint32                  { return r.r.U32(what) }
func (r *idReader) u64(what string) uint64                  { return r.r.U64(what) }
func (r *idReader) str(max int, what string) string         { return r.r.String(max, what) }
func (r *idReader) count(max, minItem int, what string) int { return r.r.Count(max, minItem, what) }

func (r *idReader) fixed(dst []byte, what string) {
	if p := r.r.Fixed(len(dst), what); p != nil {
		copy(dst, p)
	}
}

func (r *idReader) end() error {
	if err := r.r.Finish(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
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
	if !r.failed() && !ValidID(s) {
		r.fail("%s: not a well-formed identifier", what)
	}
	return s
}

// ValidEd25519Key reports whether k is a canonical encoding of an Ed25519
// point that is not of small order: the keys a strict verifier accepts
// (spec/07-bulletin.md §7.3).
func ValidEd25519Key(k []byte) bool { return sig.CheckPublicKey(k) == nil }

func (r *idReader) edKey(dst *[32]byte, what string) {
	r.fixed(dst[:], what)
	if !r.failed() && !ValidEd25519Key(dst[:]) {
		r.fail("%s: not a valid Ed25519 public key", what)
	}
}
