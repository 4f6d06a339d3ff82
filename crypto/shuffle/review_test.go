package shuffle

import (
	"errors"
	"testing"

	"evote/crypto/group"
)

// Regression tests of the 2026-11 review of the zero-knowledge proofs
// (spec/review-2026-11.md). They pin properties the review checked and
// found to hold.

// shiftScalar adds d to the 32-byte scalar b in place.
func shiftScalar(t *testing.T, b []byte, d *group.Scalar) {
	t.Helper()
	s, err := new(group.Scalar).SetCanonicalBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	copy(b, s.Add(s, d).Bytes())
}

// TestCompensatingResponsesRejected: the combined check of spec §6.5 must
// weight every equation independently. Each case shifts two responses by
// +δ and −δ so that their errors cancel exactly when the two equations
// share a weight (one weight for all columns of E4, one for all rows of
// E5, ρ1 = ρ2, ρ1 = 1 or ρ̂_i = 1 like E3's). The challenges are
// unchanged (responses are not hashed), so only independent weights catch
// them.
func TestCompensatingResponsesRejected(t *testing.T) {
	const n, w = 4, 2
	f := newFixture(t, n, w)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(f.p, f.in, out, proof); err != nil {
		t.Fatal(err)
	}
	delta := new(group.Scalar).SetUint64(12345)
	minus := new(group.Scalar).Negate(delta)
	type at struct {
		field func(*Proof) []byte
		i     int
	}
	s := func(p *Proof) []byte { return p.s }
	shat := func(p *Proof) []byte { return p.shat }
	cases := []struct {
		name string
		a, b at
	}{
		{"s4 of columns 0 and 1 (E4 weights per column)", at{s, 3}, at{s, 4}},
		{"ŝ of rows 0 and 1 (E5 weights per row)", at{shat, 0}, at{shat, 1}},
		{"ŝ of rows 0 and 3", at{shat, 0}, at{shat, 3}},
		{"s1 and s2 (ρ1 ≠ ρ2)", at{s, 0}, at{s, 1}},
		{"s1 and s3 (ρ1 ≠ 1)", at{s, 0}, at{s, 2}},
		{"s3 and ŝ_0 (ρ̂_0 ≠ 1)", at{s, 2}, at{shat, 0}},
		{"s2 and ŝ_2", at{s, 1}, at{shat, 2}},
	}
	for _, c := range cases {
		q := cloneProof(t, proof)
		shiftScalar(t, elem(c.a.field(q), c.a.i), delta)
		shiftScalar(t, elem(c.b.field(q), c.b.i), minus)
		err := Verify(f.p, f.in, out, q)
		var ee *EquationError
		if !errors.Is(err, ErrInvalidProof) || !errors.As(err, &ee) || ee.Equation == EqBatchUnexplained {
			t.Errorf("%s: got %v, want a named failing equation", c.name, err)
		}
	}
}

// TestBatchingChallengesBindStatement: the batching challenges u_j are
// derived after the whole statement and the permutation commitments are
// absorbed (spec §6.6), so changing any of them changes every u_j.
func TestBatchingChallengesBindStatement(t *testing.T) {
	const n, w = 3, 2
	f := newFixture(t, n, w)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	us := func(p *Params, in, o *Rows, perm []byte) []group.Scalar {
		return batchingChallenges(newTranscript(p, in.Digest(), o), perm, n)
	}
	ref := us(f.p, f.in, out, proof.perm)
	other := func(mod func(p *Params)) *Params { p := *f.p; mod(&p); return &p }
	perm2 := append([]byte(nil), proof.perm...)
	copy(perm2[32:64], alterElement(t, perm2[32:64]))
	out2 := cloneRows(out)
	copy(out2.element(2, 3), alterElement(t, out2.element(2, 3)))
	in2 := cloneRows(f.in)
	copy(in2.element(0, 0), alterElement(t, in2.element(0, 0)))
	variants := map[string][]group.Scalar{
		"permutation commitment": us(f.p, f.in, out, perm2),
		"output":                 us(f.p, f.in, out2, proof.perm),
		"input":                  us(f.p, in2, out, proof.perm),
		"mixer":                  us(other(func(p *Params) { p.Mixer++ }), f.in, out, proof.perm),
		"election id":            us(other(func(p *Params) { p.ElectionID = []byte("x") }), f.in, out, proof.perm),
		"context":                us(other(func(p *Params) { p.Context = []byte("x") }), f.in, out, proof.perm),
	}
	for name, u := range variants {
		for j := range u {
			if u[j].Equal(&ref[j]) == 1 {
				t.Errorf("u_%d unchanged when the %s changes", j, name)
			}
		}
	}
	for j := range ref {
		b := ref[j].Bytes() // little-endian: below 2^128 iff the top 16 bytes are 0
		for _, x := range b[16:] {
			if x != 0 {
				t.Fatalf("u_%d is not below 2^128", j)
			}
		}
	}
}

// TestForeignGeneratorsIgnored: generators handed in through Params are
// used only if derived from the statement's election id (spec §6.2); a
// record or caller cannot substitute others.
func TestForeignGeneratorsIgnored(t *testing.T) {
	const n, w = 3, 1
	f := newFixture(t, n, w)
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := *f.p
	p.Generators = DeriveGenerators([]byte("another-election"), 16, nil)
	if err := Verify(&p, f.in, out, proof); err != nil {
		t.Fatalf("generators of another election were used: %v", err)
	}
	// A proof made under those generators fails under ours.
	gens := DeriveGenerators([]byte("another-election"), n, nil)
	wit := newWitness(n, w)
	if err := wit.fill(nil); err != nil {
		t.Fatal(err)
	}
	if wit.perm, err = randomPermutation(n, nil); err != nil {
		t.Fatal(err)
	}
	out2, proof2, err := prove(f.p, f.in, gens, wit)
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(f.p, f.in, out2, proof2, gens); err != nil {
		t.Fatalf("fixture: proof under its own generators: %v", err)
	}
	if err := Verify(&p, f.in, out2, proof2); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("proof under foreign generators: got %v, want ErrInvalidProof", err)
	}
}
