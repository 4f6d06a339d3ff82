package group

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
)

// Domain-separation tags of this package (spec §1.2, §2.3, §2.4). They follow
// RFC 9380's naming convention for the ristretto255 suite.
const (
	// GeneratorsDST is the RFC 9380 DST used by Generators.
	GeneratorsDST = "evote-v1:generators:ristretto255_XMD:SHA-512_R255MAP_RO_"
	// HashToElementDST is the default RFC 9380 DST for HashToElement.
	HashToElementDST = "evote-v1:hash-to-element:ristretto255_XMD:SHA-512_R255MAP_RO_"
)

// HashToElement implements hash_to_ristretto255 of RFC 9380 Appendix B:
// expand_message_xmd with SHA-512 to 64 bytes under dst, then the one-way map
// of RFC 9496 §4.3.4. dst must be non-empty and at most 255 bytes.
func HashToElement(msg, dst []byte) *Element {
	if len(dst) == 0 || len(dst) > 255 {
		panic(fmt.Sprintf("group: DST length %d out of range", len(dst)))
	}
	uniform := newXMD(dst).expand(msg, 64)
	e, err := new(Element).SetUniformBytes(uniform)
	if err != nil {
		panic("group: one-way map rejected 64 bytes")
	}
	return e
}

// Generators returns n group elements derived from a public seed and label
// by hashing to the group, so that nobody knows a discrete logarithm of any
// of them with respect to g or to each other (spec §2.4):
//
//	G_i = hash_to_ristretto255(bytes(seed) || string(label) || u64(i), GeneratorsDST)
//
// for i = 0, …, n-1, where bytes and string are length-prefixed with u32.
// Verifiers recompute them and refuse proofs made with any others (the
// Swiss Post 2019 trapdoor, ../shared/SECURITY.md #3).
func Generators(seed []byte, label string, n int) []*Element {
	return GeneratorsFrom(seed, label, 0, n)
}

// GeneratorsFrom returns G_start, …, G_{start+n-1} of Generators(seed, label,
// ·), so that long lists can be derived in parallel chunks.
func GeneratorsFrom(seed []byte, label string, start, n int) []*Element {
	if n < 0 || start < 0 {
		panic("group: negative generator count")
	}
	prefix := make([]byte, 0, 8+len(seed)+len(label)+8)
	prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(seed)))
	prefix = append(prefix, seed...)
	prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(label)))
	prefix = append(prefix, label...)
	exp := newXMD([]byte(GeneratorsDST))
	out := make([]*Element, n)
	msg := make([]byte, len(prefix)+8)
	copy(msg, prefix)
	for i := range out {
		binary.BigEndian.PutUint64(msg[len(prefix):], uint64(start+i))
		e, err := new(Element).SetUniformBytes(exp.expand(msg, 64))
		if err != nil {
			panic("group: one-way map rejected 64 bytes")
		}
		out[i] = e
	}
	return out
}

// xmd is expand_message_xmd of RFC 9380 §5.3.1 with SHA-512, for a DST of
// 1 to 255 bytes (the oversize-DST rule of §5.3.3 is not needed: every DST
// here is a short constant). It is written here rather than taken from
// circl's expander package, which links every XOF it supports (KangarooTwelve,
// BLAKE2) into the voting page's module; TestRFC9380ExpandMessageXMD checks
// it against the RFC's Appendix K.3.
type xmd struct {
	h        hash.Hash
	dstPrime []byte // DST || I2OSP(len(DST), 1)
}

func newXMD(dst []byte) *xmd {
	if len(dst) == 0 || len(dst) > 255 {
		panic(fmt.Sprintf("group: DST length %d out of range", len(dst)))
	}
	return &xmd{h: sha512.New(), dstPrime: append(append([]byte{}, dst...), byte(len(dst)))}
}

// expand returns n uniform bytes from msg; n is at most 255·64.
func (x *xmd) expand(msg []byte, n int) []byte {
	const bLen, sLen = sha512.Size, sha512.BlockSize
	ell := (n + bLen - 1) / bLen
	if n <= 0 || ell > 255 {
		panic(fmt.Sprintf("group: expand_message_xmd length %d out of range", n))
	}
	h := x.h
	// b_0 = H(Z_pad || msg || I2OSP(n, 2) || I2OSP(0, 1) || DST_prime)
	h.Reset()
	h.Write(make([]byte, sLen))
	h.Write(msg)
	h.Write([]byte{byte(n >> 8), byte(n), 0})
	h.Write(x.dstPrime)
	b0 := h.Sum(nil)
	// b_1 = H(b_0 || I2OSP(1, 1) || DST_prime);
	// b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime)
	out := make([]byte, 0, ell*bLen)
	prev := make([]byte, bLen)
	for i := 1; i <= ell; i++ {
		for j := range prev {
			prev[j] ^= b0[j]
		}
		h.Reset()
		h.Write(prev)
		h.Write([]byte{byte(i)})
		h.Write(x.dstPrime)
		prev = h.Sum(prev[:0])
		out = append(out, prev...)
	}
	return out[:n]
}
