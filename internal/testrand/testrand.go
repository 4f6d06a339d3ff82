// Package testrand provides deterministic, seeded randomness for generating
// the test vectors under spec/vectors. It must never be used outside tests
// and vector generation: production code takes randomness from crypto/rand.
package testrand

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// A Reader is a deterministic byte stream: block i is
// SHA-256("evote-v1/testrand" || u32(len(seed)) || seed || u64(i)).
type Reader struct {
	prefix []byte
	ctr    uint64
	buf    []byte
}

// New returns a Reader for seed.
func New(seed string) *Reader {
	p := []byte("evote-v1/testrand")
	p = binary.BigEndian.AppendUint32(p, uint32(len(seed)))
	p = append(p, seed...)
	return &Reader{prefix: p}
}

var _ io.Reader = (*Reader)(nil)

// Read fills b and never fails.
func (r *Reader) Read(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if len(r.buf) == 0 {
			blk := sha256.Sum256(binary.BigEndian.AppendUint64(append([]byte{}, r.prefix...), r.ctr))
			r.ctr++
			r.buf = blk[:]
		}
		k := copy(b, r.buf)
		r.buf = r.buf[k:]
		b = b[k:]
	}
	return n, nil
}
