package threshold

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/quick"

	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/testrand"
)

// rushingExtract returns an extract hook in which dealer, speaking last,
// waits for the others' extraction commitments and then publishes those of
// a polynomial a' of its choosing (issue 12, finding 4): a' agrees with
// a_dealer at every honest trustee's index, so no honest trustee's check
// (F) fails, but its constant term is ground until the joint key's
// encoding begins with a zero byte. That is possible whenever the honest
// trustees other than the dealer number at most t−1 (n ≤ 2t−2 with t−1
// corrupt trustees, n = t with the dealer alone), since their shares then
// leave a'(0) free. The proof of knowledge of a'_0 is valid: the dealer
// knows a'_0. It returns the forged joint key through *key.
func rushingExtract(d *dkg, dealer int, colluders []int, key **group.Element) func(int, *ExtractionCommitments) *ExtractionCommitments {
	return func(i int, e *ExtractionCommitments) *ExtractionCommitments {
		if i != dealer {
			return e
		}
		others := group.NewIdentityElement()
		for _, m := range d.tr.Extraction {
			others.Add(others, m.A[0])
		}
		a0 := new(group.Scalar).SetUint64(1)
		one := new(group.Scalar).SetUint64(1)
		g := group.NewGeneratorElement()
		k := new(group.Element).Add(others, g)
		for k.Bytes()[0] != 0 {
			a0.Add(a0, one)
			k.Add(k, g)
		}
		*key = k
		xs, ys := []int{0}, []*group.Scalar{a0}
		for j := 1; j <= d.p.N; j++ {
			if j != dealer && !slices.Contains(colluders, j) {
				xs = append(xs, j)
				ys = append(ys, evalPoly(d.trustees[dealer-1].a, j))
			}
		}
		if len(xs) != d.p.T {
			d.t.Fatalf("fixture: %d constraints for t=%d", len(xs), d.p.T)
		}
		coeffs := interpolate(xs, ys)
		e.A = make([]*group.Element, d.p.T)
		for k := range coeffs {
			e.A[k] = new(group.Element).ScalarBaseMult(&coeffs[k])
		}
		pr, err := zkp.ProveSchnorr(extractionContext(d.base, dealer), g, e.A[0], &coeffs[0], nil, testrand.New("rushing"))
		if err != nil {
			d.t.Fatal(err)
		}
		e.Proof = pr
		return e
	}
}

// TestRushingDealerCannotBiasKey: the last dealer of a small committee
// publishes extraction commitments of its choice that agree with every
// honest trustee's share (see rushingExtract). Without a proof linking A_i
// to the phase-1 commitments C_i nobody can complain and the auditor
// accepts a joint key ground by the dealer. The consistency proof (spec
// §5.6) makes its extraction invalid: its secret is then reconstructed in
// public from t reveals, which gives the committed key, or, when fewer
// than t trustees besides it can reveal, key generation fails; it never
// succeeds with a key the dealer chose.
func TestRushingDealerCannotBiasKey(t *testing.T) {
	cases := []struct {
		p         Params
		colluders []int // corrupt trustees besides the dealer: no extraction complaint
		withhold  bool  // the colluders also withhold their reveals
		fails     bool  // fewer than t trustees besides the dealer reveal
	}{
		{Params{N: 2, T: 2}, nil, false, true},
		{Params{N: 3, T: 3}, nil, false, true},
		{Params{N: 4, T: 3}, []int{3}, false, false},
		{Params{N: 4, T: 3}, []int{3}, true, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("n=%d,t=%d,colluders=%v,withhold=%v", c.p.N, c.p.T, c.colluders, c.withhold), func(t *testing.T) {
			d := newDKG(t, c.p, "rushing dealer")
			dealer := c.p.N
			var forged *group.Element
			_ = d.run(hooks{
				extract: rushingExtract(d, dealer, c.colluders, &forged),
				complainExtraction: func(j int, cs []*ExtractionComplaint) []*ExtractionComplaint {
					if slices.Contains(c.colluders, j) {
						return nil
					}
					return cs
				},
				keepReveal: func(j int) bool { return !c.withhold || !slices.Contains(c.colluders, j) },
			})
			if forged == nil {
				t.Fatal("fixture: the dealer did not publish")
			}
			all := make([]int, c.p.N)
			for i := range all {
				all[i] = i + 1
			}
			committed := d.committedKey(all)
			if forged.Equal(committed) == 1 {
				t.Fatal("fixture: the forged key is the committed one")
			}
			for _, m := range d.tr.ExtractionComplaints {
				if m.Accused == dealer {
					t.Fatalf("fixture: trustee %d complained", m.Complainer)
				}
			}
			res, err := VerifyTranscript(d.tr)
			if err == nil && res.JointKey.Equal(forged) == 1 {
				t.Fatal("the auditor accepts the joint key chosen by the last dealer")
			}
			if c.fails {
				if !errors.Is(err, ErrReconstruction) {
					t.Fatalf("got %v, want key generation to fail with ErrReconstruction", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.JointKey.Equal(committed) != 1 {
				t.Fatal("the joint key is not the committed one")
			}
			if r := culprit(res.Reconstructed, dealer); !errors.Is(r, ErrBadExtraction) {
				t.Fatalf("dealer %d not reconstructed for a bad extraction: %v", dealer, r)
			}
		})
	}
}

// TestConsistencyProofRejections: one negative test per kind of tampering
// with the consistency proof or its statement (spec §5.6): each is refused
// by the verifier, and in a transcript each makes the dealer's extraction
// invalid, so its secret is reconstructed in public and the joint key is
// the committed one.
func TestConsistencyProofRejections(t *testing.T) {
	d := honestDKG(t)
	base := d.base
	byDealer := map[int]*ExtractionCommitments{}
	for _, e := range d.tr.Extraction {
		byDealer[e.Dealer] = e
	}
	commits := map[int][]*group.Element{}
	for _, c := range d.tr.Commitments {
		commits[c.Dealer] = c.C
	}
	e2, cs2 := byDealer[2], commits[2]
	if err := verifyConsistency(base, 2, cs2, e2.A, e2.Consistency); err != nil {
		t.Fatalf("honest proof: %v", err)
	}
	g := group.NewGeneratorElement()
	bumped := func(es []*group.Element, k int) []*group.Element {
		out := slices.Clone(es)
		out[k] = new(group.Element).Add(es[k], g)
		return out
	}
	otherBase := base
	otherBase[31] ^= 1
	h := PedersenGenerator()
	tr2 := d.trustees[1]
	// A proof of another statement under the right context: the unweighted
	// product Π C_k/A_k, whose exponent Σ b_k the dealer knows.
	_, ctx := consistencyStatement(base, 2, cs2, e2.A)
	unweighted := group.NewIdentityElement()
	sumB := group.NewScalar()
	for k := range cs2 {
		unweighted.Add(unweighted, new(group.Element).Subtract(cs2[k], e2.A[k]))
		sumB.Add(sumB, &tr2.b[k])
	}
	other, err := zkp.ProveSchnorr(ctx, h, unweighted, sumB, nil, testrand.New("other statement"))
	if err != nil {
		t.Fatal(err)
	}
	// A proof under another base hash, made by the dealer itself.
	otherElection, err := proveConsistency(otherBase, 2, cs2, e2.A, tr2.b, testrand.New("other base"))
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		base   [32]byte
		dealer int
		cs, as []*group.Element
		proof  *zkp.SchnorrProof
	}
	cases := map[string]check{
		"proof moved to another dealer":     {base, 3, commits[3], byDealer[3].A, e2.Consistency},
		"checked under another base hash":   {otherBase, 2, cs2, e2.A, e2.Consistency},
		"made under another base hash":      {base, 2, cs2, e2.A, otherElection},
		"proof of another statement":        {base, 2, cs2, e2.A, other},
		"missing proof":                     {base, 2, cs2, e2.A, nil},
		"lists of different lengths":        {base, 2, cs2, e2.A[:2], e2.Consistency},
		"another dealer's index":            {base, 3, cs2, e2.A, e2.Consistency},
		"response altered":                  {base, 2, cs2, e2.A, &zkp.SchnorrProof{R: e2.Consistency.R, Z: *new(group.Scalar).Add(&e2.Consistency.Z, new(group.Scalar).SetUint64(1))}},
		"commitment of the proof altered":   {base, 2, cs2, e2.A, &zkp.SchnorrProof{R: *new(group.Element).Add(&e2.Consistency.R, h), Z: e2.Consistency.Z}},
		"other dealer's commitments":        {base, 2, commits[3], e2.A, e2.Consistency},
		"other dealer's extraction":         {base, 2, cs2, byDealer[3].A, e2.Consistency},
		"A and C swapped":                   {base, 2, e2.A, cs2, e2.Consistency},
		"A shifted by H (still a H-offset)": {base, 2, cs2, []*group.Element{new(group.Element).Add(e2.A[0], h), e2.A[1], e2.A[2]}, e2.Consistency},
	}
	for k := range cs2 {
		cases[fmt.Sprintf("tampered A_%d", k)] = check{base, 2, cs2, bumped(e2.A, k), e2.Consistency}
		cases[fmt.Sprintf("tampered C_%d", k)] = check{base, 2, bumped(cs2, k), e2.A, e2.Consistency}
	}
	for name, c := range cases {
		if err := verifyConsistency(c.base, c.dealer, c.cs, c.as, c.proof); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}

	// In a transcript: dealer 2's message with a bad consistency proof
	// (otherwise valid, its A_2 even honest) is a bad extraction.
	for name, edit := range map[string]func(e *ExtractionCommitments){
		"proof of dealer 3":          func(e *ExtractionCommitments) { e.Consistency = byDealer[3].Consistency },
		"proof of another statement": func(e *ExtractionCommitments) { e.Consistency = other },
		"proof of another election":  func(e *ExtractionCommitments) { e.Consistency = otherElection },
		"no proof":                   func(e *ExtractionCommitments) { e.Consistency = nil },
	} {
		tr := *d.tr
		tr.Extraction = slices.Clone(d.tr.Extraction)
		for k, m := range tr.Extraction {
			if m.Dealer == 2 {
				cp := *m
				edit(&cp)
				tr.Extraction[k] = &cp
			}
		}
		if _, err := VerifyTranscript(&tr); !errors.Is(err, ErrReconstruction) {
			t.Errorf("%s, no reveals: %v, want ErrReconstruction", name, err)
		}
		tr.Reveals = nil
		for _, x := range d.trustees {
			rs, err := x.Reveal(&tr)
			if err != nil {
				t.Fatal(err)
			}
			if x.Index() != 2 && (len(rs) != 1 || rs[0].Dealer != 2) {
				t.Fatalf("%s: trustee %d reveals %v, want its share of dealer 2", name, x.Index(), rs)
			}
			tr.Reveals = append(tr.Reveals, rs...)
		}
		res, err := VerifyTranscript(&tr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r := culprit(res.Reconstructed, 2); len(res.Reconstructed) != 1 || !errors.Is(r, ErrBadExtraction) {
			t.Errorf("%s: reconstructed %v", name, res.Reconstructed)
		}
		if res.JointKey.Equal(d.res.JointKey) != 1 {
			t.Errorf("%s: joint key changed", name)
		}
	}
}

// TestExtractionCommitmentsEncoding: the consistency proof is part of the
// strict encoding of kind 6; a message without it (the earlier format),
// with a byte more or less, or with a non-canonical element or scalar in
// it does not parse.
func TestExtractionCommitmentsEncoding(t *testing.T) {
	d := honestDKG(t)
	b := d.tr.Extraction[0].Bytes()
	if want := 1 + 32 + 2 + 4 + 3*group.ElementSize + 2*zkp.SchnorrProofSize; len(b) != want {
		t.Fatalf("encoding is %d bytes, want %d", len(b), want)
	}
	if _, err := ParseExtractionCommitments(b); err != nil {
		t.Fatal(err)
	}
	ff := bytes.Repeat([]byte{0xff}, 32)
	bad := map[string][]byte{
		"without the consistency proof":  b[:len(b)-zkp.SchnorrProofSize],
		"truncated":                      b[:len(b)-1],
		"trailing byte":                  append(slices.Clone(b), 0),
		"non-canonical response":         append(slices.Clone(b[:len(b)-32]), ff...),
		"non-canonical commitment":       slices.Concat(b[:len(b)-64], ff, b[len(b)-32:]),
		"two consistency proofs":         append(slices.Clone(b), b[len(b)-zkp.SchnorrProofSize:]...),
		"no proofs at all":               b[:len(b)-2*zkp.SchnorrProofSize],
		"non-canonical extraction value": slices.Concat(b[:39], ff, b[39+32:]),
	}
	for name, m := range bad {
		if _, err := ParseExtractionCommitments(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := ParseMessage(m); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s through ParseMessage: %v", name, err)
		}
	}
}

// TestHonestExtractionAlwaysVerifies: for every (n, t) tried, n = t and
// t = 1 included, honest key generation verifies with nobody
// reconstructed, each dealer's consistency proof verifies, and the joint
// key is the product of the committed secrets.
func TestHonestExtractionAlwaysVerifies(t *testing.T) {
	check := func(p Params, seed string) bool {
		d := newDKG(t, p, seed)
		if err := d.run(hooks{}); err != nil {
			t.Logf("n=%d t=%d: %v", p.N, p.T, err)
			return false
		}
		if len(d.res.Reconstructed) != 0 || len(d.res.Qualified) != p.N || d.res.JointKey.Equal(d.committedKey(d.res.Qualified)) != 1 {
			t.Logf("n=%d t=%d: %+v", p.N, p.T, d.res)
			return false
		}
		for _, e := range d.tr.Extraction {
			if err := verifyConsistency(d.base, e.Dealer, d.trustees[e.Dealer-1].commits, e.A, e.Consistency); err != nil {
				t.Logf("n=%d t=%d dealer %d: %v", p.N, p.T, e.Dealer, err)
				return false
			}
		}
		return true
	}
	for _, p := range []Params{{1, 1}, {2, 1}, {2, 2}, {3, 1}, {3, 3}, {4, 2}, {4, 4}, {5, 3}} {
		if !check(p, "honest consistency") {
			t.Errorf("n=%d t=%d: honest run rejected", p.N, p.T)
		}
	}
	f := func(n, t8, seed uint8) bool {
		p := Params{N: 1 + int(n)%6}
		p.T = 1 + int(t8)%p.N
		return check(p, fmt.Sprintf("quick %d", seed))
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 8}); err != nil {
		t.Error(err)
	}
}

// TestRogueCommitmentNeedsProofOfKnowledge: why the proof of knowledge of
// a_i0 stays beside the consistency proof (spec §5.6). With n = 4, t = 3
// and trustee 3 colluding, dealer 4 must deal valid shares to trustees 1
// and 2 only; two points do not pin three coefficients, so it can commit
// to C_40 = C_10^{−1}·g^x, built from honest dealer 1's commitment, without
// knowing any opening. Its extraction commitments A_4k = C_4k·H^{−b'_k}
// pass the consistency proof (it knows the b'_k) and every honest check
// (F), and A_40 cancels g^{a_10}: the joint key would be g^{…}·H^{…}, of
// which nobody knows the discrete logarithm, so the election could never
// be decrypted. Only the proof of knowledge of log_g A_40 fails (knowing it
// and b'_0 is knowing an opening of C_40, hence of C_10), and key
// generation fails at once instead of at the tally.
func TestRogueCommitmentNeedsProofOfKnowledge(t *testing.T) {
	p := Params{N: 4, T: 3}
	d := newDKG(t, p, "rogue commitment")
	rnd := testrand.New("rogue")
	h := PedersenGenerator()
	random := func() *group.Scalar {
		x, err := new(group.Scalar).SetRandom(rnd)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x, b0 := random(), random()
	var rogue []*group.Element
	var s, s2 [3]*group.Scalar // shares dealt to trustees 1 and 2
	err := d.run(hooks{
		deal: func(i int, c *Commitments, e *EncryptedShares) (*Commitments, *EncryptedShares) {
			if i != 4 {
				return c, e
			}
			c10 := d.tr.Commitments[0].C[0]
			c0 := new(group.Element).Subtract(new(group.Element).ScalarBaseMult(x), c10)
			// Y_j = g^{s_j}·H^{s'_j}·C_40^{−1} = C_41^j·C_42^{j²} for j = 1, 2.
			var y [3]*group.Element
			for j := 1; j <= 2; j++ {
				s[j], s2[j] = random(), random()
				y[j] = new(group.Element).Subtract(pedersenCommit(s[j], s2[j]), c0)
			}
			half := new(group.Scalar).Invert(new(group.Scalar).SetUint64(2))
			two := new(group.Scalar).SetUint64(2)
			c2 := new(group.Element).Subtract(y[2], new(group.Element).ScalarMult(two, y[1]))
			c2.ScalarMult(half, c2)
			c1 := new(group.Element).Subtract(y[1], c2)
			rogue = []*group.Element{c0, c1, c2}
			c.C = rogue
			d.trustees[3].commits = rogue // so that its own Extract runs
			for k := range e.Shares {
				j := e.Shares[k].Recipient
				if j > 2 {
					continue
				}
				enc, ct, err := sealShare(rnd, d.keys[j-1].Public(), d.base, 4, j, s[j], s2[j])
				if err != nil {
					t.Fatal(err)
				}
				e.Shares[k].Enc, e.Shares[k].Ciphertext = enc, ct
			}
			return c, e
		},
		complain: func(j int, cs []*Complaint) []*Complaint {
			if j == 3 {
				d.trustees[2].got[4] = [2]*group.Scalar{group.NewScalar(), group.NewScalar()}
				return nil
			}
			return cs
		},
		extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
			if i != 4 {
				return e
			}
			bs := interpolate([]int{0, 1, 2}, []*group.Scalar{b0, s2[1], s2[2]})
			e.A = make([]*group.Element, p.T)
			for k := range bs {
				e.A[k] = new(group.Element).Subtract(rogue[k], new(group.Element).ScalarMult(&bs[k], h))
			}
			pr, err := proveConsistency(d.base, 4, rogue, e.A, bs, rnd)
			if err != nil {
				t.Fatal(err)
			}
			e.Consistency = pr
			return e // e.Proof is for the dealer's discarded a_0
		},
		complainExtraction: func(j int, cs []*ExtractionComplaint) []*ExtractionComplaint {
			if j == 3 {
				return nil
			}
			return cs
		},
	})
	if rogue == nil {
		t.Fatal("fixture: dealer 4 did not deal")
	}
	ph, perr := computePhase1(d.tr)
	if perr != nil || !slices.Contains(ph.qual, 4) {
		t.Fatalf("fixture: dealer 4 not qualified: %v", perr)
	}
	var e4 *ExtractionCommitments
	for _, m := range d.tr.Extraction {
		if m.Dealer == 4 {
			e4 = m
		}
	}
	if err := verifyConsistency(d.base, 4, rogue, e4.A, e4.Consistency); err != nil {
		t.Fatalf("fixture: the consistency proof fails: %v", err)
	}
	for j := 1; j <= 2; j++ {
		if !checkFeldmanShare(e4.A, j, s[j]) {
			t.Fatalf("fixture: trustee %d's check (F) fails", j)
		}
	}
	// A_10·A_40 = g^x·H^{−b_10−b'_0}: dealer 1's secret is cancelled.
	exp := new(group.Scalar).Add(&d.trustees[0].b[0], b0)
	want := new(group.Element).Subtract(new(group.Element).ScalarBaseMult(x), new(group.Element).ScalarMult(exp, h))
	if new(group.Element).Add(e4.A[0], d.tr.Extraction[0].A[0]).Equal(want) != 1 {
		t.Fatal("fixture: A_40 does not cancel g^{a_10}")
	}
	_, needed := extractionFailures(d.tr, ph)
	if len(needed) != 1 || needed[0].Trustee != 4 || !errors.Is(needed[0].Reason, ErrBadExtraction) ||
		!strings.Contains(needed[0].Reason.Error(), "proof of knowledge") {
		t.Fatalf("extraction failures %v, want dealer 4's proof of knowledge", needed)
	}
	if !errors.Is(err, ErrReconstruction) {
		t.Fatalf("key generation: %v, want ErrReconstruction", err)
	}
}

// TestExtractRefusesOtherOwnCommitments: a trustee proves consistency only
// against the commitments its own polynomials give; if the board holds
// others under its index (here: its state no longer matches the board), it
// refuses to extract rather than post a proof that cannot verify.
func TestExtractRefusesOtherOwnCommitments(t *testing.T) {
	d := newDKG(t, Params{N: 3, T: 2}, "other own commitments")
	for _, x := range d.trustees {
		c, e, err := x.Deal()
		if err != nil {
			t.Fatal(err)
		}
		d.tr.Commitments, d.tr.EncryptedShares = append(d.tr.Commitments, c), append(d.tr.EncryptedShares, e)
	}
	for _, x := range d.trustees {
		if cs, err := x.Complain(d.tr); err != nil || len(cs) != 0 {
			t.Fatalf("complaints %v, %v", cs, err)
		}
	}
	q, _, err := ComputeQualified(d.tr)
	if err != nil {
		t.Fatal(err)
	}
	d.tr.Qualified = q
	if _, err := d.trustees[1].Extract(d.tr); err != nil {
		t.Fatalf("trustee 2: %v", err)
	}
	x := d.trustees[0]
	x.commits = slices.Clone(x.commits)
	x.commits[1] = new(group.Element).Add(x.commits[1], group.NewGeneratorElement())
	if _, err := x.Extract(d.tr); err == nil || !strings.Contains(err.Error(), "own commitments") {
		t.Fatalf("extracted against commitments that are not its own: %v", err)
	}
}
