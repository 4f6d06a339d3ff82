package zkp

import (
	"io"
	"math/big"

	"evote/crypto/group"
)

// groupOrder is ℓ.
var groupOrder, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

// addL returns the 32-byte little-endian encoding of s + ℓ for a canonical
// scalar encoding s: the same scalar, non-canonically encoded.
func addL(s []byte) []byte {
	be := make([]byte, 32)
	for i := range be {
		be[i] = s[31-i]
	}
	v := new(big.Int).Add(new(big.Int).SetBytes(be), groupOrder)
	out := v.FillBytes(make([]byte, 32))
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// nonCanonicalElement returns p = 2^255 − 19 in little-endian: a field
// element encoding that is not reduced, rejected by RFC 9496 §4.3.1.
func nonCanonicalElement() []byte {
	b := make([]byte, 32)
	b[0] = 0xed
	for i := 1; i < 31; i++ {
		b[i] = 0xff
	}
	b[31] = 0x7f
	return b
}

// randomScalar draws a scalar from rnd (crypto/rand when nil).
func randomScalar(rnd io.Reader) *group.Scalar {
	s, err := new(group.Scalar).SetRandom(rnd)
	if err != nil {
		panic(err)
	}
	return s
}
