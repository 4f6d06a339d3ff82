package ballot

import (
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/wire"
)

// A multi-select contest's proof (spec §9.3) is one range proof per
// candidate that its ciphertext encrypts 0 or 1, and one range proof that
// the product of the ciphertexts encrypts at most max:
//
//	list<bytes(RangeProof_1 with k = 1)> || bytes(RangeProof with k = max)
//
// Candidate j's proof has context ctx || u8(1) || u32(j), the sum's
// ctx || u8(2), so no proof can stand in for another.

func itemContext(ctx []byte, j int) []byte {
	w := wire.NewWriter(len(ctx) + 5)
	w.Fixed(ctx)
	w.U8(1)
	w.U32(uint32(j))
	return w.Bytes()
}

func sumContext(ctx []byte) []byte {
	return append(append([]byte{}, ctx...), 2)
}

func productOf(cts []*elgamal.Ciphertext) *elgamal.Ciphertext {
	sum := elgamal.Zero()
	for _, c := range cts {
		sum.Add(sum, c)
	}
	return sum
}

func proveMultiSelect(ctx []byte, pk *elgamal.PublicKey, cts []*elgamal.Ciphertext, values []uint32, rs []*group.Scalar, max int, rand io.Reader) ([]byte, error) {
	w := wire.NewWriter(len(cts) * zkp.RangeProofSize(1))
	w.U32(uint32(len(cts)))
	var total uint64
	rsum := group.NewScalar()
	for j, ct := range cts {
		p, err := zkp.ProveRange(itemContext(ctx, j), &zkp.RangeStatement{PK: pk, Ciphertext: ct, Max: 1}, uint64(values[j]), rs[j], rand)
		if err != nil {
			return nil, err
		}
		w.VarBytes(p.Bytes())
		total += uint64(values[j])
		rsum.Add(rsum, rs[j])
	}
	p, err := zkp.ProveRange(sumContext(ctx), &zkp.RangeStatement{PK: pk, Ciphertext: productOf(cts), Max: max}, total, rsum, rand)
	if err != nil {
		return nil, err
	}
	w.VarBytes(p.Bytes())
	return w.Bytes(), nil
}

func addMultiSelectToBatch(batch *zkp.Batch, name string, ctx []byte, pk *elgamal.PublicKey, cts []*elgamal.Ciphertext, max int, proof []byte, g, h int) error {
	r := wire.NewReader(proof)
	n := r.Count(maxCandidates, 4, "item proofs")
	if r.Err() == nil && n != len(cts) {
		return fmt.Errorf("multi-select proof has %d item proofs for %d ciphertexts", n, len(cts))
	}
	items := make([][]byte, n)
	for j := range items {
		items[j] = r.VarBytes(zkp.RangeProofSize(1), "item proof")
	}
	sum := r.VarBytes(zkp.RangeProofSize(maxCandidates), "sum proof")
	if err := r.Finish(); err != nil {
		return fmt.Errorf("multi-select proof: %w", err)
	}
	for j, b := range items {
		p, err := zkp.ParseRangeProof(b, 1)
		if err != nil {
			return fmt.Errorf("candidate %d proof: %w", j, err)
		}
		if err := p.AddToBatch(batch, fmt.Sprintf("%s candidate %d", name, j), itemContext(ctx, j), &zkp.RangeStatement{PK: pk, Ciphertext: cts[j], Max: 1}, g, h); err != nil {
			return err
		}
	}
	p, err := zkp.ParseRangeProof(sum, max)
	if err != nil {
		return fmt.Errorf("sum proof: %w", err)
	}
	return p.AddToBatch(batch, name+" sum", sumContext(ctx), &zkp.RangeStatement{PK: pk, Ciphertext: productOf(cts), Max: max}, g, h)
}
