package shuffle

import (
	"fmt"
	"testing"

	"evote/crypto/group"
)

// BenchmarkScalarMult is crypto/group's unit SM, repeated here so that the
// shuffle's cost per ciphertext can be read as a ratio from one run.
func BenchmarkScalarMult(b *testing.B) {
	p := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	e := new(group.Element)
	for b.Loop() {
		e.ScalarMult(s, p)
	}
}

// BenchmarkShuffleProve measures shuffling and proving N ciphertexts of
// width 1 (generators derived beforehand, as a mix chain does), reporting
// ns per ciphertext ("ns/ct"). Target: ≤ 4 SM per ciphertext with -cpu 1.
func BenchmarkShuffleProve(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			f := newFixture(b, n, 1)
			f.p.Generators = DeriveGenerators(f.p.ElectionID, n, nil)
			f.p.PublicKey.Table()
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := Shuffle(f.p, f.in, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/ct")
		})
	}
}

// BenchmarkShuffleVerify measures verifying a shuffle of N ciphertexts of
// width 1, including the derivation of the generators ("ns/ct"). Target:
// ≤ 2 SM per ciphertext with -cpu 1.
func BenchmarkShuffleVerify(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			f := newFixture(b, n, 1)
			out, proof, err := Shuffle(f.p, f.in, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := Verify(f.p, f.in, out, proof); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/ct")
		})
	}
}

// BenchmarkDeriveGenerators reports the cost of one commitment generator.
func BenchmarkDeriveGenerators(b *testing.B) {
	const n = 1000
	for b.Loop() {
		DeriveGenerators([]byte("bench"), n-1, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/gen")
}
