package shuffle

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"evote/crypto/group"
)

// Verification errors callers branch on. Each is wrapped with details.
var (
	// ErrRowCount: the output does not have as many rows as the input
	// (a row dropped or added).
	ErrRowCount = errors.New("shuffle: output and input row counts differ")
	// ErrDuplicateRow: two output rows are identical, which an honest
	// shuffle never produces (a row copied over another).
	ErrDuplicateRow = errors.New("shuffle: output row repeated")
	// ErrInvalidProof: a verification equation of the proof of shuffle
	// fails; the wrapping EquationError names it.
	ErrInvalidProof = errors.New("shuffle: proof of shuffle does not verify")
)

// Names of the verification equations (spec §6.5), used in EquationError.
const (
	EqPermutationSum   = "E1 permutation commitment sum"
	EqChainEnd         = "E2 commitment chain end"
	EqBatchedCommit    = "E3 batched permutation commitment"
	EqReencryptionA    = "E4 re-encryption (A component)"
	EqReencryptionB    = "E4 re-encryption (B component)"
	EqChainLink        = "E5 commitment chain link"
	EqBatchUnexplained = "batched check (no single equation fails)"
)

// An EquationError names the verification equation that failed, and the
// column k (E4) or row i (E5) it was about.
type EquationError struct {
	Equation string
	Index    int // column for E4, row for E5, otherwise -1
}

func (e *EquationError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("shuffle: equation %s [%d] fails: proof of shuffle does not verify", e.Equation, e.Index)
	}
	return fmt.Sprintf("shuffle: equation %s fails: proof of shuffle does not verify", e.Equation)
}

func (e *EquationError) Unwrap() error { return ErrInvalidProof }

// verifierChunk is the number of rows a verifier goroutine decodes and
// folds into one multi-scalar multiplication.
const verifierChunk = 8192

// Verify checks that out is a permutation of re-encryptions of in under
// p.PublicKey, as proven by proof for p's election, context and mixer
// (spec §6.5). It recomputes the commitment generators from p.ElectionID
// (or uses p.Generators, if they were derived from it). It returns nil, or
// an error wrapping ErrMalformed, ErrRowCount, ErrDuplicateRow or
// ErrInvalidProof (with an EquationError naming the failed equation).
//
// All equations are checked at once: each is multiplied by an independent
// random 128-bit weight and the sum is computed by multi-scalar
// multiplications over chunks of rows, on all cores. A false equation
// survives with probability at most 2^-128; if the combined check fails,
// each equation is checked alone to name the failure.
func Verify(p *Params, in, out *Rows, proof *Proof) error {
	if err := p.check(); err != nil {
		return err
	}
	if err := checkShape(in, out, proof); err != nil {
		return err
	}
	if err := checkDistinct(out); err != nil {
		return err
	}
	gens := forStatement(p.Generators, p.ElectionID, in.n, p.Progress)
	return verify(p, in, out, proof, gens)
}

// checkDistinct rejects an output list with two identical rows.
func checkDistinct(out *Rows) error {
	type key struct {
		k uint64
		i int32
	}
	keys := make([]key, out.n)
	for i := range keys {
		r := out.Row(i)
		var k uint64
		for _, b := range r[:8] {
			k = k<<8 | uint64(b)
		}
		keys[i] = key{k, int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.k != b.k {
			if a.k < b.k {
				return -1
			}
			return 1
		}
		return int(a.i - b.i)
	})
	for i := 1; i < len(keys); i++ {
		if keys[i].k == keys[i-1].k && string(out.Row(int(keys[i].i))) == string(out.Row(int(keys[i-1].i))) {
			return fmt.Errorf("%w: rows %d and %d", ErrDuplicateRow, keys[i-1].i, keys[i].i)
		}
	}
	return nil
}

// The verifier follows spec §6.5, which is Haenni et al.'s
// CheckShuffleProof for rows of width w with every equation batched. Its
// steps, called in order by verify: deriveChallenges, foldRows (the terms
// of each chunk of rows), sumChunks, and combinedCheck (the terms of the
// whole proof, and the one test); diagnose names the failed equation. Key
// from the spec's (and the paper's) symbols to the names here (j an input
// row, i an output row, k a column):
//
//	c_j, ĉ_i, t̂_i          proof.perm, proof.chain, proof.nonce
//	t_1, t_2, t_3, t_{4A,k}, t_{4B,k}   proof.t[0], [1], [2], [3+2k], [4+2k]
//	s_1, s_2, s_3, s_{4,k}  ch.s[0], [1], [2], [3+k]
//	ŝ_i, s'_i               proof.shat, proof.sprime
//	u_j, U = Π u_j, c       ch.u[j], ch.U, ch.c
//	h = G_0, h_i            gens.elems[0], gens.elems[i+1]
//	a_{j,k}, b_{j,k}        input ciphertexts; a'_{i,k}, b'_{i,k} output ones
//	ρ_1, ρ_2                ch.rho1, ch.rho2: weights of E1, E2 (E3 has 1)
//	ρ_{A,k}, ρ_{B,k}, ρ̂_i   ch.rhoA[k], ch.rhoB[k], 16 bytes of ch.rhoH: E4, E5
//
// The weights are drawn from crypto/rand, never from the transcript.

// challenges holds what the transcript and the verifier's randomness give.
type challenges struct {
	c    group.Scalar
	u    []group.Scalar
	U    group.Scalar // Π u_j
	s    []group.Scalar
	rho1 group.Scalar
	rho2 group.Scalar
	rhoA []group.Scalar // per column
	rhoB []group.Scalar
	rhoH []byte // 16 bytes per row: weights of E5
}

func weight(b []byte) *group.Scalar {
	s, err := new(group.Scalar).SetShortBytes(b)
	if err != nil {
		panic("shuffle: 128-bit weight rejected")
	}
	return s
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("shuffle: crypto/rand failed: " + err.Error())
	}
	return b
}

// deriveChallenges replays the transcript and draws the batch weights.
func deriveChallenges(p *Params, in, out *Rows, proof *Proof) *challenges {
	n, w := in.n, in.w
	ch := &challenges{}
	t := newTranscript(p, in.Digest(), out)
	ch.u = batchingChallenges(t, proof.perm, n)
	ch.c.Set(finalChallenge(t, proof))
	ch.U.SetUint64(1)
	for j := range ch.u {
		ch.U.Multiply(&ch.U, &ch.u[j])
	}
	ch.s = make([]group.Scalar, 3+w)
	for k := range ch.s {
		// ParseProof checked them; a Proof built in memory is canonical.
		if _, err := ch.s[k].SetCanonicalBytes(elem(proof.s, k)); err != nil {
			panic("shuffle: unchecked proof scalar")
		}
	}
	rb := randomBytes(16 * (2 + 2*w))
	ch.rho1.Set(weight(rb[0:16]))
	ch.rho2.Set(weight(rb[16:32]))
	ch.rhoA = make([]group.Scalar, w)
	ch.rhoB = make([]group.Scalar, w)
	for k := 0; k < w; k++ {
		ch.rhoA[k].Set(weight(rb[32+32*k : 48+32*k]))
		ch.rhoB[k].Set(weight(rb[48+32*k : 64+32*k]))
	}
	ch.rhoH = randomBytes(16 * n)
	return ch
}

// chunkResult is one chunk's share of the combined check.
type chunkResult struct {
	full   group.Element   // terms added with their final scalars
	xc     group.Element   // Σ (ρ1 + u_j)·c_j
	xa, xb []group.Element // Σ u_j·a_{j,k}, Σ u_j·b_{j,k}
	xt     group.Element   // Σ ρ̂_i·t̂_i
	gs     group.Scalar    // Σ ρ̂_i·ŝ_i (exponent of g)
}

func decodeInto(e *group.Element, b []byte, what string, i int) error {
	if _, err := e.SetCanonicalBytes(b); err != nil {
		return fmt.Errorf("%w: %s %d: %w", ErrMalformed, what, i, err)
	}
	return nil
}

func scalarAt(field []byte, i int) *group.Scalar {
	s, err := new(group.Scalar).SetCanonicalBytes(elem(field, i))
	if err != nil {
		panic("shuffle: unchecked proof scalar")
	}
	return s
}

// verify runs the combined check with the given generators.
func verify(p *Params, in, out *Rows, proof *Proof, gens *Generators) error {
	ch := deriveChallenges(p, in, out, proof)
	results, err := foldRows(p, in, out, proof, gens, ch)
	if err != nil {
		return err
	}
	ok, err := combinedCheck(p, proof, gens, ch, sumChunks(results, in.w))
	if err != nil || ok {
		return err
	}
	return diagnose(p, in, out, proof, gens, ch)
}

// foldRows decodes the rows, the permutation and chain commitments and
// the per-row responses, a chunk of verifierChunk rows at a time on all
// cores, and folds each chunk's terms of E1 … E5 into a chunkResult: the
// terms with full-size scalars (h_i, a'_{i,k}, b'_{i,k}, ĉ_i, whose two
// appearances in E5 are merged) into one multi-scalar multiplication, and
// those with short scalars (Σ (ρ_1 + u_j)·c_j, Σ u_j·a_{j,k}, Σ u_j·b_{j,k},
// Σ ρ̂_i·t̂_i) into their own, multiplied by c, c·ρ_{A,k}, c·ρ_{B,k} and −1
// once, in combinedCheck.
func foldRows(p *Params, in, out *Rows, proof *Proof, gens *Generators, ch *challenges) ([]*chunkResult, error) {
	n, w := in.n, in.w
	chunks := (n + verifierChunk - 1) / verifierChunk
	results := make([]*chunkResult, chunks)
	tr := newTracker(p.Progress, "verify", n)
	c := &ch.c
	err := forChunks(n, verifierChunk, tr, func(lo, hi int) error {
		m := hi - lo
		r := &chunkResult{xa: make([]group.Element, w), xb: make([]group.Element, w)}
		pts := make([]group.Element, m*(2*w+2+2*w+2))
		next := 0
		dec := func(b []byte, what string, i int) (*group.Element, error) {
			e := &pts[next]
			next++
			return e, decodeInto(e, b, what, i)
		}
		// Full-size terms: h_{i+1}, a'_{i,k}, b'_{i,k}, ĉ_i.
		fs := make([]*group.Scalar, 0, m*(2+2*w))
		fe := make([]*group.Element, 0, m*(2+2*w))
		cs := make([]*group.Scalar, m)
		ce := make([]*group.Element, m)
		us := make([]*group.Scalar, m)
		ae := make([][]*group.Element, w)
		be := make([][]*group.Element, w)
		for k := 0; k < w; k++ {
			ae[k] = make([]*group.Element, m)
			be[k] = make([]*group.Element, m)
		}
		ts := make([]*group.Scalar, m)
		te := make([]*group.Element, m)
		negRho1C := new(group.Scalar).Multiply(&ch.rho1, c)
		negRho1C.Negate(negRho1C)
		for i := lo; i < hi; i++ {
			// Input side (index j = i).
			e, err := dec(elem(proof.perm, i), "permutation commitment", i)
			if err != nil {
				return err
			}
			ce[i-lo], cs[i-lo] = e, new(group.Scalar).Add(&ch.rho1, &ch.u[i])
			us[i-lo] = &ch.u[i]
			for k := 0; k < w; k++ {
				if ae[k][i-lo], err = dec(in.element(i, 2*k), "input ciphertext", i); err != nil {
					return err
				}
				if be[k][i-lo], err = dec(in.element(i, 2*k+1), "input ciphertext", i); err != nil {
					return err
				}
			}
			// Output side.
			sp := scalarAt(proof.sprime, i)
			fs = append(fs, new(group.Scalar).Add(negRho1C, sp))
			fe = append(fe, gens.elems[i+1])
			for k := 0; k < w; k++ {
				a, err := dec(out.element(i, 2*k), "output ciphertext", i)
				if err != nil {
					return err
				}
				b, err := dec(out.element(i, 2*k+1), "output ciphertext", i)
				if err != nil {
					return err
				}
				fs = append(fs, new(group.Scalar).Multiply(&ch.rhoA[k], sp), new(group.Scalar).Multiply(&ch.rhoB[k], sp))
				fe = append(fe, a, b)
			}
			rho := weight(ch.rhoH[16*i : 16*i+16])
			chat, err := dec(elem(proof.chain, i), "chain commitment", i)
			if err != nil {
				return err
			}
			// ĉ_i: ρ̂_i·c + (ρ̂_{i+1}·s'_{i+1}, or ρ2·c for the last).
			cs2 := new(group.Scalar).Multiply(rho, c)
			if i+1 < n {
				cs2.MultiplyAdd(weight(ch.rhoH[16*(i+1):16*(i+2)]), scalarAt(proof.sprime, i+1), cs2)
			} else {
				cs2.MultiplyAdd(&ch.rho2, c, cs2)
			}
			fs = append(fs, cs2)
			fe = append(fe, chat)
			th, err := dec(elem(proof.nonce, i), "chain nonce commitment", i)
			if err != nil {
				return err
			}
			ts[i-lo], te[i-lo] = rho, th
			r.gs.MultiplyAdd(rho, scalarAt(proof.shat, i), &r.gs)
		}
		r.full.VarTimeMultiScalarMult(fs, fe)
		r.xc.VarTimeMultiScalarMult(cs, ce)
		r.xt.VarTimeMultiScalarMult(ts, te)
		for k := 0; k < w; k++ {
			r.xa[k].VarTimeMultiScalarMult(us, ae[k])
			r.xb[k].VarTimeMultiScalarMult(us, be[k])
		}
		results[lo/verifierChunk] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// sumChunks adds up the chunks' results.
func sumChunks(results []*chunkResult, w int) *chunkResult {
	sum := &chunkResult{xa: make([]group.Element, w), xb: make([]group.Element, w)}
	id := group.NewIdentityElement()
	for _, e := range []*group.Element{&sum.full, &sum.xc, &sum.xt} {
		e.Set(id)
	}
	for k := 0; k < w; k++ {
		sum.xa[k].Set(id)
		sum.xb[k].Set(id)
	}
	for _, r := range results {
		sum.full.Add(&sum.full, &r.full)
		sum.xc.Add(&sum.xc, &r.xc)
		sum.xt.Add(&sum.xt, &r.xt)
		sum.gs.Add(&sum.gs, &r.gs)
		for k := 0; k < w; k++ {
			sum.xa[k].Add(&sum.xa[k], &r.xa[k])
			sum.xb[k].Add(&sum.xb[k], &r.xb[k])
		}
	}
	return sum
}

// combinedCheck adds the terms that belong to the whole proof (spec §6.5):
// the chunks' sums with their factors c, c·ρ_{A,k}, c·ρ_{B,k} and −1; h
// (−ρ_2·c·U from E2, ρ̂_0·s'_0 from E5 with ĉ_{−1} = h); g and y with the
// responses s_1 … s_{4,k} and Σ ρ̂_i·ŝ_i; and the commitments t_1 …
// t_{4B,k} with their negated weights. It reports whether the weighted
// product of all equations is the identity; an error is a commitment t
// that does not decode.
func combinedCheck(p *Params, proof *Proof, gens *Generators, ch *challenges, sum *chunkResult) (bool, error) {
	w, c := len(sum.xa), &ch.c
	var ss []*group.Scalar
	var es []*group.Element
	add := func(s *group.Scalar, e *group.Element) { ss, es = append(ss, s), append(es, e) }
	one := new(group.Scalar).SetUint64(1)
	minusOne := new(group.Scalar).SetInt64(-1)
	add(one, &sum.full)
	add(c, &sum.xc)
	add(minusOne, &sum.xt)
	// h0: −ρ2·c·U + ρ̂_0·s'_0.
	h0s := new(group.Scalar).Multiply(&ch.rho2, c)
	h0s.Multiply(h0s, &ch.U)
	h0s.Negate(h0s)
	h0s.MultiplyAdd(weight(ch.rhoH[0:16]), scalarAt(proof.sprime, 0), h0s)
	add(h0s, gens.elems[0])
	// g: ρ1·s1 + ρ2·s2 + s3 − Σ ρA_k·s4_k + Σ ρ̂_i·ŝ_i; y: −Σ ρB_k·s4_k.
	gs := new(group.Scalar).Multiply(&ch.rho1, &ch.s[0])
	gs.MultiplyAdd(&ch.rho2, &ch.s[1], gs)
	gs.Add(gs, &ch.s[2])
	gs.Add(gs, &sum.gs)
	ys := new(group.Scalar)
	for k := 0; k < w; k++ {
		gs.Subtract(gs, new(group.Scalar).Multiply(&ch.rhoA[k], &ch.s[3+k]))
		ys.Subtract(ys, new(group.Scalar).Multiply(&ch.rhoB[k], &ch.s[3+k]))
		add(new(group.Scalar).Multiply(c, &ch.rhoA[k]), &sum.xa[k])
		add(new(group.Scalar).Multiply(c, &ch.rhoB[k]), &sum.xb[k])
	}
	add(gs, group.NewGeneratorElement())
	add(ys, p.PublicKey.Element())
	// Commitments t1, t2, t3, t4A_k, t4B_k with their negated weights.
	tw := []*group.Scalar{&ch.rho1, &ch.rho2, one}
	for k := 0; k < w; k++ {
		tw = append(tw, &ch.rhoA[k], &ch.rhoB[k])
	}
	for j, wt := range tw {
		e := new(group.Element)
		if err := decodeInto(e, elem(proof.t, j), "commitment t", j); err != nil {
			return false, err
		}
		add(new(group.Scalar).Negate(wt), e)
	}
	return new(group.Element).VarTimeMultiScalarMult(ss, es).IsIdentity() == 1, nil
}
