package threshold

import (
	"flag"
	"slices"
	"testing"
	"time"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

var ratios = flag.Bool("ratios", false, "measure costs in SM with interleaved timing (slow; not in CI)")

// TestCostRatios measures each operation interleaved with a ScalarMult, so
// that the ratios hold even on a machine whose load changes during the run:
//
//	go test ./crypto/threshold -run TestCostRatios -ratios -v
func TestCostRatios(t *testing.T) {
	if !*ratios {
		t.Skip("use -ratios")
	}
	d := honestDKG(t)
	cts, _ := encryptTestVotes(t, d.res.JointKey, 1, nil)
	k, vk := d.shares[0], d.res.VerificationKeys[0]
	dd, proof, err := k.PartialDecrypt(testExt, 0, cts[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	dEnc, pEnc := dd.Bytes(), proof.Bytes()
	s := group.RandomScalar()
	var sm, prove, verify []time.Duration
	const iters = 1000
	for range iters {
		t0 := time.Now()
		new(group.Element).ScalarMult(s, dd)
		t1 := time.Now()
		if _, _, err := k.PartialDecrypt(testExt, 0, cts[0], nil); err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		e, err1 := new(group.Element).SetCanonicalBytes(dEnc)
		p, err2 := zkp.ParseDLEQProof(pEnc)
		if err1 != nil || err2 != nil || VerifyPartialDecryption(testExt, 1, vk, 0, cts[0], e, p) != nil {
			t.Fatal("verification failed")
		}
		t3 := time.Now()
		sm, prove, verify = append(sm, t1.Sub(t0)), append(prove, t2.Sub(t1)), append(verify, t3.Sub(t2))
	}
	// Medians: robust against preemption on a shared machine.
	m := median(sm)
	t.Logf("SM %v (median); PartialDecrypt %.2f SM; PartialDecryptVerify (decode + verify) %.2f SM",
		m, float64(median(prove))/float64(m), float64(median(verify))/float64(m))

	const n = 10000
	pk, _ := elgamal.NewPublicKey(d.res.JointKey)
	big := make([]*elgamal.Ciphertext, n)
	for l := range big {
		big[l] = pk.EncryptWithRandomness(new(group.Scalar).SetUint64(uint64(l%7)), new(group.Scalar).SetUint64(uint64(l+1)))
	}
	share, err := k.DecryptShares(testExt, big, ShareOptions{Batched: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := share.Bytes()
	var smB, listB, verB time.Duration
	for range 3 {
		var smRun []time.Duration
		for range 100 {
			t0 := time.Now()
			new(group.Element).ScalarMult(s, dd)
			smRun = append(smRun, time.Since(t0))
		}
		t1 := time.Now()
		list := NewCiphertextList(big)
		t2 := time.Now()
		if _, err := VerifyDecryptionShareBytes(testExt, d.res.VerificationKeys, list, enc); err != nil {
			t.Fatal(err)
		}
		t3 := time.Now()
		smB, listB, verB = smB+median(smRun), listB+t2.Sub(t1), verB+t3.Sub(t2)
	}
	t.Logf("N=%d batched: verification %.3f SM per share; list preparation (once for all trustees) %.3f SM per ciphertext",
		n, float64(verB)/float64(smB)/n, float64(listB)/float64(smB)/n)
}

func median(ds []time.Duration) time.Duration {
	c := slices.Clone(ds)
	slices.Sort(c)
	return c[len(c)/2]
}
