package threshold

import (
	"fmt"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/testrand"
)

// BenchmarkScalarMult is one SM, the unit of the targets (a copy of the
// group package's benchmark, so ratios come from one run).
func BenchmarkScalarMult(b *testing.B) {
	s := group.RandomScalar()
	e := new(group.Element).ScalarBaseMult(group.RandomScalar())
	var out group.Element
	for b.Loop() {
		out.ScalarMult(s, e)
	}
}

// BenchmarkDecryptShares: one trustee's decryption share of N
// ciphertexts with its batched proof; ns/share is the cost per ciphertext.
func BenchmarkDecryptShares(b *testing.B) {
	d := honestDKG(b)
	cts, _ := encryptTestVotes(b, d.res.JointKey, 100, nil)
	k := d.shares[0]
	for b.Loop() {
		if _, err := k.DecryptShares(testExt, cts, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cts)), "ns/share")
}

// BenchmarkBatchedVerify: parsing and verifying one trustee's decryption
// share of N ciphertexts with a batched proof; ns/share is the cost per
// ciphertext (target well under 1 SM at N = 10,000). Preparing the
// CiphertextList (one encoding per ciphertext) is shared by all trustees'
// shares and is measured by BenchmarkCiphertextList.
func BenchmarkBatchedVerify(b *testing.B) {
	d := honestDKG(b)
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			rnd := testrand.New("bench")
			pk, _ := elgamal.NewPublicKey(d.res.JointKey)
			cts := make([]*elgamal.Ciphertext, n)
			for l := range cts {
				cts[l] = pk.EncryptWithRandomness(new(group.Scalar).SetUint64(uint64(l%7)), new(group.Scalar).SetUint64(uint64(l+1)))
			}
			s, err := d.shares[0].DecryptShares(testExt, cts, rnd)
			if err != nil {
				b.Fatal(err)
			}
			enc := s.Bytes()
			// The list is prepared once for all trustees' shares.
			list := NewCiphertextList(cts)
			b.ResetTimer()
			for b.Loop() {
				if _, err := VerifyDecryptionShareBytes(testExt, d.res.VerificationKeys, list, enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/share")
		})
	}
}

// BenchmarkBatchedProve: one trustee's decryption share of N ciphertexts
// with a batched proof, per ciphertext.
func BenchmarkBatchedProve(b *testing.B) {
	d := honestDKG(b)
	const n = 1000
	pk, _ := elgamal.NewPublicKey(d.res.JointKey)
	cts := make([]*elgamal.Ciphertext, n)
	for l := range cts {
		cts[l] = pk.EncryptWithRandomness(new(group.Scalar).SetUint64(uint64(l%7)), new(group.Scalar).SetUint64(uint64(l+1)))
	}
	for b.Loop() {
		if _, err := d.shares[0].DecryptShares(testExt, cts, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/share")
}

// BenchmarkDKG: a complete n=5, t=3 key generation among in-memory
// trustees, including every encoding round trip and the auditor's check.
func BenchmarkDKG(b *testing.B) {
	for b.Loop() {
		d := newDKG(b, Params{N: 5, T: 3}, "bench")
		if err := d.run(hooks{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCiphertextList: preparing a list of N = 10,000 ciphertexts for
// verification, once for all trustees; ns/ciphertext.
func BenchmarkCiphertextList(b *testing.B) {
	d := honestDKG(b)
	pk, _ := elgamal.NewPublicKey(d.res.JointKey)
	const n = 10000
	cts := make([]*elgamal.Ciphertext, n)
	for l := range cts {
		cts[l] = pk.EncryptWithRandomness(new(group.Scalar).SetUint64(uint64(l%7)), new(group.Scalar).SetUint64(uint64(l+1)))
	}
	for b.Loop() {
		NewCiphertextList(cts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/ciphertext")
}
