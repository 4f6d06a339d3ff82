package zkp

import (
	"errors"
	"io"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// outOfRangeStatement encrypts m (a scalar, possibly huge) under pk.
func outOfRangeStatement(pk *elgamal.PublicKey, k int, m *group.Scalar) (*RangeStatement, *group.Scalar) {
	r := group.RandomScalar()
	return &RangeStatement{PK: pk, Ciphertext: pk.EncryptWithRandomness(m, r), Max: k}, r
}

// simulateAll is a cheating prover that knows no valid branch: it simulates
// every branch with its own random challenge, as the honest prover does for
// the branches it does not hold. Its challenges then do not add up to the
// Fiat-Shamir challenge, and the derived c_k breaks branch k.
func simulateAll(ctx []byte, st *RangeStatement) *RangeProof {
	k := st.Max
	p := &RangeProof{max: k, commit: make([]group.Element, 2*(k+1)), c: make([]group.Scalar, k), z: make([]group.Scalar, k+1)}
	h := st.PK.Element()
	for j := 0; j <= k; j++ {
		c := group.RandomScalar()
		if j < k {
			p.c[j].Set(c)
		}
		p.z[j].Set(group.RandomScalar())
		negC := new(group.Scalar).Negate(c)
		// a_j = g^z · A^-c,  b_j = h^z · (B·g^-j)^-c
		p.commit[2*j].VarTimeMultiScalarMult([]*group.Scalar{&p.z[j], negC}, []*group.Element{generator, &st.Ciphertext.A})
		bj := new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(uint64(j)))
		bj.Subtract(&st.Ciphertext.B, bj)
		p.commit[2*j+1].VarTimeMultiScalarMult([]*group.Scalar{&p.z[j], negC}, []*group.Element{h, bj})
	}
	p.commitEnc = encodeElements(p.commit)
	return p
}

// TestRangeCheatingProvers shows that no prover following the protocol's
// moves can make a verifying proof for a value outside [0, k].
func TestRangeCheatingProvers(t *testing.T) {
	pk := mustKeyPair(t).Public()
	ctx := ballotContext("election", "voter", 0)
	huge := group.RandomScalar()
	for _, k := range []int{1, 5, 10} {
		for _, m := range []*group.Scalar{new(group.Scalar).SetUint64(uint64(k + 1)), new(group.Scalar).SetInt64(-1), huge} {
			st, r := outOfRangeStatement(pk, k, m)
			// The honest prover refuses a value it knows to be out of range.
			if _, err := ProveRange(ctx, st, uint64(k+1), r, nil); !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("k=%d: prover accepted m=k+1: %v", k, err)
			}
			// An honest-looking prover claiming each in-range value in turn.
			for j := 0; j <= k; j++ {
				p, err := ProveRange(ctx, st, uint64(j), r, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Verify(ctx, st); !errors.Is(err, ErrInvalidProof) || referenceVerifyRange(p, ctx, st) {
					t.Fatalf("k=%d m=%v: proof claiming branch %d: %v", k, m, j, err)
				}
				b := NewBatch()
				if err := p.AddToBatch(b, "cheat", ctx, st, -1, -1); err != nil || b.Verify() == nil {
					t.Fatalf("k=%d: batch accepted a cheating proof (%v)", k, err)
				}
			}
			// A prover that simulates every branch.
			if err := simulateAll(ctx, st).Verify(ctx, st); !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("k=%d: all-simulated proof: %v", k, err)
			}
		}
	}
	// Control: the same all-simulated prover on an in-range ciphertext also
	// fails, while the honest prover succeeds: what the cheater lacks is the
	// one real branch.
	f := newRangeFixture(t, pk, 3, 2, ctx)
	if simulateAll(ctx, f.st).Verify(ctx, f.st) == nil {
		t.Fatal("all-simulated proof verified")
	}
}

// weakChallenge is the challenge of the weak Fiat-Shamir transform
// (Bernhard, Pereira, Warinschi 2012): it hashes only the commitments, not
// the statement (key, ciphertext, bound) nor the context. Test only.
func weakChallenge(p *RangeProof) *group.Scalar {
	t := NewTranscript("weak", nil)
	t.AppendMessage("commitments", p.commitEnc)
	return t.Challenge("challenge")
}

// weakVerify checks the range proof's equations, as Verify does, but with
// the weak challenge. Test only: it shows what our transcript prevents.
func weakVerify(p *RangeProof, st *RangeStatement) bool {
	var t terms
	p.addEquations(&t, st, weakChallenge(p), -1, -1)
	return t.isIdentity()
}

// forgeWeak builds a range proof for bound k whose ciphertext, chosen after
// the challenge, encrypts m = k + δ/c for a random δ: out of range with
// overwhelming probability (../shared/SECURITY.md #1). The branches j < k
// are trivial (c_j = 0, a_j = g^{u_j}, b_j = h^{u_j}); branch k commits to
// b_k = h^{u_k}·g^{−δ}, and the choice of m after seeing c = c_k cancels δ.
func forgeWeak(pk *elgamal.PublicKey, k int, rnd io.Reader) (*RangeStatement, *RangeProof, *group.Scalar) {
	p := &RangeProof{max: k, commit: make([]group.Element, 2*(k+1)), c: make([]group.Scalar, k), z: make([]group.Scalar, k+1)}
	h := pk.Element()
	u := make([]*group.Scalar, k+1)
	for j := range u {
		u[j] = randomScalar(rnd)
		p.commit[2*j].ScalarBaseMult(u[j])
		p.commit[2*j+1].ScalarMult(u[j], h)
	}
	delta := randomScalar(rnd)
	gd := new(group.Element).ScalarBaseMult(delta)
	p.commit[2*k+1].Subtract(&p.commit[2*k+1], gd)
	p.commitEnc = encodeElements(p.commit)
	c := weakChallenge(p) // c_j = 0 for j < k, so c_k = c
	m := new(group.Scalar).Invert(c)
	m.MultiplyAdd(m, delta, new(group.Scalar).SetUint64(uint64(k)))
	r := randomScalar(rnd)
	st := &RangeStatement{PK: pk, Ciphertext: pk.EncryptWithRandomness(m, r), Max: k}
	for j := 0; j < k; j++ {
		p.z[j].Set(u[j])
	}
	p.z[k].MultiplyAdd(c, r, u[k])
	return st, p, m
}

// TestWeakFiatShamirForgery is the regression test of SECURITY.md #1.
func TestWeakFiatShamirForgery(t *testing.T) {
	sk := mustKeyPair(t)
	pk := sk.Public()
	ctx := ballotContext("election", "voter", 0)
	tab := elgamal.NewDLogTable(1 << 12)
	for _, k := range []int{1, 5} {
		st, p, m := forgeWeak(pk, k, nil)
		// The forged ciphertext really is out of range.
		if v, err := tab.Lookup(sk.Decrypt(st.Ciphertext)); err == nil {
			t.Fatalf("k=%d: forged ciphertext decrypts to the small value %d", k, v)
		}
		if m.Equal(new(group.Scalar).SetUint64(uint64(k))) == 1 {
			t.Fatal("δ = 0")
		}
		if !weakVerify(p, st) {
			t.Fatalf("k=%d: the forgery does not fool the weak verifier: test is broken", k)
		}
		// Ours rejects it, decoded from bytes as a verifier would see it.
		q, err := ParseRangeProof(p.Bytes(), k)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Verify(ctx, st); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("k=%d: strong verifier: %v", k, err)
		}
		if err := q.Verify(nil, st); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("k=%d: strong verifier with empty context: %v", k, err)
		}
		b := NewBatch()
		if err := q.AddToBatch(b, "forged", ctx, st, b.Shared(GeneratorElement()), b.Shared(pk.Element())); err != nil {
			t.Fatal(err)
		}
		var be *BatchError
		if err := b.Verify(); !errors.As(err, &be) || be.Name != "forged" {
			t.Fatalf("k=%d: batch: %v", k, err)
		}
		// Control: the weak verifier is not a verifier that accepts anything:
		// it rejects an honest proof made with the strong challenge.
		f := newRangeFixture(t, pk, k, 1, ctx)
		if weakVerify(f.proof, f.st) {
			t.Fatal("weak verifier accepts a strong proof: the two challenges coincide")
		}
	}
}
