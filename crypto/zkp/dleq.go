package zkp

import (
	"fmt"
	"io"

	"evote/crypto/group"
)

// Protocol names absorbed by each proof's transcript (spec §1.2, §4).
const (
	SchnorrProtocol = "evote-v1/schnorr"
	DLEQProtocol    = "evote-v1/dleq"
)

// A SchnorrProof proves knowledge of x with X = G^x (spec §4.3). It carries
// its commitment R, so that many proofs verify in one batch.
type SchnorrProof struct {
	R group.Element
	Z group.Scalar
}

// SchnorrProofSize is the length of an encoded SchnorrProof.
const SchnorrProofSize = group.ElementSize + group.ScalarSize

func schnorrChallenge(context []byte, base, pub, r *group.Element) *group.Scalar {
	t := NewTranscript(SchnorrProtocol, context)
	t.AppendElement("base", base)
	t.AppendElement("public", pub)
	t.AppendElement("commit", r)
	return t.Challenge("challenge")
}

// ProveSchnorr proves knowledge of x = log_base(pub). table, if not nil, is
// the fixed-base table of base (for speed); rand is crypto/rand when nil.
func ProveSchnorr(context []byte, base, pub *group.Element, x *group.Scalar, table *group.FixedBase, rand io.Reader) (*SchnorrProof, error) {
	w, err := new(group.Scalar).SetRandom(rand)
	if err != nil {
		return nil, fmt.Errorf("zkp: %w", err)
	}
	p := &SchnorrProof{}
	if table != nil {
		p.R.ScalarMultFixed(w, table)
	} else {
		p.R.ScalarMult(w, base)
	}
	c := schnorrChallenge(context, base, pub, &p.R)
	p.Z.MultiplyAdd(c, x, w)
	return p, nil
}

// Verify checks base^z = R·pub^c, as one multi-scalar multiplication.
func (p *SchnorrProof) Verify(context []byte, base, pub *group.Element) error {
	if p == nil || base == nil || pub == nil {
		return fmt.Errorf("%w: nil schnorr proof or statement", ErrStatement)
	}
	c := schnorrChallenge(context, base, pub, &p.R)
	negC := new(group.Scalar).Negate(c)
	minusOne := new(group.Scalar).SetInt64(-1)
	// base^z · pub^-c · R^-1 = 1
	var e group.Element
	e.VarTimeMultiScalarMult([]*group.Scalar{&p.Z, negC, minusOne}, []*group.Element{base, pub, &p.R})
	if e.IsIdentity() == 0 {
		return fmt.Errorf("zkp: schnorr: %w", ErrInvalidProof)
	}
	return nil
}

// AddToBatch adds the proof's equation to b under the given item name.
func (p *SchnorrProof) AddToBatch(b *Batch, name string, context []byte, base, pub *group.Element) {
	if p == nil || base == nil || pub == nil {
		b.fail(name, fmt.Errorf("%w: nil schnorr proof or statement", ErrStatement))
		return
	}
	c := schnorrChallenge(context, base, pub, &p.R)
	q := b.equation()
	q.commit(&p.R)
	q.term(-1, &p.Z, base)
	q.term(-1, new(group.Scalar).Negate(c), pub)
	b.addItem(name, func() error { return p.Verify(context, base, pub) })
}

// Bytes returns Element(R) || Scalar(z).
func (p *SchnorrProof) Bytes() []byte {
	return append(p.R.AppendBytes(make([]byte, 0, SchnorrProofSize)), p.Z.Bytes()...)
}

// ParseSchnorrProof decodes a proof, rejecting a wrong length and
// non-canonical encodings.
func ParseSchnorrProof(b []byte) (*SchnorrProof, error) {
	if len(b) != SchnorrProofSize {
		return nil, fmt.Errorf("%w: %w: schnorr proof is %d bytes, want %d", ErrMalformedProof, ErrProofLength, len(b), SchnorrProofSize)
	}
	p := &SchnorrProof{}
	if _, err := p.R.SetCanonicalBytes(b[:32]); err != nil {
		return nil, fmt.Errorf("%w: schnorr commitment: %w", ErrMalformedProof, err)
	}
	if _, err := p.Z.SetCanonicalBytes(b[32:]); err != nil {
		return nil, fmt.Errorf("%w: schnorr response: %w", ErrMalformedProof, err)
	}
	return p, nil
}

// A DLEQStatement says log_G1(X1) = log_G2(X2) (Chaum-Pedersen).
type DLEQStatement struct {
	G1, X1, G2, X2 *group.Element
}

// A DLEQProof proves a DLEQStatement (spec §4.4): commitments R1 = G1^w,
// R2 = G2^w and response z = w + c·x.
type DLEQProof struct {
	R1, R2 group.Element
	Z      group.Scalar
}

// DLEQProofSize is the length of an encoded DLEQProof.
const DLEQProofSize = 2*group.ElementSize + group.ScalarSize

func dleqChallenge(context []byte, st *DLEQStatement, r1, r2 *group.Element) *group.Scalar {
	t := NewTranscript(DLEQProtocol, context)
	t.AppendElement("g1", st.G1)
	t.AppendElement("x1", st.X1)
	t.AppendElement("g2", st.G2)
	t.AppendElement("x2", st.X2)
	t.AppendElement("r1", r1)
	t.AppendElement("r2", r2)
	return t.Challenge("challenge")
}

// ProveDLEQ proves st for the witness x. g1Table, if not nil, is the
// fixed-base table of st.G1. All arithmetic on x and the nonce is constant
// time.
func ProveDLEQ(context []byte, st *DLEQStatement, x *group.Scalar, g1Table *group.FixedBase, rand io.Reader) (*DLEQProof, error) {
	w, err := new(group.Scalar).SetRandom(rand)
	if err != nil {
		return nil, fmt.Errorf("zkp: %w", err)
	}
	p := &DLEQProof{}
	if g1Table != nil {
		p.R1.ScalarMultFixed(w, g1Table)
	} else {
		p.R1.ScalarMult(w, st.G1)
	}
	p.R2.ScalarMult(w, st.G2)
	c := dleqChallenge(context, st, &p.R1, &p.R2)
	p.Z.MultiplyAdd(c, x, w)
	return p, nil
}

// check rejects a nil proof or a statement with nil parts.
func (p *DLEQProof) check(st *DLEQStatement) error {
	if p == nil || st == nil || st.G1 == nil || st.X1 == nil || st.G2 == nil || st.X2 == nil {
		return fmt.Errorf("%w: nil dleq proof or statement part", ErrStatement)
	}
	return nil
}

// Verify checks G1^z = R1·X1^c and G2^z = R2·X2^c.
func (p *DLEQProof) Verify(context []byte, st *DLEQStatement) error {
	if err := p.check(st); err != nil {
		return err
	}
	c := dleqChallenge(context, st, &p.R1, &p.R2)
	negC := new(group.Scalar).Negate(c)
	minusOne := new(group.Scalar).SetInt64(-1)
	var e group.Element
	// G1^z · X1^-c · R1^-1 = 1
	e.VarTimeMultiScalarMult([]*group.Scalar{&p.Z, negC, minusOne}, []*group.Element{st.G1, st.X1, &p.R1})
	if e.IsIdentity() == 0 {
		return fmt.Errorf("zkp: dleq first equation: %w", ErrInvalidProof)
	}
	e.VarTimeMultiScalarMult([]*group.Scalar{&p.Z, negC, minusOne}, []*group.Element{st.G2, st.X2, &p.R2})
	if e.IsIdentity() == 0 {
		return fmt.Errorf("zkp: dleq second equation: %w", ErrInvalidProof)
	}
	return nil
}

// AddToBatch adds the proof's two equations to b. g1, if not negative, is
// the handle of st.G1 registered with b.Shared.
func (p *DLEQProof) AddToBatch(b *Batch, name string, context []byte, st *DLEQStatement, g1 int) {
	if err := p.check(st); err != nil {
		b.fail(name, err)
		return
	}
	c := dleqChallenge(context, st, &p.R1, &p.R2)
	negC := new(group.Scalar).Negate(c)
	q1 := b.equation()
	q1.commit(&p.R1)
	q1.term(g1, &p.Z, st.G1)
	q1.term(-1, negC, st.X1)
	q2 := b.equation()
	q2.commit(&p.R2)
	q2.term(-1, &p.Z, st.G2)
	q2.term(-1, negC, st.X2)
	b.addItem(name, func() error { return p.Verify(context, st) })
}

// Bytes returns Element(R1) || Element(R2) || Scalar(z).
func (p *DLEQProof) Bytes() []byte {
	b := make([]byte, 0, DLEQProofSize)
	b = p.R1.AppendBytes(b)
	b = p.R2.AppendBytes(b)
	return append(b, p.Z.Bytes()...)
}

// ParseDLEQProof decodes a proof, rejecting a wrong length and
// non-canonical encodings.
func ParseDLEQProof(b []byte) (*DLEQProof, error) {
	if len(b) != DLEQProofSize {
		return nil, fmt.Errorf("%w: %w: dleq proof is %d bytes, want %d", ErrMalformedProof, ErrProofLength, len(b), DLEQProofSize)
	}
	p := &DLEQProof{}
	if _, err := p.R1.SetCanonicalBytes(b[:32]); err != nil {
		return nil, fmt.Errorf("%w: dleq commitment r1: %w", ErrMalformedProof, err)
	}
	if _, err := p.R2.SetCanonicalBytes(b[32:64]); err != nil {
		return nil, fmt.Errorf("%w: dleq commitment r2: %w", ErrMalformedProof, err)
	}
	if _, err := p.Z.SetCanonicalBytes(b[64:]); err != nil {
		return nil, fmt.Errorf("%w: dleq response: %w", ErrMalformedProof, err)
	}
	return p, nil
}
