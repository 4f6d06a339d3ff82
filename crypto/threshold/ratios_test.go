//go:build unix

package threshold

import (
	"flag"
	"syscall"
	"testing"
	"time"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

var ratios = flag.Bool("ratios", false, "measure costs in SM by CPU time (slow; not in CI)")

// cpuTime returns the process's user+system CPU time. On a machine shared
// with other work, CPU time, unlike wall time, does not count the time
// spent waiting for a core, so ratios stay meaningful under load.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCostRatios measures each operation against a ScalarMult (one SM) by
// CPU time:
//
//	go test ./crypto/threshold -run TestCostRatios -ratios -v
func TestCostRatios(t *testing.T) {
	if !*ratios {
		t.Skip("use -ratios")
	}
	d := honestDKG(t)
	k := d.shares[0]
	s := group.RandomScalar()
	e := new(group.Element).ScalarBaseMult(group.RandomScalar())
	const iters = 2000
	t0 := cpuTime(t)
	for range iters {
		new(group.Element).ScalarMult(s, e)
	}
	sm := (cpuTime(t) - t0) / iters
	t.Logf("SM %v CPU", sm)

	const n = 10000
	pk, _ := elgamal.NewPublicKey(d.res.JointKey)
	big := make([]*elgamal.Ciphertext, n)
	for l := range big {
		big[l] = pk.EncryptWithRandomness(new(group.Scalar).SetUint64(uint64(l%7)), new(group.Scalar).SetUint64(uint64(l+1)))
	}
	share, err := k.DecryptShares(testExt, big, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := share.Bytes()
	t0 = cpuTime(t)
	var list *CiphertextList
	for range 3 {
		list = NewCiphertextList(big)
	}
	t1 := cpuTime(t)
	for range 3 {
		if _, err := VerifyDecryptionShareBytes(testExt, d.res.VerificationKeys, list, enc); err != nil {
			t.Fatal(err)
		}
	}
	t2 := cpuTime(t)
	t.Logf("N=%d batched: verification %.3f SM per share (%v); list preparation, once for all trustees, %.3f SM per ciphertext",
		n, float64(t2-t1)/3/n/float64(sm), (t2-t1)/3/n, float64(t1-t0)/3/n/float64(sm))
}
