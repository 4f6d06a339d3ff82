package zkp

import (
	"flag"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var timingTest = flag.Bool("timing", false, "run the statistical prover timing test (slow, needs a quiet machine; not for CI)")

// TestProverTiming is a dudect-style check that ProveRange's running time
// does not depend on the value proven: it times proofs of m = 0 and m = k
// in random order, drops the slowest tenth of each class (interrupts,
// scheduling), and fails if Welch's t statistic exceeds 5. It is run only
// with -timing, on an otherwise idle machine:
//
//	go test ./crypto/zkp -run TestProverTiming -v -args -timing
func TestProverTiming(t *testing.T) {
	if !*timingTest {
		t.Skip("statistical timing test: enable with -timing")
	}
	pk := mustKeyPair(t).Public()
	const k, samples = 5, 3000
	ctx := ballotContext("timing", "voter", 0)
	fx := [2]*rangeFixture{newRangeFixture(t, pk, k, 0, ctx), newRangeFixture(t, pk, k, k, ctx)}
	var times [2][]float64
	for i := 0; i < 2*samples; i++ {
		c := rand.IntN(2)
		f := fx[c]
		start := time.Now()
		if _, err := ProveRange(f.ctx, f.st, f.m, f.r, nil); err != nil {
			t.Fatal(err)
		}
		times[c] = append(times[c], float64(time.Since(start).Nanoseconds()))
	}
	var mean, vari [2]float64
	for c := range times {
		slices.Sort(times[c])
		times[c] = times[c][:len(times[c])*9/10]
		for _, x := range times[c] {
			mean[c] += x
		}
		mean[c] /= float64(len(times[c]))
		for _, x := range times[c] {
			vari[c] += (x - mean[c]) * (x - mean[c])
		}
		vari[c] /= float64(len(times[c]) - 1)
	}
	tstat := (mean[0] - mean[1]) / math.Sqrt(vari[0]/float64(len(times[0]))+vari[1]/float64(len(times[1])))
	t.Logf("m=0: %.0f ns, m=%d: %.0f ns, t = %.2f", mean[0], k, mean[1], tstat)
	if math.Abs(tstat) > 5 {
		t.Errorf("prover timing depends on the value: t = %.2f", tstat)
	}
}
