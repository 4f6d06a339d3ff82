package threshold

import (
	"errors"
	"slices"
	"testing"

	"evote/crypto/group"
	"evote/internal/testrand"
)

// Regression tests of the 2026-11 review of the zero-knowledge proofs
// (spec/review-2026-11.md). They pin properties the review checked and
// found to hold.

// TestBatchWeightsBindShares: the weights ρ_l of a batched decryption proof
// (spec §5.10) must be derived from the shares D_l themselves, not only
// from the ciphertexts and key. Otherwise a trustee who knows the weights
// in advance alters two shares so that the errors cancel in D* = Π D_l^ρ_l
// (D'_0 = D_0·X, D'_1 = D_1·X^{−ρ_0/ρ_1}) and reuses its honest batched
// proof: the test shows that this forgery satisfies the batched statement
// under the weights of the honest shares, and that the verifier, which
// re-derives the weights over the altered shares, rejects it.
func TestBatchWeightsBindShares(t *testing.T) {
	d := honestDKG(t)
	rnd := testrand.New("review-weights")
	cts, _ := encryptTestVotes(t, d.res.JointKey, 4, rnd)
	k := d.shares[0]
	s, err := k.DecryptShares(testExt, cts, rnd)
	if err != nil {
		t.Fatal(err)
	}
	vks := d.res.VerificationKeys
	if err := VerifyDecryptionShare(testExt, vks, cts, s); err != nil {
		t.Fatal(err)
	}
	list := NewCiphertextList(cts)
	w := batchWeights(testExt, s.Trustee, vks[0], len(cts), list.aEnc, appendElements(nil, s.D))

	// The forgery: shift D_0 by X and D_1 by X^{−ρ0/ρ1}.
	x := group.NewGeneratorElement()
	f := new(group.Scalar).Invert(w[1])
	f.Multiply(f, w[0])
	f.Negate(f)
	forged := *s
	forged.D = slices.Clone(s.D)
	forged.D[0] = new(group.Element).Add(s.D[0], x)
	forged.D[1] = new(group.Element).Add(s.D[1], new(group.Element).ScalarMult(f, x))

	// Under the honest shares' weights the batched statement is unchanged...
	dStar := new(group.Element).VarTimeMultiScalarMult(w, s.D)
	dStarForged := new(group.Element).VarTimeMultiScalarMult(w, forged.D)
	if dStar.Equal(dStarForged) != 1 {
		t.Fatal("fixture: the forged shares do not cancel under fixed weights")
	}
	// ...and the shares decrypt wrongly.
	if forged.D[0].Equal(new(group.Element).ScalarMult(k.Secret(), &cts[0].A)) == 1 {
		t.Fatal("fixture: forged share is correct")
	}
	// Our verifier derives the weights over the forged shares and rejects.
	if err := VerifyDecryptionShare(testExt, vks, cts, &forged); !errors.Is(err, ErrInvalidShare) {
		t.Errorf("shares altered to cancel under the honest weights: got %v, want ErrInvalidShare", err)
	}
	if _, err := VerifyDecryptionShareBytes(testExt, vks, list, forged.Bytes()); !errors.Is(err, ErrInvalidShare) {
		t.Errorf("the same, from its encoding: got %v, want ErrInvalidShare", err)
	}
}
