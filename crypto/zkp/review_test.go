package zkp

import (
	"errors"
	"testing"

	"evote/crypto/group"
)

// Regression tests of the 2026-11 review of the zero-knowledge proofs
// (spec/review-2026-11.md). They pin properties the review checked and
// found to hold.

// TestRangeWeightsIndependent: the batched range verifier (spec §4.5) must
// give every equation of every branch, and of every proof in a batch, its
// own weight. Shifting z_j by +δ and z_{j'} by −δ leaves the challenges
// unchanged (responses are not hashed) and cancels exactly when both
// branches share their weights; the same across two proofs in one batch.
func TestRangeWeightsIndependent(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("review", "voter", 0)
	delta := new(group.Scalar).SetUint64(777)
	shift := func(p *RangeProof, j int, d *group.Scalar) *RangeProof {
		q, err := ParseRangeProof(p.Bytes(), p.max)
		if err != nil {
			t.Fatal(err)
		}
		q.z[j].Add(&q.z[j], d)
		return q
	}
	minus := new(group.Scalar).Negate(delta)

	// Within one proof: branches 0 and 2 of a k = 3 proof.
	f := newRangeFixture(t, pk, 3, 1, ctx)
	q := shift(shift(f.proof, 0, delta), 2, minus)
	if err := q.Verify(ctx, f.st); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("compensating responses of two branches: got %v, want ErrInvalidProof", err)
	}
	b := NewBatch()
	g, h := b.Shared(GeneratorElement()), b.Shared(pk.Element())
	if err := q.AddToBatch(b, "q", ctx, f.st, g, h); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("the same in a batch: got %v, want ErrInvalidProof", err)
	}

	// Across two proofs of one batch: the same branch of two statements.
	f2 := newRangeFixture(t, pk, 3, 2, ctx)
	p1, p2 := shift(f.proof, 1, delta), shift(f2.proof, 1, minus)
	b = NewBatch()
	g, h = b.Shared(GeneratorElement()), b.Shared(pk.Element())
	if err := p1.AddToBatch(b, "p1", ctx, f.st, g, h); err != nil {
		t.Fatal(err)
	}
	if err := p2.AddToBatch(b, "p2", ctx, f2.st, g, h); err != nil {
		t.Fatal(err)
	}
	var be *BatchError
	if err := b.Verify(); !errors.As(err, &be) || be.Name != "p1" {
		t.Errorf("compensating responses across two proofs: got %v, want batch item p1 named", err)
	}
}

// TestRangeLastChallengeDerived: the encoding carries c_0..c_{k−1} only and
// the verifier derives c_k = c − Σ c_j (spec §4.5), so a prover cannot pick
// all k+1 challenges freely: simulating every branch with challenges of its
// choice (the attack that a missing sum check allows) fails.
func TestRangeLastChallengeDerived(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("review", "voter", 1)
	const k = 2
	// A ciphertext of 5, outside [0, 2]: no branch can be proven honestly.
	ct, _, err := pk.Encrypt(5, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := &RangeStatement{PK: pk, Ciphertext: ct, Max: k}
	// Simulate all k+1 branches with random challenges c_j and responses
	// z_j: a_j = g^{z_j}·A^{−c_j}, b_j = h^{z_j}·(B·g^{−j})^{−c_j}.
	p := &RangeProof{max: k, commit: make([]group.Element, 2*(k+1)), c: make([]group.Scalar, k), z: make([]group.Scalar, k+1)}
	g := group.NewGeneratorElement()
	for j := 0; j <= k; j++ {
		cj := group.RandomScalar()
		if j < k {
			p.c[j].Set(cj)
		}
		p.z[j].Set(group.RandomScalar())
		negC := new(group.Scalar).Negate(cj)
		p.commit[2*j].VarTimeMultiScalarMult([]*group.Scalar{&p.z[j], negC}, []*group.Element{g, &ct.A})
		jc := new(group.Scalar).Multiply(cj, new(group.Scalar).SetUint64(uint64(j)))
		p.commit[2*j+1].VarTimeMultiScalarMult([]*group.Scalar{&p.z[j], negC, jc}, []*group.Element{pk.Element(), &ct.B, g})
	}
	p.commitEnc = encodeElements(p.commit)
	parsed, err := ParseRangeProof(p.Bytes(), k)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(ctx, st); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("all branches simulated with free challenges: got %v, want ErrInvalidProof", err)
	}
}
