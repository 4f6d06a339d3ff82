package zkp

import (
	"encoding/binary"
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// SumProtocol is the transcript protocol name that binds a sum proof's
// statement (spec §1.2, §4.6).
const SumProtocol = "evote-v1/sum"

// MaxSumItems bounds the number of ciphertexts of a sum statement.
const MaxSumItems = MaxRange

// A SumStatement says that each of Ciphertexts encrypts 0 or 1 under PK and
// that their sum lies in [Min, Max] (spec §4.6): a k-of-n selection where n
// = len(Ciphertexts), at most Max and at least Min options chosen.
type SumStatement struct {
	PK          *elgamal.PublicKey
	Ciphertexts []*elgamal.Ciphertext
	Min, Max    int
}

func (st *SumStatement) check() error {
	if st == nil || st.PK == nil {
		return fmt.Errorf("%w: nil sum statement or key", ErrStatement)
	}
	n := len(st.Ciphertexts)
	if n < 1 || n > MaxSumItems {
		return fmt.Errorf("%w: %d ciphertexts, want 1 to %d", ErrStatement, n, MaxSumItems)
	}
	if st.Min < 0 || st.Min > st.Max || st.Max > n {
		return fmt.Errorf("%w: bounds [%d, %d] for %d ciphertexts", ErrStatement, st.Min, st.Max, n)
	}
	for i, c := range st.Ciphertexts {
		if c == nil {
			return fmt.Errorf("%w: ciphertext %d is nil", ErrStatement, i)
		}
	}
	return nil
}

// A SumProof proves a SumStatement: one range proof with bound 1 per
// ciphertext, and one range proof with bound Max−Min for the homomorphic sum
// divided by g^Min. All are bound to one digest of the whole statement and
// the caller's context, and each to its position (spec §4.6).
type SumProof struct {
	items []*RangeProof
	sum   *RangeProof
}

// SumProofSize returns the encoded length of a sum proof for n ciphertexts
// and bounds [min, max].
func SumProofSize(n, min, max int) int { return n*RangeProofSize(1) + RangeProofSize(max-min) }

// sumPrepared holds what prover and verifier derive from a statement: the
// binding digest, the encodings and the shifted sum ciphertext.
type sumPrepared struct {
	pkEnc   []byte
	ctEnc   [][]byte
	binding []byte
	total   *elgamal.Ciphertext // Σ ciphertexts · (1, g^-Min)
}

// prepare computes the binding digest of spec §4.6:
//
//	Init("evote-v1/sum", context)
//	Append("pk", Element(h))
//	Append("n", u64(n)); Append("min", u64(Min)); Append("max", u64(Max))
//	Append("ciphertexts", u32(n) || A_1 || B_1 || … || A_n || B_n)
//	D = ChallengeBytes("binding")          -- 64 bytes
func (st *SumStatement) prepare(context []byte) *sumPrepared {
	sp := &sumPrepared{pkEnc: st.PK.Bytes(), ctEnc: make([][]byte, len(st.Ciphertexts))}
	all := binary.BigEndian.AppendUint32(make([]byte, 0, 4+elgamal.CiphertextSize*len(st.Ciphertexts)), uint32(len(st.Ciphertexts)))
	sp.total = elgamal.Zero()
	for i, c := range st.Ciphertexts {
		n := len(all)
		all = c.AppendBytes(all)
		sp.ctEnc[i] = all[n:len(all):len(all)]
		sp.total.Add(sp.total, c)
	}
	if st.Min > 0 {
		gm := new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(uint64(st.Min)))
		sp.total.B.Subtract(&sp.total.B, gm)
	}
	t := NewTranscript(SumProtocol, context)
	t.AppendMessage("pk", sp.pkEnc)
	t.AppendUint64("n", uint64(len(st.Ciphertexts)))
	t.AppendUint64("min", uint64(st.Min))
	t.AppendUint64("max", uint64(st.Max))
	t.AppendMessage("ciphertexts", all)
	sp.binding = t.ChallengeBytes("binding")
	return sp
}

// itemContext is D || "item" || u32(i); sumContext is D || "sum".
func (sp *sumPrepared) itemContext(i int) []byte {
	return binary.BigEndian.AppendUint32(append(append([]byte{}, sp.binding...), "item"...), uint32(i))
}

func (sp *sumPrepared) sumContext() []byte {
	return append(append([]byte{}, sp.binding...), "sum"...)
}

// ProveSum proves st, where st.Ciphertexts[i] = (g^{rs[i]}, h^{rs[i]}·g^{ms[i]}).
// It returns ErrOutOfRange if some ms[i] is not 0 or 1 or if their sum is
// outside [st.Min, st.Max]. The range proofs are constant time in the
// values (see ProveRange); only those precondition checks branch on them.
// The context must bind the proof to its use, as for ProveRange.
func ProveSum(context []byte, st *SumStatement, ms []uint64, rs []*group.Scalar, rand io.Reader) (*SumProof, error) {
	if err := st.check(); err != nil {
		return nil, err
	}
	n := len(st.Ciphertexts)
	if len(ms) != n || len(rs) != n {
		return nil, fmt.Errorf("%w: %d values and %d randomizers for %d ciphertexts", ErrStatement, len(ms), len(rs), n)
	}
	var s uint64
	for _, m := range ms {
		if m > 1 {
			return nil, fmt.Errorf("%w: a selection is neither 0 nor 1", ErrOutOfRange)
		}
		s += m
	}
	if s < uint64(st.Min) || s > uint64(st.Max) {
		return nil, fmt.Errorf("%w: %d selections outside [%d, %d]", ErrOutOfRange, s, st.Min, st.Max)
	}
	sp := st.prepare(context)
	p := &SumProof{items: make([]*RangeProof, n)}
	var rsum group.Scalar
	defer func() { rsum = group.Scalar{} }()
	for i, c := range st.Ciphertexts {
		ist := &RangeStatement{PK: st.PK, Ciphertext: c, Max: 1}
		ip, err := ProveRange(sp.itemContext(i), ist, ms[i], rs[i], rand)
		if err != nil {
			return nil, err
		}
		p.items[i] = ip
		rsum.Add(&rsum, rs[i])
	}
	tst := &RangeStatement{PK: st.PK, Ciphertext: sp.total, Max: st.Max - st.Min}
	sum, err := ProveRange(sp.sumContext(), tst, s-uint64(st.Min), &rsum, rand)
	if err != nil {
		return nil, err
	}
	p.sum = sum
	return p, nil
}

// checkShape checks the proof's shape against a checked statement.
func (p *SumProof) checkShape(st *SumStatement) error {
	if p == nil || p.sum == nil || len(p.items) != len(st.Ciphertexts) {
		return fmt.Errorf("%w: sum proof does not have the statement's shape", ErrStatement)
	}
	for _, ip := range p.items {
		if err := ip.checkShape(1); err != nil {
			return err
		}
	}
	return p.sum.checkShape(st.Max - st.Min)
}

// AddToBatch checks the statement and the proof's shape, then adds the
// equations of its n+1 range proofs to b, as items named name+"/item i" and
// name+"/sum". g and h, if not negative, are the handles of the generator
// and of st.PK registered with b.Shared. An error means nothing was added.
func (p *SumProof) AddToBatch(b *Batch, name string, context []byte, st *SumStatement, g, h int) error {
	if err := st.check(); err != nil {
		return fmt.Errorf("zkp: %s: %w", name, err)
	}
	if err := p.checkShape(st); err != nil {
		return fmt.Errorf("zkp: %s: %w", name, err)
	}
	sp := st.prepare(context)
	coefA := make([]*group.Scalar, len(p.items))
	coefB := make([]*group.Scalar, len(p.items))
	for i, ip := range p.items {
		ist := &RangeStatement{PK: st.PK, Ciphertext: st.Ciphertexts[i], Max: 1}
		ctx := sp.itemContext(i)
		c := rangeChallengeEnc(ctx, sp.pkEnc, sp.ctEnc[i], 1, ip.commitEnc)
		coefA[i], coefB[i] = ip.addEquationsBut(&b.terms, ist, c, g, h)
		b.addItem(fmt.Sprintf("%s/item %d", name, i), func() error { return ip.Verify(ctx, ist) })
	}
	tst := &RangeStatement{PK: st.PK, Ciphertext: sp.total, Max: st.Max - st.Min}
	ctx := sp.sumContext()
	sumA, sumB := p.sum.addEquationsBut(&b.terms, tst, rangeChallenge(ctx, tst, p.sum.commitEnc), g, h)
	// The total is (Σ A_i, Σ B_i − Min·g): its terms go on the summands,
	// so each ciphertext costs two full-size terms in all.
	for i, ct := range st.Ciphertexts {
		b.long(coefA[i].Add(coefA[i], sumA), &ct.A)
		b.long(coefB[i].Add(coefB[i], sumB), &ct.B)
	}
	if st.Min > 0 {
		m := new(group.Scalar).SetUint64(uint64(st.Min))
		b.base(g, m.Multiply(m, sumB).Negate(m), generator)
	}
	b.addItem(name+"/sum", func() error { return p.sum.Verify(ctx, tst) })
	return nil
}

// Verify checks the proof against st and context with one multi-scalar
// multiplication over all its equations; on failure the error names the
// first failing part ("item i" or "sum") and wraps ErrInvalidProof.
func (p *SumProof) Verify(context []byte, st *SumStatement) error {
	if err := st.check(); err != nil {
		return err
	}
	b := NewBatch()
	if err := p.AddToBatch(b, "sum proof", context, st, b.Shared(generator), b.Shared(st.PK.Element())); err != nil {
		return err
	}
	return b.Verify()
}

// Bytes returns the encoding of spec §4.6: the n item proofs (bound 1, 224
// bytes each) in order, then the sum proof (bound Max−Min).
func (p *SumProof) Bytes() []byte {
	var out []byte
	for _, ip := range p.items {
		out = append(out, ip.Bytes()...)
	}
	return append(out, p.sum.Bytes()...)
}

// ParseSumProof decodes a sum proof for n ciphertexts and bounds
// [min, max], all known from the statement. It rejects bounds outside
// 0 ≤ min ≤ max ≤ n ≤ MaxSumItems (with n ≥ 1), a wrong length and any
// non-canonical element or scalar.
func ParseSumProof(b []byte, n, min, max int) (*SumProof, error) {
	if n < 1 || n > MaxSumItems || min < 0 || min > max || max > n {
		return nil, fmt.Errorf("%w: sum bounds [%d, %d] for %d ciphertexts", ErrStatement, min, max, n)
	}
	if len(b) != SumProofSize(n, min, max) {
		return nil, fmt.Errorf("%w: %w: sum proof is %d bytes, want %d", ErrMalformedProof, ErrProofLength, len(b), SumProofSize(n, min, max))
	}
	p := &SumProof{items: make([]*RangeProof, n)}
	step := RangeProofSize(1)
	for i := range p.items {
		ip, err := ParseRangeProof(b[i*step:(i+1)*step], 1)
		if err != nil {
			return nil, fmt.Errorf("zkp: sum proof item %d: %w", i, err)
		}
		p.items[i] = ip
	}
	sum, err := ParseRangeProof(b[n*step:], max-min)
	if err != nil {
		return nil, fmt.Errorf("zkp: sum proof total: %w", err)
	}
	p.sum = sum
	return p, nil
}
