package zkp

import (
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// RangeProtocol is the transcript protocol name of the range proof (spec
// §1.2, §4.5).
const RangeProtocol = "evote-v1/range"

// MaxRange is the largest bound k a range proof may have: a contest offers
// at most MaxRange candidates. It bounds the work a decoder or verifier does
// on a hostile input.
const MaxRange = 1024

// ErrOutOfRange is returned by the provers when the value to be proven lies
// outside the claimed range: no valid proof exists for it.
var ErrOutOfRange = errors.New("zkp: value outside the proven range")

// ErrStatement is returned for a malformed statement (nil parts, a bound
// outside [0, MaxRange], a proof whose shape does not match the statement).
var ErrStatement = errors.New("zkp: malformed statement")

// A RangeStatement says that Ciphertext = (A, B) = (g^r, h^r·g^m), under
// the public key PK = h, encrypts some m in [0, Max] (spec §4.5). For a
// single-choice contest among k candidates, Max = k and m = 0 is a blank
// vote.
type RangeStatement struct {
	PK         *elgamal.PublicKey
	Ciphertext *elgamal.Ciphertext
	Max        int
}

func (st *RangeStatement) check() error {
	if st == nil || st.PK == nil || st.Ciphertext == nil {
		return fmt.Errorf("%w: nil range statement or part", ErrStatement)
	}
	if st.Max < 0 || st.Max > MaxRange {
		return fmt.Errorf("%w: range bound %d outside [0, %d]", ErrStatement, st.Max, MaxRange)
	}
	return nil
}

// A RangeProof is a disjunctive Chaum-Pedersen proof of a RangeStatement
// (spec §4.5): for each branch j = 0..k it carries the commitments
// (a_j, b_j) and the response z_j, and the challenges c_0..c_{k-1}; the last
// challenge is c_k = c − Σ c_j, where c is the Fiat-Shamir challenge, so no
// redundant value can be altered. Carrying the commitments lets many proofs
// be verified in one Batch.
type RangeProof struct {
	max       int
	commit    []group.Element // a_0, b_0, a_1, b_1, …, a_k, b_k
	commitEnc []byte          // u32(2(k+1)) || their encodings, as hashed
	c         []group.Scalar  // c_0 … c_{k-1}
	z         []group.Scalar  // z_0 … z_k
}

// RangeProofSize returns the length of an encoded range proof with bound k:
// 2(k+1) elements and 2k+1 scalars.
func RangeProofSize(k int) int { return 128*k + 96 }

// rangeChallenge computes the Fiat-Shamir challenge of spec §4.5:
//
//	Init("evote-v1/range", context)
//	Append("pk", Element(h))
//	Append("ciphertext", Element(A) || Element(B))
//	Append("k", u64(k))
//	Append("commitments", u32(2(k+1)) || a_0 || b_0 || … || a_k || b_k)
//	c = Challenge("challenge")
func rangeChallenge(context []byte, st *RangeStatement, commitEnc []byte) *group.Scalar {
	return rangeChallengeEnc(context, st.PK.Bytes(), st.Ciphertext.Bytes(), st.Max, commitEnc)
}

// rangeChallengeEnc is rangeChallenge on already encoded key and ciphertext.
func rangeChallengeEnc(context, pkEnc, ctEnc []byte, k int, commitEnc []byte) *group.Scalar {
	t := NewTranscript(RangeProtocol, context)
	t.AppendMessage("pk", pkEnc)
	t.AppendMessage("ciphertext", ctEnc)
	t.AppendUint64("k", uint64(k))
	t.AppendMessage("commitments", commitEnc)
	return t.Challenge("challenge")
}

// ProveRange proves that st.Ciphertext encrypts m in [0, st.Max] under
// st.PK with randomness r, i.e. st.Ciphertext = (g^r, h^r·g^m). It returns
// ErrOutOfRange if m > st.Max (that check, and only it, depends on m's
// value in its timing). It does not re-encrypt to check its inputs:
// inconsistent ones give a proof that does not verify. The context must bind the proof to its use: the
// ballot layer passes the extended election hash, the voter's credential
// key and the contest index (spec §4.5); rand is crypto/rand when nil.
//
// The prover does the same work in every branch, real or simulated, with
// no branch or memory access depending on m or r: each branch j draws z_j
// and a simulated challenge, selects c_j = 0 for the real branch with a
// constant-time select, and computes, with fixed-base multiplications only,
//
//	e_j = z_j − c_j·r,  a_j = g^{e_j},  b_j = h^{e_j} · g^{c_j·(j−m)}
//
// which are the simulated commitments g^{z_j}·A^{−c_j} and
// h^{z_j}·(B·g^{−j})^{−c_j} in the simulated branches, and the honest
// commitments g^w, h^w with w = z_m in the real one. After the challenge the
// real branch's c_m = c − Σ_{j≠m} c_j and z_m = w + c_m·r are selected into
// place, again in constant time.
func ProveRange(context []byte, st *RangeStatement, m uint64, r *group.Scalar, rand io.Reader) (*RangeProof, error) {
	if err := st.check(); err != nil {
		return nil, err
	}
	if m > uint64(st.Max) {
		return nil, fmt.Errorf("%w: %d > %d", ErrOutOfRange, m, st.Max)
	}
	if rand == nil {
		rand = crand.Reader
	}
	k := st.Max
	n := k + 1
	// 64 bytes for z_j and 64 for the simulated challenge, per branch.
	buf := make([]byte, 128*n)
	defer clear(buf)
	if _, err := io.ReadFull(rand, buf); err != nil {
		return nil, fmt.Errorf("zkp: reading randomness: %w", err)
	}
	gt, ht := group.GeneratorTable(), st.PK.Table()
	p := &RangeProof{
		max:    k,
		commit: make([]group.Element, 2*n),
		z:      make([]group.Scalar, n),
	}
	cs := make([]group.Scalar, n) // branch challenges; 0 in the real branch until the end
	var mS, jm, e, t, cSim, zero group.Scalar
	var gt2 group.Element
	defer func() { mS, jm, e, t, cSim = zero, zero, zero, zero, zero }()
	mS.SetUint64(m)
	secretIdx := int32(m) // m ≤ k ≤ MaxRange
	for j := 0; j < n; j++ {
		// No branch below depends on isReal: it only feeds Select.
		isReal := subtle.ConstantTimeEq(int32(j), secretIdx)
		z := &p.z[j]
		mustUniform(z, buf[128*j:128*j+64])
		mustUniform(&cSim, buf[128*j+64:128*j+128])
		cs[j].Select(&zero, &cSim, isReal)
		// e_j = z_j − c_j·r
		e.Negate(&cs[j])
		e.MultiplyAdd(&e, r, z)
		a, b := &p.commit[2*j], &p.commit[2*j+1]
		a.ScalarMultFixed(&e, gt)
		b.ScalarMultFixed(&e, ht)
		// t_j = c_j·(j − m)
		jm.SetUint64(uint64(j))
		jm.Subtract(&jm, &mS)
		t.Multiply(&cs[j], &jm)
		gt2.ScalarMultFixed(&t, gt)
		b.Add(b, &gt2)
	}
	p.commitEnc = encodeElements(p.commit)
	c := rangeChallenge(context, st, p.commitEnc)
	// The real branch's challenge: c − Σ c_j, its c_j being 0 so far.
	var cReal, zReal group.Scalar
	defer func() { cReal, zReal = zero, zero }()
	cReal.Set(c)
	for j := range cs {
		cReal.Subtract(&cReal, &cs[j])
	}
	for j := 0; j < n; j++ {
		isReal := subtle.ConstantTimeEq(int32(j), secretIdx)
		zReal.MultiplyAdd(&cReal, r, &p.z[j]) // w + c_m·r in the real branch
		p.z[j].Select(&zReal, &p.z[j], isReal)
		cs[j].Select(&cReal, &cs[j], isReal)
	}
	p.c = cs[:k:k]
	return p, nil
}

func mustUniform(s *group.Scalar, b []byte) {
	if _, err := s.SetUniformBytes(b); err != nil {
		panic("zkp: uniform scalar from 64 bytes failed: " + err.Error())
	}
}

// encodeElements returns u32(len(es)) || Element(es[0]) || ….
func encodeElements(es []group.Element) []byte {
	buf := make([]byte, 4, 4+len(es)*group.ElementSize)
	binary.BigEndian.PutUint32(buf, uint32(len(es)))
	for i := range es {
		buf = es[i].AppendBytes(buf)
	}
	return buf
}

// Max returns the bound k the proof was made or decoded for.
func (p *RangeProof) Max() int { return p.max }

// lastChallenge returns c_k = c − Σ_{j<k} c_j.
func (p *RangeProof) lastChallenge(c *group.Scalar) *group.Scalar {
	ck := new(group.Scalar).Set(c)
	for j := range p.c {
		ck.Subtract(ck, &p.c[j])
	}
	return ck
}

// addTerms checks the proof's shape against st and adds its 2(k+1)
// equations, each with its own random weight, to t (spec §4.5):
//
//	a_j · A^{c_j} = g^{z_j}   and   b_j · B^{c_j} = h^{z_j} · g^{j·c_j}
//
// g and h are shared-base handles in t, or negative.
func (p *RangeProof) addTerms(t *terms, context []byte, st *RangeStatement, g, h int) error {
	if err := st.check(); err != nil {
		return err
	}
	if err := p.checkShape(st.Max); err != nil {
		return err
	}
	p.addEquations(t, st, rangeChallenge(context, st, p.commitEnc), g, h)
	return nil
}

// checkShape reports whether the proof has the shape of a proof for bound k.
func (p *RangeProof) checkShape(k int) error {
	if p == nil || p.max != k || len(p.commit) != 2*(k+1) || len(p.c) != k || len(p.z) != k+1 || len(p.commitEnc) != 4+64*(k+1) {
		return fmt.Errorf("%w: range proof does not have the statement's shape", ErrStatement)
	}
	return nil
}

// addEquations adds the weighted equations of spec §4.5 for the challenge c.
// The shape must have been checked.
func (p *RangeProof) addEquations(t *terms, st *RangeStatement, c *group.Scalar, g, h int) {
	coefA, coefB := p.addEquationsBut(t, st, c, g, h)
	t.long(coefA, &st.Ciphertext.A)
	t.long(coefB, &st.Ciphertext.B)
}

// addEquationsBut adds the weighted equations of spec §4.5 for the
// challenge c, all but their terms on the ciphertext (A, B), whose
// coefficients it returns: a caller whose ciphertext is a sum of others
// (the sum proof's total) puts them on the summands instead, which saves
// two full-size terms. The shape must have been checked.
func (p *RangeProof) addEquationsBut(t *terms, st *RangeStatement, c *group.Scalar, g, h int) (coefA, coefB *group.Scalar) {
	ck := p.lastChallenge(c)
	coefA, coefB = new(group.Scalar), new(group.Scalar)
	var coefG, coefH, tmp, js group.Scalar
	for j := 0; j <= p.max; j++ {
		cj := ck
		if j < p.max {
			cj = &p.c[j]
		}
		rho, sigma := t.weight(), t.weight()
		// ρ·(a_j + c_j·A − z_j·g) + σ·(b_j + c_j·B − j·c_j·g − z_j·h) = 0
		t.short(rho, &p.commit[2*j])
		t.short(sigma, &p.commit[2*j+1])
		coefA.MultiplyAdd(rho, cj, coefA)
		coefB.MultiplyAdd(sigma, cj, coefB)
		tmp.Multiply(rho, &p.z[j])
		coefG.Subtract(&coefG, &tmp)
		js.SetUint64(uint64(j))
		tmp.Multiply(&js, cj)
		tmp.Multiply(&tmp, sigma)
		coefG.Subtract(&coefG, &tmp)
		tmp.Multiply(sigma, &p.z[j])
		coefH.Subtract(&coefH, &tmp)
	}
	t.base(g, new(group.Scalar).Set(&coefG), generator)
	t.base(h, new(group.Scalar).Set(&coefH), st.PK.Element())
	return coefA, coefB
}

// generator is g, shared read-only by the verifiers.
var generator = group.NewGeneratorElement()

// Verify checks the proof against st and context with one multi-scalar
// multiplication over all 2(k+1) randomly weighted equations. It returns an
// error wrapping ErrStatement for a proof of the wrong shape and
// ErrInvalidProof for a proof that does not verify.
func (p *RangeProof) Verify(context []byte, st *RangeStatement) error {
	var t terms
	if err := p.addTerms(&t, context, st, -1, -1); err != nil {
		return err
	}
	if !t.isIdentity() {
		return fmt.Errorf("zkp: range proof: %w", ErrInvalidProof)
	}
	return nil
}

// AddToBatch checks the proof's shape and adds its equations to b under the
// item name. g and h, if not negative, are the handles of the generator
// and of st.PK registered with b.Shared (see GeneratorElement). An error
// (shape or statement) means nothing was added.
func (p *RangeProof) AddToBatch(b *Batch, name string, context []byte, st *RangeStatement, g, h int) error {
	if err := p.addTerms(&b.terms, context, st, g, h); err != nil {
		return fmt.Errorf("zkp: %s: %w", name, err)
	}
	b.addItem(name, func() error { return p.Verify(context, st) })
	return nil
}

// GeneratorElement returns g, to register with Batch.Shared.
func GeneratorElement() *group.Element { return group.NewGeneratorElement() }

// Bytes returns the encoding of spec §4.5:
//
//	a_0 || b_0 || … || a_k || b_k || c_0 || … || c_{k-1} || z_0 || … || z_k
//
// (Elements and Scalars of 32 bytes each, RangeProofSize(k) bytes in all).
func (p *RangeProof) Bytes() []byte {
	out := make([]byte, 0, RangeProofSize(p.max))
	out = append(out, p.commitEnc[4:]...)
	for i := range p.c {
		out = append(out, p.c[i].Bytes()...)
	}
	for i := range p.z {
		out = append(out, p.z[i].Bytes()...)
	}
	return out
}

// ParseRangeProof decodes a range proof for the bound k (known from the
// statement: the encoding carries no count). It rejects k outside
// [0, MaxRange], a wrong length, and any non-canonical element or scalar.
func ParseRangeProof(b []byte, k int) (*RangeProof, error) {
	if k < 0 || k > MaxRange {
		return nil, fmt.Errorf("%w: range bound %d outside [0, %d]", ErrStatement, k, MaxRange)
	}
	if len(b) != RangeProofSize(k) {
		return nil, fmt.Errorf("%w: %w: range proof for k=%d is %d bytes, want %d", ErrMalformedProof, ErrProofLength, k, len(b), RangeProofSize(k))
	}
	n := k + 1
	p := &RangeProof{
		max:    k,
		commit: make([]group.Element, 2*n),
		c:      make([]group.Scalar, k),
		z:      make([]group.Scalar, n),
	}
	off := 0
	for i := range p.commit {
		if _, err := p.commit[i].SetCanonicalBytes(b[off : off+32]); err != nil {
			return nil, fmt.Errorf("%w: range commitment %d: %w", ErrMalformedProof, i, err)
		}
		off += 32
	}
	p.commitEnc = binary.BigEndian.AppendUint32(make([]byte, 0, 4+off), uint32(2*n))
	p.commitEnc = append(p.commitEnc, b[:off]...)
	for i := range p.c {
		if _, err := p.c[i].SetCanonicalBytes(b[off : off+32]); err != nil {
			return nil, fmt.Errorf("%w: range challenge %d: %w", ErrMalformedProof, i, err)
		}
		off += 32
	}
	for i := range p.z {
		if _, err := p.z[i].SetCanonicalBytes(b[off : off+32]); err != nil {
			return nil, fmt.Errorf("%w: range response %d: %w", ErrMalformedProof, i, err)
		}
		off += 32
	}
	return p, nil
}
