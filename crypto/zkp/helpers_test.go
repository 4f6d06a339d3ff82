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

// referenceVerifyRange checks the 2(k+1) equations of spec §4.5 one by one
// with plain scalar multiplications: the outsider's verifier, against
// which the weighted multi-scalar check is compared.
func referenceVerifyRange(p *RangeProof, context []byte, st *RangeStatement) bool {
	c := rangeChallenge(context, st, p.commitEnc)
	ck := p.lastChallenge(c)
	h := st.PK.Element()
	for j := 0; j <= p.max; j++ {
		cj := ck
		if j < p.max {
			cj = &p.c[j]
		}
		var l, r, t group.Element
		// a_j · A^{c_j} = g^{z_j}
		l.ScalarMult(cj, &st.Ciphertext.A)
		l.Add(&l, &p.commit[2*j])
		r.ScalarBaseMult(&p.z[j])
		if l.Equal(&r) != 1 {
			return false
		}
		// b_j · B^{c_j} = h^{z_j} · g^{j·c_j}
		l.ScalarMult(cj, &st.Ciphertext.B)
		l.Add(&l, &p.commit[2*j+1])
		r.ScalarMult(&p.z[j], h)
		t.ScalarBaseMult(new(group.Scalar).Multiply(new(group.Scalar).SetUint64(uint64(j)), cj))
		r.Add(&r, &t)
		if l.Equal(&r) != 1 {
			return false
		}
	}
	return true
}
