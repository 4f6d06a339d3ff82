package zkp

import (
	"bytes"
	"errors"
	"testing"

	"evote/crypto/group"
)

func TestSchnorr(t *testing.T) {
	ctx := []byte("election context")
	g := group.NewGeneratorElement()
	x := group.RandomScalar()
	X := new(group.Element).ScalarBaseMult(x)
	p, err := ProveSchnorr(ctx, g, X, x, group.GeneratorTable(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(ctx, g, X); err != nil {
		t.Fatalf("honest proof rejected: %v", err)
	}
	q, err := ParseSchnorrProof(p.Bytes())
	if err != nil || q.Verify(ctx, g, X) != nil {
		t.Fatal("round trip failed")
	}
	other := new(group.Element).ScalarBaseMult(group.RandomScalar())
	bad := map[string]error{
		"other context":   p.Verify([]byte("other"), g, X),
		"other statement": p.Verify(ctx, g, other),
		"other base":      p.Verify(ctx, other, X),
	}
	zAltered := *p
	zAltered.Z.Add(&zAltered.Z, new(group.Scalar).SetUint64(1))
	bad["altered response"] = zAltered.Verify(ctx, g, X)
	rAltered := *p
	rAltered.R.Add(&rAltered.R, g)
	bad["altered commitment"] = rAltered.Verify(ctx, g, X)
	for name, err := range bad {
		if !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: got %v, want ErrInvalidProof", name, err)
		}
	}
	if _, err := ParseSchnorrProof(append(p.Bytes(), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

func TestDLEQAndBatch(t *testing.T) {
	ctx := []byte("ctx")
	g := group.NewGeneratorElement()
	b := NewBatch()
	gh := b.Shared(g)
	var proofs []*DLEQProof
	var sts []*DLEQStatement
	for i := 0; i < 5; i++ {
		x := group.RandomScalar()
		h := group.HashToElement([]byte{byte(i)}, []byte(group.HashToElementDST))
		st := &DLEQStatement{G1: g, X1: new(group.Element).ScalarBaseMult(x), G2: h, X2: new(group.Element).ScalarMult(x, h)}
		p, err := ProveDLEQ(ctx, st, x, group.GeneratorTable(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(ctx, st); err != nil {
			t.Fatalf("honest proof %d rejected: %v", i, err)
		}
		q, err := ParseDLEQProof(p.Bytes())
		if err != nil || !bytes.Equal(q.Bytes(), p.Bytes()) {
			t.Fatal("round trip failed")
		}
		proofs, sts = append(proofs, p), append(sts, st)
		p.AddToBatch(b, "share", ctx, st, gh)
	}
	if err := b.Verify(); err != nil {
		t.Fatalf("honest batch rejected: %v", err)
	}
	// Swap one statement's X2 for another's: the batch must name item 3.
	b2 := NewBatch()
	gh2 := b2.Shared(g)
	for i, p := range proofs {
		st := sts[i]
		if i == 3 {
			st = &DLEQStatement{G1: st.G1, X1: st.X1, G2: st.G2, X2: sts[2].X2}
		}
		p.AddToBatch(b2, "share", ctx, st, gh2)
	}
	var be *BatchError
	if err := b2.Verify(); !errors.As(err, &be) || be.Index != 3 || !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("bad item not named: %v", err)
	}
	if err := proofs[0].Verify([]byte("other"), sts[0]); err == nil {
		t.Error("proof verified under another context")
	}
}
