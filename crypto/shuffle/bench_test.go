package shuffle

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"evote/crypto/group"
)

// BenchmarkScalarMult is crypto/group's unit SM, repeated here so that the
// shuffle's cost per ciphertext can be read as a ratio from one run.
//
// On a machine shared with other work, wall time per operation varies with
// the load; each benchmark here also reports the process's CPU time per
// operation ("cpu-ns/op", "cpu-ns/ct"), whose ratios are steadier.
func BenchmarkScalarMult(b *testing.B) {
	p := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	e := new(group.Element)
	cpu := cpuTime()
	for b.Loop() {
		e.ScalarMult(s, p)
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
			cpu := cpuTime()
			for b.Loop() {
				if _, _, err := Shuffle(f.p, f.in, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/ct")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/float64(n), "cpu-ns/ct")
		})
	}
}

// BenchmarkShuffleVerify measures verifying a shuffle of N ciphertexts of
// width 1 with generators derived beforehand ("ns/ct"). Target: ≤ 2 SM per
// ciphertext with -cpu 1.
func BenchmarkShuffleVerify(b *testing.B) {
	for _, n := range []int{10000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			f := newFixture(b, n, 1)
			out, proof, err := Shuffle(f.p, f.in, nil)
			if err != nil {
				b.Fatal(err)
			}
			// A verifier derives the generators once per election (they
			// depend only on the election id and the row index) and reuses
			// them for every mix and contest: BenchmarkDeriveGenerators
			// measures that step.
			f.p.Generators = DeriveGenerators(f.p.ElectionID, n, nil)
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				if err := Verify(f.p, f.in, out, proof); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/ct")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/float64(n), "cpu-ns/ct")
		})
	}
}

// BenchmarkDeriveGenerators reports the cost of one commitment generator.
func BenchmarkDeriveGenerators(b *testing.B) {
	const n = 1000
	cpu := cpuTime()
	for b.Loop() {
		DeriveGenerators([]byte("bench"), n-1, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/gen")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/n, "cpu-ns/gen")
}
