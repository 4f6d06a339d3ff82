package shuffle

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"evote/crypto/group"
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

// prove computes the output rows and the proof for the witness, with the
// given generators (which tests replace by trapdoor ones).
func prove(p *Params, in *Rows, gens *Generators, wit *witness) (*Rows, *Proof, error) {
	n, w := in.n, in.w
	gt := group.GeneratorTable()
	yt := p.PublicKey.Table()
	h0t := group.NewFixedBase(gens.elems[0])
	out := &Rows{n: n, w: w, data: make([]byte, len(in.data))}
	proof, _ := newProof(n, w)

	// Phase 1: outputs, permutation commitments, and the partial products
	// Π h_i^{ω'_i}, Π a'_{i,k}^{ω'_i}, Π b'_{i,k}^{ω'_i} of each chunk.
	chunks := (n + proverChunk - 1) / proverChunk
	partial := make([][]group.Element, chunks)
	tr := newTracker(p.Progress, "shuffle", n)
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
		return nil, nil, err
	}
	prods := make([]group.Element, 1+2*w)
	for k := range prods {
		prods[k].Set(group.NewIdentityElement())
		for _, part := range partial {
			prods[k].Add(&prods[k], &part[k])
		}
	}

	inDigest := in.Digest()
	t := newTranscript(p, inDigest, out)
	u := batchingChallenges(t, proof.perm, n)

	// Phase 2 (sequential, scalars only): u'_i = u_{perm[i]}, the chain's
	// closed form ĉ_i = g^{R_i}·h0^{U_i} with U_i = Π_{k≤i} u'_k and
	// R_i = r̂_i + u'_i·R_{i-1}, and the sums the responses need.
	uprime := make([]group.Scalar, n)
	U := make([]group.Scalar, n)
	R := make([]group.Scalar, n)
	var rbar, rtilde group.Scalar
	rre := make([]group.Scalar, w)
	var prevU, prevR group.Scalar
	prevU.SetUint64(1)
	for i := 0; i < n; i++ {
		up := &uprime[i]
		up.Set(&u[wit.perm[i]])
		U[i].Multiply(&prevU, up)
		R[i].MultiplyAdd(&prevR, up, &wit.rhat[i])
		prevU.Set(&U[i])
		prevR.Set(&R[i])
		rbar.Add(&rbar, &wit.rc[i])
		rtilde.MultiplyAdd(&wit.rc[i], up, &rtilde)
		for k := 0; k < w; k++ {
			rre[k].MultiplyAdd(&wit.rre[i*w+k], up, &rre[k])
		}
	}

	// The commitment and re-encryption randomness and the unpermuted
	// challenges are no longer needed: release them (a million rows hold
	// 32 MB per scalar list).
	clear(wit.rc)
	clear(wit.rre)
	wit.rc, wit.rre, u = nil, nil, nil

	// Phase 3: ĉ_i and t̂_i = g^{ω̂_i}·ĉ_{i-1}^{ω'_i}
	// = g^{ω̂_i + R_{i-1}ω'_i}·h0^{U_{i-1}ω'_i}, all fixed-base.
	tr = newTracker(p.Progress, "prove", n)
	_ = forChunks(n, proverChunk, tr, func(lo, hi int) error {
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
	var x group.Element
	x.ScalarMultFixed(&wit.w123[0], gt).AppendBytes(elem(proof.t, 0)[:0])
	x.ScalarMultFixed(&wit.w123[1], gt).AppendBytes(elem(proof.t, 1)[:0])
	x.ScalarMultFixed(&wit.w123[2], gt)
	x.Add(&x, &prods[0]).AppendBytes(elem(proof.t, 2)[:0])
	var neg group.Scalar
	for k := 0; k < w; k++ {
		neg.Negate(&wit.w4[k])
		x.ScalarMultFixed(&neg, gt)
		x.Add(&x, &prods[1+2*k]).AppendBytes(elem(proof.t, 3+2*k)[:0])
		x.ScalarMultFixed(&neg, yt)
		x.Add(&x, &prods[2+2*k]).AppendBytes(elem(proof.t, 4+2*k)[:0])
	}
	c := finalChallenge(t, proof)

	rN := new(group.Scalar).Set(&R[n-1])
	clear(U)
	clear(R)
	U, R = nil, nil

	// Phase 4: responses s = ω − c·(secret).
	var s group.Scalar
	negC := new(group.Scalar).Negate(c)
	s.MultiplyAdd(negC, &rbar, &wit.w123[0])
	copy(elem(proof.s, 0), s.Bytes())
	s.MultiplyAdd(negC, rN, &wit.w123[1])
	copy(elem(proof.s, 1), s.Bytes())
	s.MultiplyAdd(negC, &rtilde, &wit.w123[2])
	copy(elem(proof.s, 2), s.Bytes())
	for k := 0; k < w; k++ {
		s.MultiplyAdd(negC, &rre[k], &wit.w4[k])
		copy(elem(proof.s, 3+k), s.Bytes())
	}
	_ = forChunks(n, 8192, nil, func(lo, hi int) error {
		var s group.Scalar
		for i := lo; i < hi; i++ {
			s.MultiplyAdd(negC, &wit.rhat[i], &wit.whash[i])
			copy(elem(proof.shat, i), s.Bytes())
			s.MultiplyAdd(negC, &uprime[i], &wit.wprime[i])
			copy(elem(proof.sprime, i), s.Bytes())
		}
		return nil
	})
	for _, ss := range [][]group.Scalar{rre, uprime} {
		clear(ss)
	}
	rbar, rtilde, *rN = group.Scalar{}, group.Scalar{}, group.Scalar{}
	return out, proof, nil
}
