package threshold

import (
	"encoding/binary"
	"fmt"

	"evote/crypto/group"
	"evote/crypto/zkp"
)

// Message kinds: the first byte of every message (spec §5.3).
const (
	kindCommitments           = 1
	kindEncryptedShares       = 2
	kindComplaint             = 3
	kindComplaintAnswer       = 4
	kindQualified             = 5
	kindExtractionCommitments = 6
	kindExtractionComplaint   = 7
	kindExtractionReveal      = 8
	kindDecryptionShare       = 9
)

// reader decodes the canonical encoding strictly; the first error sticks
// and every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("%s: truncated", what)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8(what string) int {
	b := r.take(1, what)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16(what string) int {
	b := r.take(2, what)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

// count reads a u32 list count and checks that count items of itemSize
// bytes fit in what remains and that count ≤ max.
func (r *reader) count(what string, itemSize, max int) int {
	b := r.take(4, what)
	if b == nil {
		return 0
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(max) || uint64(n)*uint64(itemSize) > uint64(len(r.b)) {
		r.fail("%s: count %d too large", what, n)
		return 0
	}
	return int(n)
}

// index reads a u16 trustee index, which must be in 1..MaxTrustees.
func (r *reader) index(what string) int {
	i := r.u16(what)
	if r.err == nil && (i < 1 || i > MaxTrustees) {
		r.fail("%s: index %d out of range", what, i)
	}
	return i
}

func (r *reader) hash(what string) [32]byte {
	var h [32]byte
	copy(h[:], r.take(32, what))
	return h
}

func (r *reader) element(what string) *group.Element {
	b := r.take(group.ElementSize, what)
	if b == nil {
		return nil
	}
	e, err := new(group.Element).SetCanonicalBytes(b)
	if err != nil {
		r.fail("%s: %v", what, err)
		return nil
	}
	return e
}

func (r *reader) elements(what string, max int) []*group.Element {
	n := r.count(what, group.ElementSize, max)
	if r.err != nil {
		return nil
	}
	out := make([]*group.Element, n)
	for i := range out {
		out[i] = r.element(what)
	}
	if r.err != nil {
		return nil
	}
	return out
}

func (r *reader) scalar(what string) *group.Scalar {
	b := r.take(group.ScalarSize, what)
	if b == nil {
		return nil
	}
	s, err := new(group.Scalar).SetCanonicalBytes(b)
	if err != nil {
		r.fail("%s: %v", what, err)
		return nil
	}
	return s
}

func (r *reader) schnorr(what string) *zkp.SchnorrProof {
	b := r.take(zkp.SchnorrProofSize, what)
	if b == nil {
		return nil
	}
	p, err := zkp.ParseSchnorrProof(b)
	if err != nil {
		r.fail("%s: %v", what, err)
		return nil
	}
	return p
}

func (r *reader) dleq(what string) *zkp.DLEQProof {
	b := r.take(zkp.DLEQProofSize, what)
	if b == nil {
		return nil
	}
	p, err := zkp.ParseDLEQProof(b)
	if err != nil {
		r.fail("%s: %v", what, err)
		return nil
	}
	return p
}

// header reads the kind byte and the 32-byte context hash.
func (r *reader) header(kind int, name string) [32]byte {
	if k := r.u8("kind"); r.err == nil && k != kind {
		r.fail("%s: kind %d, want %d", name, k, kind)
	}
	return r.hash("context hash")
}

// done fails if bytes remain and returns the sticky error.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

func appendHeader(b []byte, kind int, ctx [32]byte) []byte {
	b = append(b, byte(kind))
	return append(b, ctx[:]...)
}

func appendU16(b []byte, v int) []byte { return binary.BigEndian.AppendUint16(b, uint16(v)) }

func appendElements(b []byte, es []*group.Element) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for _, e := range es {
		b = e.AppendBytes(b)
	}
	return b
}
