package group

import (
	"crypto"
	_ "crypto/sha512" // registers SHA-512 for the expander
	"encoding/binary"
	"fmt"

	"github.com/cloudflare/circl/expander"
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
	uniform := expander.NewExpanderMD(crypto.SHA512, dst).Expand(msg, 64)
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
	exp := expander.NewExpanderMD(crypto.SHA512, []byte(GeneratorsDST))
	out := make([]*Element, n)
	msg := make([]byte, len(prefix)+8)
	copy(msg, prefix)
	for i := range out {
		binary.BigEndian.PutUint64(msg[len(prefix):], uint64(start+i))
		e, err := new(Element).SetUniformBytes(exp.Expand(msg, 64))
		if err != nil {
			panic("group: one-way map rejected 64 bytes")
		}
		out[i] = e
	}
	return out
}
