// Package wire implements the canonical binary encoding of
// spec/01-encoding.md §1.1 for the packages that define evote's records:
// big-endian integers, u32-length-prefixed bytes and strings, u32-counted
// lists, 32-byte elements and scalars.
//
// A Reader is strict: the first error sticks, every later read returns zero
// values, and Finish reports trailing bytes, so decoders check one error at
// the end and never accept two encodings of one value.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed encoding")

// A Writer appends canonical encodings to a buffer.
type Writer struct{ b []byte }

// NewWriter returns a Writer with capacity hint n.
func NewWriter(n int) *Writer { return &Writer{b: make([]byte, 0, n)} }

// Bytes returns the encoding written so far.
func (w *Writer) Bytes() []byte { return w.b }

func (w *Writer) U8(v uint8)   { w.b = append(w.b, v) }
func (w *Writer) U16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *Writer) U32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *Writer) U64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

// Fixed appends p with no length prefix (fixed-size fields).
func (w *Writer) Fixed(p []byte) { w.b = append(w.b, p...) }

// VarBytes appends u32(len(p)) || p.
func (w *Writer) VarBytes(p []byte) {
	w.U32(uint32(len(p)))
	w.b = append(w.b, p...)
}

// String appends u32(len(s)) || s.
func (w *Writer) String(s string) {
	w.U32(uint32(len(s)))
	w.b = append(w.b, s...)
}

// Element appends a 32-byte element encoding.
func (w *Writer) Element(e *group.Element) { w.b = e.AppendBytes(w.b) }

// Scalar appends a 32-byte scalar encoding.
func (w *Writer) Scalar(s *group.Scalar) { w.b = append(w.b, s.Bytes()...) }

// Ciphertext appends a 64-byte ciphertext encoding.
func (w *Writer) Ciphertext(c *elgamal.Ciphertext) { w.b = c.AppendBytes(w.b) }

// A Reader consumes canonical encodings.
type Reader struct {
	b   []byte
	err error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err returns the first error met.
func (r *Reader) Err() error { return r.err }

// Remaining returns the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.b) }

// Fail records an error (the first one sticks).
func (r *Reader) Fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
}

// Finish returns the first error, or an error if bytes remain.
func (r *Reader) Finish() error {
	if r.err == nil && len(r.b) != 0 {
		r.Fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

// Fixed reads n bytes; the result aliases the input (copy it to keep it).
func (r *Reader) Fixed(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.Fail("%s: truncated", what)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *Reader) U8(what string) uint8 {
	if p := r.Fixed(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (r *Reader) U16(what string) uint16 {
	if p := r.Fixed(2, what); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *Reader) U32(what string) uint32 {
	if p := r.Fixed(4, what); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *Reader) U64(what string) uint64 {
	if p := r.Fixed(8, what); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// VarBytes reads u32(len) || data with len ≤ max, and returns a copy, so
// decoded values never alias the input.
func (r *Reader) VarBytes(max int, what string) []byte {
	n := r.U32(what + " length")
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		r.Fail("%s: length %d exceeds limit %d", what, n, max)
		return nil
	}
	p := r.Fixed(int(n), what)
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

// String reads a u32-prefixed UTF-8 string of at most max bytes.
func (r *Reader) String(max int, what string) string {
	p := r.VarBytes(max, what)
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(p) {
		r.Fail("%s: invalid UTF-8", what)
		return ""
	}
	return string(p)
}

// Count reads a u32 list count, which must be ≤ max and ≤ the bytes left
// divided by minItem (so a forged count cannot force a huge allocation).
func (r *Reader) Count(max, minItem int, what string) int {
	n := r.U32(what + " count")
	if r.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		r.Fail("%s: count %d exceeds limit %d", what, n, max)
		return 0
	}
	if minItem > 0 && uint64(n)*uint64(minItem) > uint64(len(r.b)) {
		r.Fail("%s: count %d exceeds remaining bytes", what, n)
		return 0
	}
	return int(n)
}

// Element reads a canonical group element.
func (r *Reader) Element(what string) *group.Element {
	p := r.Fixed(group.ElementSize, what)
	if r.err != nil {
		return nil
	}
	e, err := new(group.Element).SetCanonicalBytes(p)
	if err != nil {
		r.Fail("%s: %v", what, err)
		return nil
	}
	return e
}

// Scalar reads a canonical scalar.
func (r *Reader) Scalar(what string) *group.Scalar {
	p := r.Fixed(group.ScalarSize, what)
	if r.err != nil {
		return nil
	}
	s, err := new(group.Scalar).SetCanonicalBytes(p)
	if err != nil {
		r.Fail("%s: %v", what, err)
		return nil
	}
	return s
}

// Ciphertext reads a canonical ciphertext.
func (r *Reader) Ciphertext(what string) *elgamal.Ciphertext {
	p := r.Fixed(elgamal.CiphertextSize, what)
	if r.err != nil {
		return nil
	}
	c, err := new(elgamal.Ciphertext).SetBytes(p)
	if err != nil {
		r.Fail("%s: %v", what, err)
		return nil
	}
	return c
}
