package threshold

import (
	"fmt"
	"io"

	"evote/crypto/group"
	"evote/crypto/zkp"
)

// The consistency proof (spec §5.6) ties a dealer's extraction commitments
// A_ik = g^{a_ik} to its phase-1 Pedersen commitments C_ik = g^{a_ik}·H^{b_ik}:
// the dealer proves that it knows every b_ik = log_H(C_ik/A_ik). Without it
// A_i is checked against C_i only through the other trustees' shares, which
// in a committee with n ≤ 2t−2 (n = t included) do not pin the polynomial,
// so the last dealer to speak could choose a_i0 after seeing the others'
// g^{a_j0} (issue 12, finding 4).
//
// The t statements are combined with weights fixed by a hash of the whole
// statement, and one Schnorr proof with base H covers them:
//
//	T = Init(ExtractionConsistencyTag, base)
//	T.Append("dealer", u64(i)); T.Append("h", Element(H))
//	T.Append("pedersen", list<Element>(C_i0 … C_i,t−1))
//	T.Append("extraction", list<Element>(A_i0 … A_i,t−1))
//	seed = T.ChallengeBytes("statement")
//	ρ_k  = T.Challenge("weight"), for k = 0..t−1 in turn
//	D    = Π_k (C_ik/A_ik)^{ρ_k}                     (= H^β, β = Σ_k ρ_k·b_ik)
//	ctx  = base || string(ExtractionConsistencyTag) || u16(i) || seed
//	proof = Schnorr proof (spec §4.3) of β = log_H D, base H, context ctx

// consistencyStatement returns the weights ρ_k and the Schnorr context of
// dealer's consistency proof over the commitments cs and as (equal lengths,
// checked by callers).
func consistencyStatement(base [32]byte, dealer int, cs, as []*group.Element) (rho []*group.Scalar, ctx []byte) {
	h, _ := pedersen()
	tr := zkp.NewTranscript(ExtractionConsistencyTag, base[:])
	tr.AppendUint64("dealer", uint64(dealer))
	tr.AppendElement("h", h)
	tr.AppendElements("pedersen", cs)
	tr.AppendElements("extraction", as)
	seed := tr.ChallengeBytes("statement")
	rho = make([]*group.Scalar, len(cs))
	for k := range rho {
		rho[k] = tr.Challenge("weight")
	}
	ctx = append([]byte{}, base[:]...)
	ctx = appendString(ctx, ExtractionConsistencyTag)
	ctx = appendU16(ctx, dealer)
	return rho, append(ctx, seed...)
}

// proveConsistency proves that dealer knows b_k with cs[k] = as[k]·H^{b_k}
// for every k. The secret arithmetic (β and H^β) is constant time and β is
// wiped before returning.
func proveConsistency(base [32]byte, dealer int, cs, as []*group.Element, b []group.Scalar, rand io.Reader) (*zkp.SchnorrProof, error) {
	if len(cs) != len(as) || len(cs) != len(b) {
		return nil, fmt.Errorf("%w: %d commitments, %d extraction commitments, %d coefficients", ErrParams, len(cs), len(as), len(b))
	}
	rho, ctx := consistencyStatement(base, dealer, cs, as)
	var beta group.Scalar
	defer beta.Set(group.NewScalar())
	for k := range b {
		beta.MultiplyAdd(rho[k], &b[k], &beta)
	}
	h, ht := pedersen()
	d := new(group.Element).ScalarMultFixed(&beta, ht)
	return zkp.ProveSchnorr(ctx, h, d, &beta, ht, rand)
}

// verifyConsistency checks dealer's consistency proof over its Pedersen
// commitments cs and extraction commitments as (public values, variable
// time). A nil or missing proof, or lists of different lengths, fail.
func verifyConsistency(base [32]byte, dealer int, cs, as []*group.Element, proof *zkp.SchnorrProof) error {
	if proof == nil || len(cs) == 0 || len(cs) != len(as) {
		return fmt.Errorf("%w: consistency statement or proof missing", ErrInvalidMessage)
	}
	rho, ctx := consistencyStatement(base, dealer, cs, as)
	scalars := make([]*group.Scalar, 0, 2*len(rho))
	points := make([]*group.Element, 0, 2*len(rho))
	for k, r := range rho {
		scalars = append(scalars, r, new(group.Scalar).Negate(r))
		points = append(points, cs[k], as[k])
	}
	d := new(group.Element).VarTimeMultiScalarMult(scalars, points)
	h, _ := pedersen()
	return proof.Verify(ctx, h, d)
}
