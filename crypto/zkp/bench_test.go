package zkp

import (
	"fmt"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// BenchmarkScalarMult is crypto/group's unit SM, repeated here so that the
// ratios of the Contest benchmarks can be read from one run.
func BenchmarkScalarMult(b *testing.B) {
	p := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	e := new(group.Element)
	for b.Loop() {
		e.ScalarMult(s, p)
	}
}

// benchContest returns n honest encryptions with proofs for bound k, as a
// verifier receives them: statement objects and proof bytes.
func benchContest(b *testing.B, pk *elgamal.PublicKey, k, n int) ([]*RangeStatement, [][]byte, [][]byte) {
	sts := make([]*RangeStatement, n)
	encs := make([][]byte, n)
	ctxs := make([][]byte, n)
	for i := range sts {
		ctxs[i] = ballotContext("bench", fmt.Sprint("voter ", i), 0)
		f := newRangeFixture(b, pk, k, uint64(i%(k+1)), ctxs[i])
		sts[i], encs[i] = f.st, f.proof.Bytes()
	}
	return sts, encs, ctxs
}

// BenchmarkContestProve measures one range proof for an existing
// ciphertext (the encryption itself is excluded; it costs about 1.2 SM).
// Target: ≤ 8 SM.
func BenchmarkContestProve(b *testing.B) {
	for _, k := range []int{1, 5, 10} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			pk := mustKeyPair(b).Public()
			f := newRangeFixture(b, pk, k, uint64(k/2), ballotContext("bench", "voter", 0))
			for b.Loop() {
				if _, err := ProveRange(f.ctx, f.st, f.m, f.r, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkContestVerify measures one verification from the proof's bytes:
// decoding (2(k+1) elements, 2k+1 scalars), transcript and one
// multi-scalar multiplication. The ciphertext is already decoded (by the
// ballot layer). Target: ≤ 8 SM.
func BenchmarkContestVerify(b *testing.B) {
	for _, k := range []int{1, 5, 10} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			pk := mustKeyPair(b).Public()
			sts, encs, ctxs := benchContest(b, pk, k, 16)
			i := 0
			for b.Loop() {
				p, err := ParseRangeProof(encs[i], k)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Verify(ctxs[i], sts[i]); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % len(sts)
			}
		})
	}
}

// BenchmarkContestVerifyBatch measures batch verification of a batch of
// 64 ballots, decoding included: one op is one batch, so ns/op is per
// batch of 64, and ns/ballot divides the time by the ballots actually
// verified (b.N batches of 64). Target: ≤ 4 SM per ballot.
func BenchmarkContestVerifyBatch(b *testing.B) {
	const batch = 64
	for _, k := range []int{1, 5, 10} {
		b.Run(fmt.Sprintf("k=%d/batch=%d", k, batch), func(b *testing.B) {
			pk := mustKeyPair(b).Public()
			sts, encs, ctxs := benchContest(b, pk, k, batch)
			h := pk.Element()
			batches := 0
			for b.Loop() {
				bt := NewBatch()
				gi, hi := bt.Shared(GeneratorElement()), bt.Shared(h)
				for i := 0; i < batch; i++ {
					p, err := ParseRangeProof(encs[i], k)
					if err != nil {
						b.Fatal(err)
					}
					if err := p.AddToBatch(bt, "ballot", ctxs[i], sts[i], gi, hi); err != nil {
						b.Fatal(err)
					}
				}
				if err := bt.Verify(); err != nil {
					b.Fatal(err)
				}
				batches++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(batches*batch), "ns/ballot")
		})
	}
}
