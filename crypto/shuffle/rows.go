package shuffle

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// Limits on decoded structures (spec §6.1).
const (
	// MaxRows is the largest number of rows a list or proof may have.
	MaxRows = 1 << 24
	// MaxWidth is the largest number of ciphertexts in a row.
	MaxWidth = 64
)

// RowsDigestTag is the domain tag of RowsDigest (spec §1.2, §6.1).
const RowsDigestTag = "evote-v1/shuffle/rows"

// ErrMalformed is wrapped by every decoding error of this package and by
// verification errors about the shape of a statement or proof (a wrong
// count, width or encoding).
var ErrMalformed = errors.New("shuffle: malformed")

// Rows is a list of N rows of w ElGamal ciphertexts, held in its canonical
// encoding (spec §6.1):
//
//	Rows = u32(N) || u32(w) || Ciphertext[N·w]   (row-major)
//
// It is immutable once built. The elements are decoded when the rows are
// shuffled or verified, a chunk at a time.
type Rows struct {
	n, w int
	data []byte // N·w·64 bytes
}

// NewRows returns the rows of w ciphertexts each, given row-major: row i
// is cts[i·w : (i+1)·w].
func NewRows(w int, cts []*elgamal.Ciphertext) (*Rows, error) {
	if w < 1 || w > MaxWidth {
		return nil, fmt.Errorf("%w: width %d outside [1, %d]", ErrMalformed, w, MaxWidth)
	}
	if len(cts)%w != 0 || len(cts)/w > MaxRows {
		return nil, fmt.Errorf("%w: %d ciphertexts do not form rows of %d (at most %d)", ErrMalformed, len(cts), w, MaxRows)
	}
	data := make([]byte, 0, len(cts)*elgamal.CiphertextSize)
	for _, c := range cts {
		data = c.AppendBytes(data)
	}
	return &Rows{n: len(cts) / w, w: w, data: data}, nil
}

// ParseRows decodes the canonical encoding of a list of rows. It rejects a
// wrong length, trailing bytes, counts above the limits and any element that
// is not canonical (decoding every element, on all cores).
func ParseRows(b []byte) (*Rows, error) {
	return parseRows(b, true)
}

// ParseRowsAliasing is ParseRows without the copy: the rows alias b, which
// the caller must not change afterwards. A verifier gathering a million
// rows' encoding saves holding it twice (spec §11.7).
func ParseRowsAliasing(b []byte) (*Rows, error) {
	return parseRows(b, false)
}

func parseRows(b []byte, copied bool) (*Rows, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: rows header is %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.BigEndian.Uint32(b))
	w := int(binary.BigEndian.Uint32(b[4:]))
	if n > MaxRows || w < 1 || w > MaxWidth {
		return nil, fmt.Errorf("%w: %d rows of width %d outside the limits", ErrMalformed, n, w)
	}
	if want := 8 + n*w*elgamal.CiphertextSize; len(b) != want {
		return nil, fmt.Errorf("%w: rows encoding is %d bytes, want %d", ErrMalformed, len(b), want)
	}
	data := b[8:len(b):len(b)]
	if copied {
		data = append([]byte(nil), data...)
	}
	r := &Rows{n: n, w: w, data: data}
	if err := checkElements(r.data, "ciphertext"); err != nil {
		return nil, err
	}
	return r, nil
}

// checkElements decodes every 32-byte element of data in parallel.
func checkElements(data []byte, what string) error {
	count := len(data) / group.ElementSize
	return forChunks(count, 4096, nil, func(lo, hi int) error {
		var e group.Element
		for i := lo; i < hi; i++ {
			if _, err := e.SetCanonicalBytes(data[i*32 : i*32+32]); err != nil {
				return fmt.Errorf("%w: %s element %d: %w", ErrMalformed, what, i, err)
			}
		}
		return nil
	})
}

// Len returns the number of rows N.
func (r *Rows) Len() int { return r.n }

// Width returns the number of ciphertexts per row w.
func (r *Rows) Width() int { return r.w }

// Row returns the encoding of row i (w·64 bytes); the caller must not
// modify it.
func (r *Rows) Row(i int) []byte {
	s := r.w * elgamal.CiphertextSize
	return r.data[i*s : (i+1)*s : (i+1)*s]
}

// Encoding returns the ciphertexts' canonical encodings, row-major
// (N·w·64 bytes, the encoding without its header); the caller must not
// modify it.
func (r *Rows) Encoding() []byte { return r.data[:len(r.data):len(r.data)] }

// Ciphertext decodes ciphertext k of row i.
func (r *Rows) Ciphertext(i, k int) (*elgamal.Ciphertext, error) {
	off := (i*r.w + k) * elgamal.CiphertextSize
	c, err := new(elgamal.Ciphertext).SetBytes(r.data[off : off+elgamal.CiphertextSize])
	if err != nil {
		return nil, fmt.Errorf("%w: row %d ciphertext %d: %w", ErrMalformed, i, k, err)
	}
	return c, nil
}

// Ciphertexts decodes every ciphertext, row-major (for small lists).
func (r *Rows) Ciphertexts() ([]*elgamal.Ciphertext, error) {
	out := make([]*elgamal.Ciphertext, r.n*r.w)
	for i := range out {
		c, err := r.Ciphertext(i/r.w, i%r.w)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// Bytes returns the canonical encoding u32(N) || u32(w) || ciphertexts.
func (r *Rows) Bytes() []byte {
	return r.AppendBytes(make([]byte, 0, r.EncodedLen()))
}

// AppendBytes appends the canonical encoding to b.
func (r *Rows) AppendBytes(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(r.n))
	b = binary.BigEndian.AppendUint32(b, uint32(r.w))
	return append(b, r.data...)
}

// EncodedLen returns the length of the canonical encoding.
func (r *Rows) EncodedLen() int { return 8 + len(r.data) }

// Digest returns RowsDigest = SHA-256(string(RowsDigestTag) || Rows), the
// hash by which a mix record names its input (spec §6.1).
func (r *Rows) Digest() [32]byte {
	h := sha256.New()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(RowsDigestTag)))
	h.Write(hdr[:])
	h.Write([]byte(RowsDigestTag))
	var nw [8]byte
	binary.BigEndian.PutUint32(nw[:], uint32(r.n))
	binary.BigEndian.PutUint32(nw[4:], uint32(r.w))
	h.Write(nw[:])
	h.Write(r.data)
	return [32]byte(h.Sum(nil))
}

// element returns the j-th 32-byte element of row i: A of ciphertext k is
// j = 2k, B is j = 2k+1.
func (r *Rows) element(i, j int) []byte {
	off := (i*r.w*2 + j) * group.ElementSize
	return r.data[off : off+group.ElementSize]
}

// Concat returns the rows of parts one after the other, in order. The
// parts must have the same width. Nothing is decoded: a long list can be
// built a chunk of rows at a time (spec §11.7).
func Concat(parts ...*Rows) (*Rows, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no rows to concatenate", ErrMalformed)
	}
	n, size := 0, 0
	for i, p := range parts {
		if p.w != parts[0].w {
			return nil, fmt.Errorf("%w: part %d has width %d, part 0 %d", ErrMalformed, i, p.w, parts[0].w)
		}
		n += p.n
		size += len(p.data)
	}
	if n > MaxRows {
		return nil, fmt.Errorf("%w: %d rows (at most %d)", ErrMalformed, n, MaxRows)
	}
	data := make([]byte, 0, size)
	for _, p := range parts {
		data = append(data, p.data...)
	}
	return &Rows{n: n, w: parts[0].w, data: data}, nil
}

// Join returns the rows whose row i is row i of each of parts, side by
// side, in order (width the sum of theirs). The parts must have the same
// length. Nothing is decoded.
func Join(parts ...*Rows) (*Rows, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no rows to join", ErrMalformed)
	}
	n, w := parts[0].n, 0
	for i, p := range parts {
		if p.n != n {
			return nil, fmt.Errorf("%w: part %d has %d rows, part 0 %d", ErrMalformed, i, p.n, n)
		}
		w += p.w
	}
	if w > MaxWidth {
		return nil, fmt.Errorf("%w: width %d above %d", ErrMalformed, w, MaxWidth)
	}
	data := make([]byte, 0, n*w*elgamal.CiphertextSize)
	for i := range n {
		for _, p := range parts {
			data = append(data, p.Row(i)...)
		}
	}
	return &Rows{n: n, w: w, data: data}, nil
}

// Sub returns the rows of r at the positions idx, in that order (all rows
// if idx is nil), keeping only the ciphertexts of columns [lo, hi).
// Nothing is decoded.
func (r *Rows) Sub(idx []uint32, lo, hi int) (*Rows, error) {
	if lo < 0 || hi > r.w || lo >= hi {
		return nil, fmt.Errorf("%w: columns [%d, %d) of rows of width %d", ErrMalformed, lo, hi, r.w)
	}
	n := r.n
	if idx != nil {
		n = len(idx)
	}
	data := make([]byte, 0, n*(hi-lo)*elgamal.CiphertextSize)
	for k := range n {
		i := k
		if idx != nil {
			if int64(idx[k]) >= int64(r.n) {
				return nil, fmt.Errorf("%w: row %d of %d", ErrMalformed, idx[k], r.n)
			}
			i = int(idx[k])
		}
		data = append(data, r.Row(i)[lo*elgamal.CiphertextSize:hi*elgamal.CiphertextSize]...)
	}
	return &Rows{n: n, w: hi - lo, data: data}, nil
}

// mapChunk is the number of ciphertexts Map decodes at a time per core.
const mapChunk = 1024

// Map returns rows of the same shape as r whose ciphertext l (row-major)
// is f(l, c) for c r's ciphertext l, decoded a chunk at a time on all
// cores and encoded again: f may change c in place and is called
// concurrently for different l. The list is never held decoded (about 330
// bytes a ciphertext rather than 64, spec §11.7).
func (r *Rows) Map(f func(l int, c *elgamal.Ciphertext)) *Rows {
	out := make([]byte, len(r.data))
	count := r.n * r.w
	err := forChunks(count, mapChunk, nil, func(lo, hi int) error {
		var c elgamal.Ciphertext
		for l := lo; l < hi; l++ {
			off := l * elgamal.CiphertextSize
			if _, err := c.SetBytes(r.data[off : off+elgamal.CiphertextSize]); err != nil {
				return err
			}
			f(l, &c)
			c.AppendBytes(out[off:off])
		}
		return nil
	})
	if err != nil {
		// Rows hold canonical encodings only (NewRows encodes, ParseRows
		// checks, the rest copies).
		panic("shuffle: rows hold a non-canonical ciphertext: " + err.Error())
	}
	return &Rows{n: r.n, w: r.w, data: out}
}
