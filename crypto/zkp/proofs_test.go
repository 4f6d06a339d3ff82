package zkp

import (
	"bytes"
	"errors"
	"testing"

	"evote/crypto/group"
)

// TestSchnorrRejects covers every kind of tampering for Schnorr proofs.
func TestSchnorrRejects(t *testing.T) {
	ctx := ballotContext("election", "voter", 0)
	g := GeneratorElement()
	x := group.RandomScalar()
	X := new(group.Element).ScalarBaseMult(x)
	p, err := ProveSchnorr(ctx, g, X, x, group.GeneratorTable(), nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := p.Bytes()
	other := new(group.Element).ScalarBaseMult(group.RandomScalar())
	// A response made for another challenge: z' = w + (c+1)·x = z + x.
	wrongC := bytes.Clone(enc)
	z, _ := new(group.Scalar).SetCanonicalBytes(enc[32:])
	copy(wrongC[32:], z.Add(z, x).Bytes())
	altR := bytes.Clone(enc)
	R, _ := new(group.Element).SetCanonicalBytes(enc[:32])
	copy(altR, R.Add(R, g).Bytes())
	altZ := bytes.Clone(enc)
	z2, _ := new(group.Scalar).SetCanonicalBytes(enc[32:])
	copy(altZ[32:], z2.Add(z2, scalar(1)).Bytes())
	ncs := bytes.Clone(enc)
	copy(ncs[32:], addL(enc[32:]))
	nce := bytes.Clone(enc)
	copy(nce, nonCanonicalElement())
	cases := []struct {
		name      string
		ctx       []byte
		base, pub *group.Element
		enc       []byte
		want      error
	}{
		{"honest", ctx, g, X, enc, nil},
		{"other public", ctx, g, other, enc, ErrInvalidProof},
		{"other base", ctx, other, X, enc, ErrInvalidProof},
		{"other election", ballotContext("election 2", "voter", 0), g, X, enc, ErrInvalidProof},
		{"other voter", ballotContext("election", "voter 2", 0), g, X, enc, ErrInvalidProof},
		{"altered commitment", ctx, g, X, altR, ErrInvalidProof},
		{"altered response", ctx, g, X, altZ, ErrInvalidProof},
		{"response for another challenge", ctx, g, X, wrongC, ErrInvalidProof},
		{"non-canonical scalar", ctx, g, X, ncs, group.ErrNonCanonicalScalar},
		{"non-canonical element", ctx, g, X, nce, group.ErrInvalidElement},
		{"trailing byte", ctx, g, X, append(bytes.Clone(enc), 0), ErrProofLength},
		{"truncated", ctx, g, X, enc[:63], ErrProofLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := ParseSchnorrProof(c.enc)
			if err == nil {
				err = q.Verify(c.ctx, c.base, c.pub)
				// Batch verification agrees with single verification.
				b := NewBatch()
				q.AddToBatch(b, c.name, c.ctx, c.base, c.pub)
				if berr := b.Verify(); (berr == nil) != (err == nil) {
					t.Fatalf("batch says %v, single says %v", berr, err)
				}
			}
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestDLEQRejects covers every kind of tampering for DLEQ proofs.
func TestDLEQRejects(t *testing.T) {
	ctx := ballotContext("election", "trustee", 0)
	g := GeneratorElement()
	x := group.RandomScalar()
	G2 := new(group.Element).ScalarBaseMult(group.RandomScalar())
	st := &DLEQStatement{G1: g, X1: new(group.Element).ScalarBaseMult(x), G2: G2, X2: new(group.Element).ScalarMult(x, G2)}
	p, err := ProveDLEQ(ctx, st, x, group.GeneratorTable(), nil)
	if err != nil {
		t.Fatal(err)
	}
	enc := p.Bytes()
	other := new(group.Element).ScalarBaseMult(group.RandomScalar())
	with := func(i int, e *group.Element) *DLEQStatement {
		s := *st
		switch i {
		case 0:
			s.G1 = e
		case 1:
			s.X1 = e
		case 2:
			s.G2 = e
		case 3:
			s.X2 = e
		}
		return &s
	}
	alter := func(off int) []byte {
		b := bytes.Clone(enc)
		if off < 64 {
			e, _ := new(group.Element).SetCanonicalBytes(b[off : off+32])
			copy(b[off:], e.Add(e, g).Bytes())
		} else {
			s, _ := new(group.Scalar).SetCanonicalBytes(b[off:])
			copy(b[off:], s.Add(s, scalar(1)).Bytes())
		}
		return b
	}
	wrongC := bytes.Clone(enc)
	z, _ := new(group.Scalar).SetCanonicalBytes(enc[64:])
	copy(wrongC[64:], z.Add(z, x).Bytes())
	// A statement that is false: X2 = G2^(x+1), with a proof made for it by
	// the honest algorithm.
	falseSt := with(3, new(group.Element).ScalarMult(new(group.Scalar).Add(x, scalar(1)), G2))
	fp, err := ProveDLEQ(ctx, falseSt, x, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ncs := bytes.Clone(enc)
	copy(ncs[64:], addL(enc[64:]))
	nce := bytes.Clone(enc)
	copy(nce[32:], nonCanonicalElement())
	cases := []struct {
		name string
		ctx  []byte
		st   *DLEQStatement
		enc  []byte
		want error
	}{
		{"honest", ctx, st, enc, nil},
		{"other G1", ctx, with(0, other), enc, ErrInvalidProof},
		{"other X1", ctx, with(1, other), enc, ErrInvalidProof},
		{"other G2", ctx, with(2, other), enc, ErrInvalidProof},
		{"other X2", ctx, with(3, other), enc, ErrInvalidProof},
		{"false statement", ctx, falseSt, fp.Bytes(), ErrInvalidProof},
		{"other context", ballotContext("election 2", "trustee", 0), st, enc, ErrInvalidProof},
		{"altered R1", ctx, st, alter(0), ErrInvalidProof},
		{"altered R2", ctx, st, alter(32), ErrInvalidProof},
		{"altered response", ctx, st, alter(64), ErrInvalidProof},
		{"response for another challenge", ctx, st, wrongC, ErrInvalidProof},
		{"non-canonical scalar", ctx, st, ncs, group.ErrNonCanonicalScalar},
		{"non-canonical element", ctx, st, nce, group.ErrInvalidElement},
		{"trailing byte", ctx, st, append(bytes.Clone(enc), 0), ErrProofLength},
		{"truncated", ctx, st, enc[:95], ErrProofLength},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := ParseDLEQProof(c.enc)
			if err == nil {
				err = q.Verify(c.ctx, c.st)
				b := NewBatch()
				q.AddToBatch(b, c.name, c.ctx, c.st, b.Shared(c.st.G1))
				if berr := b.Verify(); (berr == nil) != (err == nil) {
					t.Fatalf("batch says %v, single says %v", berr, err)
				}
			}
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestNilInputs: verifiers answer an error, never panic, on nil input.
func TestNilInputs(t *testing.T) {
	g := GeneratorElement()
	var sp *SchnorrProof
	var dp *DLEQProof
	if err := sp.Verify(nil, g, g); !errors.Is(err, ErrStatement) {
		t.Errorf("nil schnorr proof: %v", err)
	}
	if err := new(SchnorrProof).Verify(nil, nil, g); !errors.Is(err, ErrStatement) {
		t.Errorf("nil base: %v", err)
	}
	if err := dp.Verify(nil, &DLEQStatement{G1: g, X1: g, G2: g, X2: g}); !errors.Is(err, ErrStatement) {
		t.Errorf("nil dleq proof: %v", err)
	}
	if err := new(DLEQProof).Verify(nil, &DLEQStatement{G1: g, X1: g, G2: g}); !errors.Is(err, ErrStatement) {
		t.Errorf("nil X2: %v", err)
	}
	if err := new(DLEQProof).Verify(nil, nil); !errors.Is(err, ErrStatement) {
		t.Errorf("nil statement: %v", err)
	}
	// In a batch, a nil input is named by Verify.
	x := group.RandomScalar()
	X := new(group.Element).ScalarBaseMult(x)
	good, _ := ProveSchnorr(nil, g, X, x, nil, nil)
	b := NewBatch()
	good.AddToBatch(b, "good", nil, g, X)
	sp.AddToBatch(b, "nil schnorr", nil, g, X)
	dp.AddToBatch(b, "nil dleq", nil, nil, -1)
	var be *BatchError
	if err := b.Verify(); !errors.As(err, &be) || be.Name != "nil schnorr" || !errors.Is(err, ErrStatement) {
		t.Fatalf("batch with nil items: %v", err)
	}
}
