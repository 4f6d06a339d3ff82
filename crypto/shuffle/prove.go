package shuffle

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"evote/crypto/group"
	"evote/crypto/zkp"
)

// proverChunk is the number of rows a prover goroutine handles at a time.
const proverChunk = 512

// Shuffle permutes and re-encrypts the rows in under p.PublicKey and
// proves it (spec §6.3, §6.4). It returns the output rows and the proof.
// rand is crypto/rand when nil; a deterministic reader is for test vectors
// only.
//
// All arithmetic on the permutation and the randomness is constant time.
// The permutation is applied by indexed memory access, so the prover's
// machine must not be shared with an adversary who can observe its cache.
func Shuffle(p *Params, in *Rows, rand io.Reader) (*Rows, *Proof, error) {
	if err := p.check(); err != nil {
		return nil, nil, err
	}
	if in == nil || in.n < 1 {
		return nil, nil, fmt.Errorf("%w: nothing to shuffle", ErrMalformed)
	}
	perm, err := randomPermutation(in.n, rand)
	if err != nil {
		return nil, nil, err
	}
	w := newWitness(in.n, in.w)
	if err := w.fill(rand); err != nil {
		return nil, nil, err
	}
	w.perm = perm
	gens := forStatement(p.Generators, p.ElectionID, in.n, p.Progress)
	out, proof, err := prove(p, in, gens, w)
	w.clear()
	return out, proof, err
}

// witness holds the prover's secrets: the permutation (output row i is a
// re-encryption of input row perm[i]) and the randomness of every
// commitment, re-encryption and nonce.
type witness struct {
	n, w   int
	perm   []int32
	rc     []group.Scalar // randomness of the commitment of output row i (placed at perm[i])
	rre    []group.Scalar // re-encryption randomness, n·w
	rhat   []group.Scalar // chain randomness r̂_i
	whash  []group.Scalar // nonces ω̂_i
	wprime []group.Scalar // nonces ω'_i
	w123   [3]group.Scalar
	w4     []group.Scalar
}

func newWitness(n, w int) *witness {
	return &witness{
		n: n, w: w,
		rc: make([]group.Scalar, n), rre: make([]group.Scalar, n*w),
		rhat: make([]group.Scalar, n), whash: make([]group.Scalar, n), wprime: make([]group.Scalar, n),
		w4: make([]group.Scalar, w),
	}
}

// fill draws every scalar of the witness from r, in a fixed order (spec
// §6.3 does not depend on it; test vectors do).
func (w *witness) fill(r io.Reader) error {
	if r == nil {
		r = rand.Reader
	}
	fill := func(ss []group.Scalar) error {
		buf := make([]byte, 64*min(len(ss), 4096))
		for lo := 0; lo < len(ss); lo += 4096 {
			hi := min(lo+4096, len(ss))
			b := buf[:64*(hi-lo)]
			if _, err := io.ReadFull(r, b); err != nil {
				return fmt.Errorf("shuffle: reading randomness: %w", err)
			}
			for i := lo; i < hi; i++ {
				if _, err := ss[i].SetUniformBytes(b[64*(i-lo) : 64*(i-lo+1)]); err != nil {
					panic("shuffle: 64-byte scalar rejected")
				}
			}
			clear(b)
		}
		return nil
	}
	for _, ss := range [][]group.Scalar{w.w123[:], w.w4, w.rc, w.rre, w.rhat, w.whash, w.wprime} {
		if err := fill(ss); err != nil {
			return err
		}
	}
	return nil
}

// clear overwrites the secrets.
func (w *witness) clear() {
	for _, ss := range [][]group.Scalar{w.w123[:], w.w4, w.rc, w.rre, w.rhat, w.whash, w.wprime} {
		clear(ss)
	}
	clear(w.perm)
}

// randomPermutation returns a uniformly random permutation of [0, n) by
// Fisher-Yates with rejection sampling on 32-bit values from r.
func randomPermutation(n int, r io.Reader) ([]int32, error) {
	if r == nil {
		r = rand.Reader
	}
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	buf := make([]byte, 4*1024)
	pos := len(buf)
	next := func() (uint32, error) {
		if pos == len(buf) {
			if _, err := io.ReadFull(r, buf); err != nil {
				return 0, fmt.Errorf("shuffle: reading randomness: %w", err)
			}
			pos = 0
		}
		v := binary.LittleEndian.Uint32(buf[pos:])
		pos += 4
		return v, nil
	}
	for i := n - 1; i > 0; i-- {
		// Uniform j in [0, i]: reject values in the incomplete last block.
		bound := uint32(i + 1)
		limit := ^uint32(0) - (^uint32(0)%bound+1)%bound
		for {
			v, err := next()
			if err != nil {
				return nil, err
			}
			if v <= limit {
				j := int(v % bound)
				perm[i], perm[j] = perm[j], perm[i]
				break
			}
		}
	}
	clear(buf)
	return perm, nil
}

// The prover follows spec §6.4, which is Haenni et al.'s GenShuffleProof
// for rows of width w. Its steps are the methods of prover below, called in
// order by prove. Key from the spec's (and the paper's) symbols to the
// names here (i is an output row, j an input row, k a column):
//
//	π(i)               wit.perm[i]            output row i re-encrypts input row π(i)
//	r'_{i,k}           wit.rre[i*w+k]         re-encryption randomness (the paper's r̃)
//	g, y               gt, yt                 fixed-base tables of the generator and the key
//	h = G_0, h_i       gens.elems[0], [i+1]   commitment generators (h0t: h's table)
//	r_i, c_{π(i)}      wit.rc[i], proof.perm  permutation commitment and its randomness
//	u_j, u'_i          pr.u[j], pr.uprime[i]  batching challenges, u'_i = u_{π(i)}
//	r̂_i, ĉ_i           wit.rhat[i], proof.chain
//	U_i, R_i           pr.U[i], pr.R[i]       ĉ_i = g^{R_i}·h^{U_i} in closed form
//	ω_1, ω_2, ω_3      wit.w123[0..2]         nonces
//	ω_{4,k}, ω̂_i, ω'_i wit.w4[k], wit.whash[i], wit.wprime[i]
//	Π h_i^{ω'_i}, …    pr.prods[0], pr.prods[1+2k] (a'), pr.prods[2+2k] (b')
//	t_1..t_{4B,k}, t̂_i proof.t, proof.nonce
//	c                  pr.c                   the Fiat-Shamir challenge
//	r̄, r̃, r'_k         pr.rbar, pr.rtilde, pr.rre[k]
//	s_1..s_{4,k}, ŝ_i, s'_i  proof.s, proof.shat, proof.sprime
//
// The transcript (pr.t) absorbs the statement and the commitments in the
// order of spec §6.6: batchingChallenges after step 1, finalChallenge after
// step 4.

// prove computes the output rows and the proof for the witness, with the
// given generators (which tests replace by trapdoor ones).
func prove(p *Params, in *Rows, gens *Generators, wit *witness) (*Rows, *Proof, error) {
	pr := newProver(p, in, gens, wit)
	if err := pr.shuffleAndCommit(); err != nil {
		return nil, nil, err
	}
	pr.batchingChallenges()
	pr.chainExponents()
	pr.commitChain()
	pr.commitNonces()
	pr.respond()
	return pr.out, pr.proof, nil
}

// A prover holds one proof of shuffle in progress: the statement, the
// witness, and what each step leaves for the next (see the key above).
type prover struct {
	p            *Params
	in, out      *Rows
	gens         *Generators
	wit          *witness
	n, w         int
	gt, yt, h0t  *group.FixedBase
	proof        *Proof
	prods        []group.Element // Π h_i^{ω'_i}, then Π a'_{i,k}^{ω'_i}, Π b'_{i,k}^{ω'_i} by column
	t            *zkp.Transcript
	u            []group.Scalar // u_j, by input row
	uprime, U, R []group.Scalar // by output row
	rbar, rtilde group.Scalar
	rre          []group.Scalar // r'_k, by column
	c            *group.Scalar
}

func newProver(p *Params, in *Rows, gens *Generators, wit *witness) *prover {
	pr := &prover{p: p, in: in, gens: gens, wit: wit, n: in.n, w: in.w}
	pr.gt = group.GeneratorTable()
	pr.yt = p.PublicKey.Table()
	pr.h0t = group.NewFixedBase(gens.elems[0])
	pr.out = &Rows{n: in.n, w: in.w, data: make([]byte, len(in.data))}
	pr.proof, _ = newProof(in.n, in.w)
	return pr
}

// shuffleAndCommit is the shuffle (spec §6.3) and step 1 of the proof: it
// writes the output rows (a'_{i,k}, b'_{i,k}) = (a_{π(i),k}·g^{r'_{i,k}},
// b_{π(i),k}·y^{r'_{i,k}}) and the permutation commitments c_{π(i)} =
// g^{r_i}·h_i, and, while the rows are decoded, computes the products of
// step 4 that involve them: Π h_i^{ω'_i}, Π a'_{i,k}^{ω'_i} and
// Π b'_{i,k}^{ω'_i}, chunk by chunk on all cores.
func (pr *prover) shuffleAndCommit() error {
	n, w, in, out, wit, gens, gt, yt := pr.n, pr.w, pr.in, pr.out, pr.wit, pr.gens, pr.gt, pr.yt
	proof := pr.proof
	chunks := (n + proverChunk - 1) / proverChunk
	partial := make([][]group.Element, chunks)
	tr := newTracker(pr.p.Progress, "shuffle", n)
	err := forChunks(n, proverChunk, tr, func(lo, hi int) error {
		m := hi - lo
		bases := make([][]*group.Element, 1+2*w)
		for k := range bases {
			bases[k] = make([]*group.Element, m)
		}
		scal := make([]*group.Scalar, m)
		outEl := make([]group.Element, 2*w*m)
		var a, b, d group.Element
		for i := lo; i < hi; i++ {
			src := int(wit.perm[i])
			for k := 0; k < w; k++ {
				r := &wit.rre[i*w+k]
				if _, err := a.SetCanonicalBytes(in.element(src, 2*k)); err != nil {
					return fmt.Errorf("%w: input row %d ciphertext %d: %w", ErrMalformed, src, k, err)
				}
				if _, err := b.SetCanonicalBytes(in.element(src, 2*k+1)); err != nil {
					return fmt.Errorf("%w: input row %d ciphertext %d: %w", ErrMalformed, src, k, err)
				}
				na, nb := &outEl[2*((i-lo)*w+k)], &outEl[2*((i-lo)*w+k)+1]
				na.Add(&a, d.ScalarMultFixed(r, gt))
				nb.Add(&b, d.ScalarMultFixed(r, yt))
				na.AppendBytes(out.element(i, 2*k)[:0])
				nb.AppendBytes(out.element(i, 2*k+1)[:0])
				bases[1+2*k][i-lo], bases[2+2*k][i-lo] = na, nb
			}
			h := gens.elems[i+1]
			d.ScalarMultFixed(&wit.rc[i], gt)
			d.Add(&d, h)
			d.AppendBytes(elem(proof.perm, src)[:0])
			bases[0][i-lo] = h
			scal[i-lo] = &wit.wprime[i]
		}
		part := make([]group.Element, 1+2*w)
		for k := range part {
			part[k].MultiScalarMult(scal, bases[k])
		}
		partial[(lo)/proverChunk] = part
		return nil
	})
	if err != nil {
		return err
	}
	pr.prods = make([]group.Element, 1+2*w)
	for k := range pr.prods {
		pr.prods[k].Set(group.NewIdentityElement())
		for _, part := range partial {
			pr.prods[k].Add(&pr.prods[k], &part[k])
		}
	}
	return nil
}

// batchingChallenges is step 2: the transcript absorbs the statement and
// the permutation commitments and gives u_0..u_{N−1}.
func (pr *prover) batchingChallenges() {
	pr.t = newTranscript(pr.p, pr.in.Digest(), pr.out)
	pr.u = batchingChallenges(pr.t, pr.proof.perm, pr.n)
}

// chainExponents is the scalar part of step 3 and of the responses
// (sequential, scalars only): u'_i = u_{π(i)}, the chain's closed form
// ĉ_i = g^{R_i}·h^{U_i} with U_i = Π_{k≤i} u'_k and
// R_i = r̂_i + u'_i·R_{i−1}, and the sums r̄, r̃ and r'_k. It then releases
// the commitment and re-encryption randomness and the unpermuted
// challenges (a million rows hold 32 MB per scalar list).
func (pr *prover) chainExponents() {
	n, w, wit := pr.n, pr.w, pr.wit
	pr.uprime = make([]group.Scalar, n)
	pr.U = make([]group.Scalar, n)
	pr.R = make([]group.Scalar, n)
	pr.rre = make([]group.Scalar, w)
	var prevU, prevR group.Scalar
	prevU.SetUint64(1)
	for i := 0; i < n; i++ {
		up := &pr.uprime[i]
		up.Set(&pr.u[wit.perm[i]])
		pr.U[i].Multiply(&prevU, up)
		pr.R[i].MultiplyAdd(&prevR, up, &wit.rhat[i])
		prevU.Set(&pr.U[i])
		prevR.Set(&pr.R[i])
		pr.rbar.Add(&pr.rbar, &wit.rc[i])
		pr.rtilde.MultiplyAdd(&wit.rc[i], up, &pr.rtilde)
		for k := 0; k < w; k++ {
			pr.rre[k].MultiplyAdd(&wit.rre[i*w+k], up, &pr.rre[k])
		}
	}
	clear(wit.rc)
	clear(wit.rre)
	wit.rc, wit.rre, pr.u = nil, nil, nil
}

// commitChain is step 3 and the chain's part of step 4, all fixed-base and
// on all cores: ĉ_i = g^{R_i}·h^{U_i} and
// t̂_i = g^{ω̂_i}·ĉ_{i−1}^{ω'_i} = g^{ω̂_i + R_{i−1}ω'_i}·h^{U_{i−1}ω'_i}.
func (pr *prover) commitChain() {
	wit, R, U, gt, h0t, proof := pr.wit, pr.R, pr.U, pr.gt, pr.h0t, pr.proof
	tr := newTracker(pr.p.Progress, "prove", pr.n)
	_ = forChunks(pr.n, proverChunk, tr, func(lo, hi int) error {
		var x, y group.Element
		var e1, e2 group.Scalar
		for i := lo; i < hi; i++ {
			x.ScalarMultFixed(&R[i], gt)
			y.ScalarMultFixed(&U[i], h0t)
			x.Add(&x, &y).AppendBytes(elem(proof.chain, i)[:0])
			if i == 0 {
				e1.Set(&wit.whash[0])
				e2.Set(&wit.wprime[0])
			} else {
				e1.MultiplyAdd(&R[i-1], &wit.wprime[i], &wit.whash[i])
				e2.Multiply(&U[i-1], &wit.wprime[i])
			}
			x.ScalarMultFixed(&e1, gt)
			y.ScalarMultFixed(&e2, h0t)
			x.Add(&x, &y).AppendBytes(elem(proof.nonce, i)[:0])
		}
		return nil
	})
}

// commitNonces is the rest of step 4 and step 5: t_1 = g^{ω_1},
// t_2 = g^{ω_2}, t_3 = g^{ω_3}·Π h_i^{ω'_i}, t_{4A,k} = g^{−ω_{4,k}}·
// Π a'_{i,k}^{ω'_i}, t_{4B,k} = y^{−ω_{4,k}}·Π b'_{i,k}^{ω'_i}, then the
// challenge c.
func (pr *prover) commitNonces() {
	wit, gt, yt, proof := pr.wit, pr.gt, pr.yt, pr.proof
	var x group.Element
	x.ScalarMultFixed(&wit.w123[0], gt).AppendBytes(elem(proof.t, 0)[:0])
	x.ScalarMultFixed(&wit.w123[1], gt).AppendBytes(elem(proof.t, 1)[:0])
	x.ScalarMultFixed(&wit.w123[2], gt)
	x.Add(&x, &pr.prods[0]).AppendBytes(elem(proof.t, 2)[:0])
	var neg group.Scalar
	for k := 0; k < pr.w; k++ {
		neg.Negate(&wit.w4[k])
		x.ScalarMultFixed(&neg, gt)
		x.Add(&x, &pr.prods[1+2*k]).AppendBytes(elem(proof.t, 3+2*k)[:0])
		x.ScalarMultFixed(&neg, yt)
		x.Add(&x, &pr.prods[2+2*k]).AppendBytes(elem(proof.t, 4+2*k)[:0])
	}
	pr.c = finalChallenge(pr.t, proof)
}

// respond is step 6, the responses s = ω − c·(secret): s_1 = ω_1 − c·r̄,
// s_2 = ω_2 − c·R_{N−1}, s_3 = ω_3 − c·r̃, s_{4,k} = ω_{4,k} − c·r'_k,
// ŝ_i = ω̂_i − c·r̂_i and s'_i = ω'_i − c·u'_i. It then wipes the secrets
// it held.
func (pr *prover) respond() {
	wit, proof := pr.wit, pr.proof
	rN := new(group.Scalar).Set(&pr.R[pr.n-1])
	clear(pr.U)
	clear(pr.R)
	pr.U, pr.R = nil, nil

	var s group.Scalar
	negC := new(group.Scalar).Negate(pr.c)
	s.MultiplyAdd(negC, &pr.rbar, &wit.w123[0])
	copy(elem(proof.s, 0), s.Bytes())
	s.MultiplyAdd(negC, rN, &wit.w123[1])
	copy(elem(proof.s, 1), s.Bytes())
	s.MultiplyAdd(negC, &pr.rtilde, &wit.w123[2])
	copy(elem(proof.s, 2), s.Bytes())
	for k := 0; k < pr.w; k++ {
		s.MultiplyAdd(negC, &pr.rre[k], &wit.w4[k])
		copy(elem(proof.s, 3+k), s.Bytes())
	}
	uprime := pr.uprime
	_ = forChunks(pr.n, 8192, nil, func(lo, hi int) error {
		var s group.Scalar
		for i := lo; i < hi; i++ {
			s.MultiplyAdd(negC, &wit.rhat[i], &wit.whash[i])
			copy(elem(proof.shat, i), s.Bytes())
			s.MultiplyAdd(negC, &uprime[i], &wit.wprime[i])
			copy(elem(proof.sprime, i), s.Bytes())
		}
		return nil
	})
	for _, ss := range [][]group.Scalar{pr.rre, pr.uprime} {
		clear(ss)
	}
	pr.rbar, pr.rtilde, *rN = group.Scalar{}, group.Scalar{}, group.Scalar{}
}
