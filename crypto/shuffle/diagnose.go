package shuffle

import "evote/crypto/group"

// diagnose checks each verification equation of spec §6.5 alone, after the
// combined check failed, and returns an EquationError naming the first that
// fails. It is slow (one multi-scalar multiplication per equation, one
// small one per chain link) and runs only on the failure path.
func diagnose(p *Params, in, out *Rows, proof *Proof, gens *Generators, ch *challenges) error {
	n, w := in.n, in.w
	c := &ch.c
	decodeList := func(field []byte, count int, what string) ([]*group.Element, error) {
		es := make([]*group.Element, count)
		for i := range es {
			es[i] = new(group.Element)
			if err := decodeInto(es[i], elem(field, i), what, i); err != nil {
				return nil, err
			}
		}
		return es, nil
	}
	C, err := decodeList(proof.perm, n, "permutation commitment")
	if err != nil {
		return err
	}
	chain, err := decodeList(proof.chain, n, "chain commitment")
	if err != nil {
		return err
	}
	nonce, err := decodeList(proof.nonce, n, "chain nonce commitment")
	if err != nil {
		return err
	}
	T, err := decodeList(proof.t, 3+2*w, "commitment t")
	if err != nil {
		return err
	}
	inEl, err := decodeList(in.data, 2*w*n, "input ciphertext")
	if err != nil {
		return err
	}
	outEl, err := decodeList(out.data, 2*w*n, "output ciphertext")
	if err != nil {
		return err
	}
	sp := make([]*group.Scalar, n)
	for i := range sp {
		sp[i] = scalarAt(proof.sprime, i)
	}
	g := group.NewGeneratorElement()
	y := p.PublicKey.Element()
	h := gens.elems[1 : n+1]
	negC := new(group.Scalar).Negate(c)
	minusOne := new(group.Scalar).SetInt64(-1)
	holds := func(ss []*group.Scalar, es []*group.Element) bool {
		return new(group.Element).VarTimeMultiScalarMult(ss, es).IsIdentity() == 1
	}
	rep := func(s *group.Scalar, k int) []*group.Scalar {
		out := make([]*group.Scalar, k)
		for i := range out {
			out[i] = s
		}
		return out
	}

	// E1: Π c_j^c · Π h_i^{-c} · g^{s1} = t1.
	ss := append(append(rep(c, n), rep(negC, n)...), &ch.s[0], minusOne)
	es := append(append(append([]*group.Element{}, C...), h...), g, T[0])
	if !holds(ss, es) {
		return &EquationError{Equation: EqPermutationSum, Index: -1}
	}
	// E2: ĉ_{N-1}^c · h0^{-c·U} · g^{s2} = t2.
	cu := new(group.Scalar).Multiply(negC, &ch.U)
	if !holds([]*group.Scalar{c, cu, &ch.s[1], minusOne}, []*group.Element{chain[n-1], gens.elems[0], g, T[1]}) {
		return &EquationError{Equation: EqChainEnd, Index: -1}
	}
	// E3: Π c_j^{c·u_j} · g^{s3} · Π h_i^{s'_i} = t3.
	cuj := make([]*group.Scalar, n)
	for j := range cuj {
		cuj[j] = new(group.Scalar).Multiply(c, &ch.u[j])
	}
	ss = append(append(append([]*group.Scalar{}, cuj...), sp...), &ch.s[2], minusOne)
	es = append(append(append([]*group.Element{}, C...), h...), g, T[2])
	if !holds(ss, es) {
		return &EquationError{Equation: EqBatchedCommit, Index: -1}
	}
	// E4: per column k and component, Π x_j^{c·u_j} · base^{-s4_k} · Π x'_i^{s'_i} = t4.
	for k := 0; k < w; k++ {
		negS4 := new(group.Scalar).Negate(&ch.s[3+k])
		for comp, base := range []*group.Element{g, y} {
			es = es[:0]
			for j := 0; j < n; j++ {
				es = append(es, inEl[2*(j*w+k)+comp])
			}
			for i := 0; i < n; i++ {
				es = append(es, outEl[2*(i*w+k)+comp])
			}
			es = append(es, base, T[3+2*k+comp])
			ss = append(append(append([]*group.Scalar{}, cuj...), sp...), negS4, minusOne)
			if !holds(ss, es) {
				name := EqReencryptionA
				if comp == 1 {
					name = EqReencryptionB
				}
				return &EquationError{Equation: name, Index: k}
			}
		}
	}
	// E5: ĉ_i^c · g^{ŝ_i} · ĉ_{i-1}^{s'_i} = t̂_i, with ĉ_{-1} = h0.
	for i := 0; i < n; i++ {
		prev := gens.elems[0]
		if i > 0 {
			prev = chain[i-1]
		}
		if !holds([]*group.Scalar{c, scalarAt(proof.shat, i), sp[i], minusOne}, []*group.Element{chain[i], g, prev, nonce[i]}) {
			return &EquationError{Equation: EqChainLink, Index: i}
		}
	}
	return &EquationError{Equation: EqBatchUnexplained, Index: -1}
}
