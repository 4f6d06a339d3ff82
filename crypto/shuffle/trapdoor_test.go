package shuffle

import (
	"errors"
	"testing"

	"evote/crypto/group"
)

// TestTrapdoorGenerators is ../shared/SECURITY.md #3 (Lewis, Pereira,
// Teague 2019): a mixer who knows the discrete logarithms of the
// commitment generators can prove a shuffle that is not one. Here it
// doubles the plaintext of one ballot. The forged proof verifies against
// the trapdoor generators (the attack is real), and is rejected by Verify,
// which derives the generators from the election id.
func TestTrapdoorGenerators(t *testing.T) {
	const n = 6
	f := newFixture(t, n, 1)
	p := f.p
	gt := group.GeneratorTable()
	yt := p.PublicKey.Table()

	// Trapdoor generators G_i = g^{x_i}, same seed as the real ones.
	x := make([]*group.Scalar, n+1)
	trap := &Generators{seed: p.ElectionID, elems: make([]*group.Element, n+1)}
	for i := range x {
		x[i] = group.RandomScalar()
		trap.elems[i] = new(group.Element).ScalarBaseMult(x[i])
	}

	// A permutation and the re-encryption, except that output row 0 is
	// e_{π(0)}^2 re-encrypted: its plaintext is doubled.
	perm := []int{3, 0, 5, 1, 4, 2}
	rre := make([]*group.Scalar, n)
	out := &Rows{n: n, w: 1, data: make([]byte, len(f.in.data))}
	for i := 0; i < n; i++ {
		rre[i] = group.RandomScalar()
		c, _ := f.in.Ciphertext(perm[i], 0)
		if i == 0 {
			c.Add(c, c)
		}
		copy(out.Row(i), p.PublicKey.ReEncrypt(c, rre[i]).Bytes())
	}

	proof, _ := newProof(n, 1)
	rc := make([]*group.Scalar, n)
	for i := 0; i < n; i++ {
		rc[i] = group.RandomScalar()
		c := new(group.Element).ScalarBaseMult(rc[i])
		c.Add(c, trap.elems[i+1])
		copy(elem(proof.perm, perm[i]), c.Bytes())
	}
	tr := newTranscript(p, f.in.Digest(), out)
	u := batchingChallenges(tr, proof.perm, n)

	// The cheat: u'_0 = u_{π(0)}/2 instead of u_{π(0)}, so that
	// e'_0^{u'_0} = e_{π(0)}^{u_{π(0)}}·Enc(0). The trapdoor absorbs the
	// difference in the commitment equations.
	up := make([]*group.Scalar, n)
	for i := range up {
		up[i] = new(group.Scalar).Set(&u[perm[i]])
	}
	half := new(group.Scalar).Invert(new(group.Scalar).SetUint64(2))
	up[0].Multiply(up[0], half)

	// Chain ĉ_i = g^{R_i}·G_0^{U_i} over u'.
	rhat := make([]*group.Scalar, n)
	R := make([]*group.Scalar, n)
	U := make([]*group.Scalar, n)
	prevR, prevU := new(group.Scalar), new(group.Scalar).SetUint64(1)
	h0t := group.NewFixedBase(trap.elems[0])
	for i := 0; i < n; i++ {
		rhat[i] = group.RandomScalar()
		R[i] = new(group.Scalar).MultiplyAdd(prevR, up[i], rhat[i])
		U[i] = new(group.Scalar).Multiply(prevU, up[i])
		prevR, prevU = R[i], U[i]
		e := new(group.Element).ScalarMultFixed(R[i], gt)
		e.Add(e, new(group.Element).ScalarMultFixed(U[i], h0t))
		copy(elem(proof.chain, i), e.Bytes())
	}
	// Openings made consistent with the trapdoor:
	// r̂ = R_{N-1} + x_0·(Π u' − Π u), r̃ = Σ rc_i·u_{π(i)} + Σ x_{i+1}·(u_{π(i)} − u'_i).
	prodU := new(group.Scalar).SetUint64(1)
	for j := range u {
		prodU.Multiply(prodU, &u[j])
	}
	rHatTotal := new(group.Scalar).Subtract(U[n-1], prodU)
	rHatTotal.MultiplyAdd(x[0], rHatTotal, R[n-1])
	rbar, rtilde, rprime := new(group.Scalar), new(group.Scalar), new(group.Scalar)
	for i := 0; i < n; i++ {
		rbar.Add(rbar, rc[i])
		rtilde.MultiplyAdd(rc[i], &u[perm[i]], rtilde)
		d := new(group.Scalar).Subtract(&u[perm[i]], up[i])
		rtilde.MultiplyAdd(x[i+1], d, rtilde)
		rprime.MultiplyAdd(rre[i], up[i], rprime)
	}

	// Commitments, challenge and responses, as an honest prover would.
	w1, w2, w3, w4 := group.RandomScalar(), group.RandomScalar(), group.RandomScalar(), group.RandomScalar()
	wh := make([]*group.Scalar, n)
	wp := make([]*group.Scalar, n)
	t3 := new(group.Element).ScalarBaseMult(w3)
	t4a := new(group.Element).ScalarBaseMult(new(group.Scalar).Negate(w4))
	t4b := new(group.Element).ScalarMultFixed(new(group.Scalar).Negate(w4), yt)
	for i := 0; i < n; i++ {
		wh[i], wp[i] = group.RandomScalar(), group.RandomScalar()
		prev := trap.elems[0]
		if i > 0 {
			prev = new(group.Element)
			if _, err := prev.SetCanonicalBytes(elem(proof.chain, i-1)); err != nil {
				t.Fatal(err)
			}
		}
		th := new(group.Element).ScalarBaseMult(wh[i])
		th.Add(th, new(group.Element).ScalarMult(wp[i], prev))
		copy(elem(proof.nonce, i), th.Bytes())
		t3.Add(t3, new(group.Element).ScalarMult(wp[i], trap.elems[i+1]))
		c, _ := out.Ciphertext(i, 0)
		t4a.Add(t4a, new(group.Element).ScalarMult(wp[i], &c.A))
		t4b.Add(t4b, new(group.Element).ScalarMult(wp[i], &c.B))
	}
	for j, e := range []*group.Element{new(group.Element).ScalarBaseMult(w1), new(group.Element).ScalarBaseMult(w2), t3, t4a, t4b} {
		copy(elem(proof.t, j), e.Bytes())
	}
	c := finalChallenge(tr, proof)
	negC := new(group.Scalar).Negate(c)
	for j, pair := range [][2]*group.Scalar{{w1, rbar}, {w2, rHatTotal}, {w3, rtilde}, {w4, rprime}} {
		copy(elem(proof.s, j), new(group.Scalar).MultiplyAdd(negC, pair[1], pair[0]).Bytes())
	}
	for i := 0; i < n; i++ {
		copy(elem(proof.shat, i), new(group.Scalar).MultiplyAdd(negC, rhat[i], wh[i]).Bytes())
		copy(elem(proof.sprime, i), new(group.Scalar).MultiplyAdd(negC, up[i], wp[i]).Bytes())
	}

	// The attack works against a verifier that takes the mixer's generators…
	if err := verify(p, f.in, out, proof, trap); err != nil {
		t.Fatalf("forged proof does not verify under the trapdoor generators (test is broken): %v", err)
	}
	c0, _ := out.Ciphertext(0, 0)
	doubled := new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(2 * f.msg[perm[0]]))
	if f.sk.Decrypt(c0).Equal(doubled) != 1 {
		t.Fatal("forged output does not double the plaintext (test is broken)")
	}
	// …and fails against ours, which derive the generators from the seed.
	err := Verify(p, f.in, out, proof)
	var ee *EquationError
	if !errors.Is(err, ErrInvalidProof) || !errors.As(err, &ee) {
		t.Fatalf("trapdoor proof: got %v, want ErrInvalidProof", err)
	}
	t.Logf("trapdoor proof rejected: %v", err)
	// Generators passed in by a caller are used only if derived from the
	// election id: a Generators value for another seed is ignored.
	p2 := *p
	p2.Generators = DeriveGenerators([]byte("other-election"), n, nil)
	if err := Verify(&p2, f.in, out, proof); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("got %v", err)
	}
}
