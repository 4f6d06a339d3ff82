package zkp

import (
	"bytes"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/testrand"
)

// The fuzz targets check that every decoder rejects or round-trips its
// input exactly, never panics, and that verifying whatever it accepts does
// not panic either.

func FuzzParseSchnorrProof(f *testing.F) {
	rnd := testrand.New("fuzz-schnorr")
	x := randomScalar(rnd)
	X := new(group.Element).ScalarBaseMult(x)
	p, _ := ProveSchnorr(nil, generator, X, x, nil, rnd)
	f.Add(p.Bytes())
	f.Add(make([]byte, SchnorrProofSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseSchnorrProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Bytes(), b) {
			t.Fatal("accepted proof re-encodes differently")
		}
		_ = p.Verify(nil, generator, X)
	})
}

func FuzzParseDLEQProof(f *testing.F) {
	rnd := testrand.New("fuzz-dleq")
	x := randomScalar(rnd)
	G2 := new(group.Element).ScalarBaseMult(randomScalar(rnd))
	st := &DLEQStatement{G1: generator, X1: new(group.Element).ScalarBaseMult(x), G2: G2, X2: new(group.Element).ScalarMult(x, G2)}
	p, _ := ProveDLEQ(nil, st, x, nil, rnd)
	f.Add(p.Bytes())
	f.Add(make([]byte, DLEQProofSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseDLEQProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Bytes(), b) {
			t.Fatal("accepted proof re-encodes differently")
		}
		_ = p.Verify(nil, st)
	})
}

// fuzzKey is a fixed key for the range and sum fuzz targets.
func fuzzKey() *elgamal.PublicKey { return mustKeyFrom(testrand.New("fuzz-key")).Public() }

func FuzzParseRangeProof(f *testing.F) {
	rnd := testrand.New("fuzz-range")
	pk := fuzzKey()
	cts := make([]*elgamal.Ciphertext, 4)
	for k := range cts {
		ct, r, _ := pk.Encrypt(uint64(k), rnd)
		cts[k] = ct
		p, _ := ProveRange(nil, &RangeStatement{PK: pk, Ciphertext: ct, Max: k}, uint64(k), r, rnd)
		f.Add(uint16(k), p.Bytes())
	}
	f.Add(uint16(MaxRange+1), []byte{})
	f.Add(uint16(2), make([]byte, RangeProofSize(2)))
	f.Fuzz(func(t *testing.T, k uint16, b []byte) {
		p, err := ParseRangeProof(b, int(k))
		if err != nil {
			return
		}
		if int(k) > MaxRange || !bytes.Equal(p.Bytes(), b) {
			t.Fatal("accepted proof re-encodes differently or has an excessive bound")
		}
		_ = p.Verify(nil, &RangeStatement{PK: pk, Ciphertext: cts[int(k)%len(cts)], Max: int(k)})
	})
}

func FuzzParseSumProof(f *testing.F) {
	rnd := testrand.New("fuzz-sum")
	pk := fuzzKey()
	ms := []uint64{1, 0, 1}
	st := &SumStatement{PK: pk, Min: 1, Max: 2}
	var rs []*group.Scalar
	for _, m := range ms {
		ct, r, _ := pk.Encrypt(m, rnd)
		st.Ciphertexts, rs = append(st.Ciphertexts, ct), append(rs, r)
	}
	p, _ := ProveSum(nil, st, ms, rs, rnd)
	f.Add(uint16(3), uint16(1), uint16(2), p.Bytes())
	f.Add(uint16(1), uint16(0), uint16(1), make([]byte, SumProofSize(1, 0, 1)))
	f.Add(uint16(2), uint16(2), uint16(1), []byte{})
	f.Fuzz(func(t *testing.T, n, min, max uint16, b []byte) {
		p, err := ParseSumProof(b, int(n), int(min), int(max))
		if err != nil {
			return
		}
		if !bytes.Equal(p.Bytes(), b) {
			t.Fatal("accepted proof re-encodes differently")
		}
		vst := &SumStatement{PK: pk, Min: int(min), Max: int(max)}
		for i := 0; i < int(n); i++ {
			vst.Ciphertexts = append(vst.Ciphertexts, st.Ciphertexts[i%len(st.Ciphertexts)])
		}
		_ = p.Verify(nil, vst)
	})
}
