// Package contexthash computes the election's context hashes of spec §5.2:
// the base hash, the context of key generation, and the extended hash, the
// context of every later proof. It is a leaf package so that the voter's
// device (which needs the hashes' definitions but none of key generation)
// does not link the trustees' code; crypto/threshold and ballot call it.
package contexthash

import (
	"crypto/sha256"
	"encoding/binary"

	"evote/crypto/group"
)

// Domain-separation tags (spec §1.2, §5.2).
const (
	BaseTag     = "evote-v1/threshold/base-hash"
	ExtendedTag = "evote-v1/threshold/extended-hash"
)

// Base returns
//
//	SHA-256(string(BaseTag) || manifestHash || u16(n) || u16(t) ||
//	        u32(n) || (signing_i || hpke_i) for i = 1..n)
//
// Callers validate n, t and the keys first.
func Base(manifestHash [32]byte, n, t int, signing, hpke [][32]byte) [32]byte {
	b := appendString(nil, BaseTag)
	b = append(b, manifestHash[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = binary.BigEndian.AppendUint16(b, uint16(t))
	b = binary.BigEndian.AppendUint32(b, uint32(len(signing)))
	for i := range signing {
		b = append(b, signing[i][:]...)
		b = append(b, hpke[i][:]...)
	}
	return sha256.Sum256(b)
}

// Extended returns
//
//	SHA-256(string(ExtendedTag) || baseHash || Element(jointKey) ||
//	        list<Element>(verificationKeys) || voterListCommitment)
//
// verificationKeys[j-1] is trustee j's h_j. It depends only on values fixed
// before it, so nothing is defined circularly.
func Extended(baseHash [32]byte, jointKey *group.Element, verificationKeys []*group.Element, voterListCommitment [32]byte) [32]byte {
	b := appendString(nil, ExtendedTag)
	b = append(b, baseHash[:]...)
	b = jointKey.AppendBytes(b)
	b = binary.BigEndian.AppendUint32(b, uint32(len(verificationKeys)))
	for _, v := range verificationKeys {
		b = v.AppendBytes(b)
	}
	b = append(b, voterListCommitment[:]...)
	return sha256.Sum256(b)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
