package threshold

import (
	"errors"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/testrand"
)

// badShareTo returns a deal hook in which dealer sends recipient a share
// off by one (correctly encrypted, so only the commitment check fails).
func badShareTo(d *dkg, dealer, recipient int) func(int, *Commitments, *EncryptedShares) (*Commitments, *EncryptedShares) {
	return func(i int, c *Commitments, e *EncryptedShares) (*Commitments, *EncryptedShares) {
		if i != dealer {
			return c, e
		}
		tr := d.trustees[i-1]
		s := evalPoly(tr.a, recipient)
		s.Add(s, new(group.Scalar).SetUint64(1))
		enc, ct, err := sealShare(testrand.New("bad"), d.keys[recipient-1].Public(), d.base, dealer, recipient, s, evalPoly(tr.b, recipient))
		if err != nil {
			d.t.Fatal(err)
		}
		for k := range e.Shares {
			if e.Shares[k].Recipient == recipient {
				e.Shares[k].Enc, e.Shares[k].Ciphertext = enc, ct
			}
		}
		return c, e
	}
}

// checkKeyWorks decrypts with the first t trustees and with the last t.
func checkKeyWorks(t *testing.T, d *dkg) {
	t.Helper()
	rnd := testrand.New("votes")
	cts, ms := encryptTestVotes(t, d.res.JointKey, 3, rnd)
	table := elgamal.NewDLogTable(100)
	for _, sub := range [][]int{{1, 2, 3}, {3, 4, 5}, {1, 3, 5}} {
		got, bad, err := Decrypt(d.p, testExt, d.res.VerificationKeys, cts, d.decryptWith(t, sub, cts, rnd), table)
		if err != nil || len(bad) != 0 || !slices.Equal(got, ms) {
			t.Fatalf("subset %v: got %v, %v, %v; want %v", sub, got, bad, err, ms)
		}
	}
}

func culprit(cs []Culprit, i int) error {
	for _, c := range cs {
		if c.Trustee == i {
			return c.Reason
		}
	}
	return nil
}

func TestBadShareAnsweredHonestly(t *testing.T) {
	d := newDKG(t, Params{N: 5, T: 3}, "bad share answered")
	if err := d.run(hooks{deal: badShareTo(d, 2, 4)}); err != nil {
		t.Fatal(err)
	}
	if len(d.tr.Complaints) != 1 || d.tr.Complaints[0].Complainer != 4 || d.tr.Complaints[0].Accused != 2 {
		t.Fatalf("complaints: %+v", d.tr.Complaints)
	}
	// The public answer is a valid share: the complaint is dismissed.
	if !slices.Equal(d.res.Qualified, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("QUAL %v", d.res.Qualified)
	}
	checkKeyWorks(t, d)
}

func TestBadShareBadAnswer(t *testing.T) {
	for _, silent := range []bool{false, true} {
		d := newDKG(t, Params{N: 5, T: 3}, "bad share bad answer")
		err := d.run(hooks{
			deal: badShareTo(d, 2, 4),
			answer: func(i int, as []*ComplaintAnswer) []*ComplaintAnswer {
				if i != 2 {
					return as
				}
				if silent {
					return nil
				}
				for _, a := range as {
					a.S2 = new(group.Scalar).Add(a.S2, new(group.Scalar).SetUint64(1))
				}
				return as
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.res.Qualified, []int{1, 3, 4, 5}) {
			t.Fatalf("silent=%v: QUAL %v", silent, d.res.Qualified)
		}
		if r := culprit(d.res.Disqualified, 2); !errors.Is(r, ErrBadAnswer) {
			t.Fatalf("silent=%v: dealer 2 not named for a bad answer: %v", silent, r)
		}
		if d.res.JointKey.Equal(d.committedKey(d.res.Qualified)) != 1 {
			t.Fatal("joint key is not the product over QUAL")
		}
		checkKeyWorks(t, d)
	}
}

func TestTooManyComplaints(t *testing.T) {
	// Trustees 3, 4, 5 complain (falsely) about dealer 1: t = 3
	// complaints would reveal t shares, so dealer 1 is disqualified even
	// though it answers every complaint correctly.
	d := newDKG(t, Params{N: 5, T: 3}, "too many")
	err := d.run(hooks{complain: func(j int, cs []*Complaint) []*Complaint {
		if j >= 3 {
			cs = append(cs, &Complaint{BaseHash: d.base, Complainer: j, Accused: 1})
		}
		return cs
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := culprit(d.res.Disqualified, 1); !errors.Is(r, ErrTooManyComplaints) {
		t.Fatalf("dealer 1: %v", r)
	}
	checkKeyWorks(t, d)

	// Two false complaints are answered publicly and dismissed.
	d = newDKG(t, Params{N: 5, T: 3}, "two complaints")
	err = d.run(hooks{complain: func(j int, cs []*Complaint) []*Complaint {
		if j >= 4 {
			cs = append(cs, &Complaint{BaseHash: d.base, Complainer: j, Accused: 1}, &Complaint{BaseHash: d.base, Complainer: j, Accused: 1})
		}
		return cs
	}})
	if err != nil || len(d.res.Qualified) != 5 || len(d.tr.Answers) != 2 {
		t.Fatalf("false complaints: %v, QUAL %v, %d answers", err, d.res.Qualified, len(d.tr.Answers))
	}
	checkKeyWorks(t, d)
}

func TestMissingAndEquivocatingDealers(t *testing.T) {
	d := newDKG(t, Params{N: 5, T: 3}, "missing")
	var second *Commitments
	err := d.run(hooks{deal: func(i int, c *Commitments, e *EncryptedShares) (*Commitments, *EncryptedShares) {
		switch i {
		case 1:
			return c, nil // no encrypted shares
		case 2:
			c2 := *c
			c2.C = slices.Clone(c.C)
			c2.C[1] = new(group.Element).Add(c.C[1], group.NewGeneratorElement())
			second = &c2
			return c, e
		case 3:
			e.Shares = e.Shares[:len(e.Shares)-1] // one recipient left out
		}
		return c, e
	}, complain: func(j int, cs []*Complaint) []*Complaint {
		if j == 5 && second != nil {
			// Dealer 2's second, different commitments reach the board.
			d.tr.Commitments = append(d.tr.Commitments, second)
			second = nil
		}
		return cs
	}})
	if !errors.Is(err, ErrTooFewQualified) {
		t.Fatalf("want too few qualified with 3 of 5 disqualified and t=3... got %v", err)
	}
	_, disq, _ := ComputeQualified(d.tr)
	for i, want := range map[int]error{1: ErrMissingMessage, 2: ErrEquivocation, 3: ErrInvalidMessage} {
		if r := culprit(disq, i); !errors.Is(r, want) {
			t.Errorf("dealer %d: %v, want %v", i, r, want)
		}
	}
}

func TestExtractionCheating(t *testing.T) {
	cases := map[string]func(e *ExtractionCommitments) *ExtractionCommitments{
		"silent": func(e *ExtractionCommitments) *ExtractionCommitments { return nil },
		"inconsistent A_i1": func(e *ExtractionCommitments) *ExtractionCommitments {
			e.A[1] = new(group.Element).Add(e.A[1], group.NewGeneratorElement())
			return e
		},
		"bad proof": func(e *ExtractionCommitments) *ExtractionCommitments {
			e.Proof.Z.Add(&e.Proof.Z, new(group.Scalar).SetUint64(1))
			return e
		},
		"bad consistency proof": func(e *ExtractionCommitments) *ExtractionCommitments {
			e.Consistency.Z.Add(&e.Consistency.Z, new(group.Scalar).SetUint64(1))
			return e
		},
	}
	for name, cheat := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDKG(t, Params{N: 5, T: 3}, "extraction")
			err := d.run(hooks{extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
				if i == 4 {
					return cheat(e)
				}
				return e
			}})
			if err != nil {
				t.Fatal(err)
			}
			if len(d.res.Reconstructed) != 1 || d.res.Reconstructed[0].Trustee != 4 {
				t.Fatalf("reconstructed: %v", d.res.Reconstructed)
			}
			if !slices.Equal(d.res.Qualified, []int{1, 2, 3, 4, 5}) {
				t.Fatalf("QUAL %v", d.res.Qualified)
			}
			if d.res.JointKey.Equal(d.committedKey(d.res.Qualified)) != 1 {
				t.Fatal("joint key differs from the committed secrets")
			}
			checkKeyWorks(t, d)
		})
	}
}

// TestLastDealerCannotBias: whatever the last dealer does once QUAL is
// fixed (honest, silent, publishing a key of its choice with a valid proof
// for a fresh secret), the joint key is g^{Σ a_i0} of the polynomials
// committed in phase 1, before any g^{a_i0} was visible. So a dealer that
// waits to see the others cannot steer the key (GJKR 1999).
func TestLastDealerCannotBias(t *testing.T) {
	var keys []*group.Element
	target := new(group.Scalar).SetUint64(42)
	for _, behaviour := range []string{"honest", "silent", "chosen key"} {
		d := newDKG(t, Params{N: 5, T: 3}, "bias")
		err := d.run(hooks{extract: func(i int, e *ExtractionCommitments) *ExtractionCommitments {
			if i != 5 {
				return e
			}
			switch behaviour {
			case "silent":
				return nil
			case "chosen key":
				// A fresh polynomial of the dealer's choosing, with
				// a valid proof of knowledge, inconsistent with
				// the shares it dealt.
				as := make([]*group.Element, len(e.A))
				for k := range as {
					as[k] = new(group.Element).ScalarBaseMult(target)
				}
				pr, err := zkp.ProveSchnorr(extractionContext(d.base, 5), group.NewGeneratorElement(), as[0], target, nil, testrand.New("x"))
				if err != nil {
					t.Fatal(err)
				}
				return &ExtractionCommitments{BaseHash: d.base, Dealer: 5, A: as, Proof: pr, Consistency: e.Consistency}
			}
			return e
		}})
		if err != nil {
			t.Fatalf("%s: %v", behaviour, err)
		}
		if d.res.JointKey.Equal(d.committedKey([]int{1, 2, 3, 4, 5})) != 1 {
			t.Fatalf("%s: joint key is not the committed one", behaviour)
		}
		keys = append(keys, d.res.JointKey)
	}
	for _, k := range keys[1:] {
		if k.Equal(keys[0]) != 1 {
			t.Fatal("the last dealer changed the joint key")
		}
	}
}

func TestFalseExtractionComplaintIgnored(t *testing.T) {
	d := newDKG(t, Params{N: 5, T: 3}, "false extraction complaint")
	if err := d.run(hooks{}); err != nil {
		t.Fatal(err)
	}
	// Trustee 3 claims dealer 1 cheated, with a share that does not match
	// C_1 (so the complaint proves nothing) and then with its true share
	// (which matches A_1, so it proves nothing either).
	s := d.trustees[2].got[1]
	wrong := new(group.Scalar).Add(s[0], new(group.Scalar).SetUint64(1))
	d.tr.ExtractionComplaints = append(d.tr.ExtractionComplaints,
		&ExtractionComplaint{BaseHash: d.base, Complainer: 3, Accused: 1, S: wrong, S2: s[1]},
		&ExtractionComplaint{BaseHash: d.base, Complainer: 3, Accused: 1, S: s[0], S2: s[1]})
	res, err := VerifyTranscript(d.tr)
	if err != nil || len(res.Reconstructed) != 0 || res.JointKey.Equal(d.res.JointKey) != 1 {
		t.Fatalf("false complaint changed the outcome: %v %v", err, res)
	}
}

func TestQualifiedMustMatch(t *testing.T) {
	d := newDKG(t, Params{N: 5, T: 3}, "qual")
	if err := d.run(hooks{}); err != nil {
		t.Fatal(err)
	}
	d.tr.Qualified = &Qualified{BaseHash: d.base, Dealers: []int{1, 2, 3, 4}}
	if _, err := VerifyTranscript(d.tr); !errors.Is(err, ErrQualifiedMismatch) {
		t.Fatalf("wrong QUAL accepted: %v", err)
	}
	d.tr.Qualified = nil
	if _, err := VerifyTranscript(d.tr); !errors.Is(err, ErrQualifiedMismatch) {
		t.Fatalf("missing QUAL accepted: %v", err)
	}
}

func TestMovedShareCiphertext(t *testing.T) {
	d := newDKG(t, Params{N: 3, T: 2}, "moved")
	s, s2 := new(group.Scalar).SetUint64(7), new(group.Scalar).SetUint64(9)
	enc, ct, err := sealShare(nil, d.keys[1].Public(), d.base, 1, 2, s, s2)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := openShare(d.keys[1], d.base, 1, 2, enc[:], ct[:]); err != nil || got.Equal(s) != 1 {
		t.Fatalf("honest share does not open: %v", err)
	}
	other := d.base
	other[0] ^= 1
	for name, err := range map[string]error{
		"other recipient key": second(openShare(d.keys[2], d.base, 1, 2, enc[:], ct[:])),
		"other recipient":     second(openShare(d.keys[1], d.base, 1, 3, enc[:], ct[:])),
		"other dealer":        second(openShare(d.keys[1], d.base, 3, 2, enc[:], ct[:])),
		"other election":      second(openShare(d.keys[1], other, 1, 2, enc[:], ct[:])),
	} {
		if !errors.Is(err, ErrShareDecryption) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A dealer's ciphertext for trustee 2 placed in trustee 3's slot
	// makes trustee 3 complain.
	_ = d.run(hooks{deal: func(i int, c *Commitments, e *EncryptedShares) (*Commitments, *EncryptedShares) {
		if i == 1 {
			e.Shares[1].Enc, e.Shares[1].Ciphertext = e.Shares[0].Enc, e.Shares[0].Ciphertext
		}
		return c, e
	}})
	if len(d.tr.Complaints) != 1 || d.tr.Complaints[0].Complainer != 3 || d.tr.Complaints[0].Accused != 1 {
		t.Fatalf("complaints: %+v", d.tr.Complaints)
	}
}

func second(_, _ *group.Scalar, err error) error { return err }

func TestSmallOrderHPKEKeyRefused(t *testing.T) {
	k, err := GenerateHPKEKey(testrand.New("hpke"))
	if err != nil {
		t.Fatal(err)
	}
	good := k.Public()
	if err := good.Validate(); err != nil {
		t.Fatalf("honest key refused: %v", err)
	}
	var zero, one HPKEPublicKey
	one[0] = 1
	p := Params{N: 2, T: 1}
	for _, bad := range []HPKEPublicKey{zero, one} {
		if err := bad.Validate(); !errors.Is(err, ErrHPKEKey) {
			t.Errorf("%x accepted: %v", bad, err)
		}
		if _, err := BaseHash([32]byte{}, p, []TrusteeKeys{{HPKEKey: good}, {HPKEKey: bad}}); !errors.Is(err, ErrHPKEKey) {
			t.Errorf("base hash over %x: %v", bad, err)
		}
		if _, err := NewTrustee(p, [32]byte{}, 1, k, []HPKEPublicKey{good, bad}, nil); !errors.Is(err, ErrHPKEKey) {
			t.Errorf("trustee with peer %x: %v", bad, err)
		}
	}
}

func TestNilMessagesIgnored(t *testing.T) {
	d := newDKG(t, Params{N: 3, T: 2}, "nil")
	if err := d.run(hooks{}); err != nil {
		t.Fatal(err)
	}
	tr := *d.tr
	tr.Commitments = append(slices.Clone(tr.Commitments), nil)
	tr.Extraction = append(slices.Clone(tr.Extraction), nil)
	tr.Complaints = []*Complaint{nil}
	tr.Reveals = []*ExtractionReveal{nil}
	res, err := VerifyTranscript(&tr)
	if err != nil || res.JointKey.Equal(d.res.JointKey) != 1 {
		t.Fatalf("nil entries changed the outcome: %v", err)
	}
	if _, err := VerifyTranscript(nil); err == nil {
		t.Fatal("nil transcript accepted")
	}
	if err := VerifyDecryptionShare(testExt, d.res.VerificationKeys, nil, nil); !errors.Is(err, ErrInvalidShare) {
		t.Fatalf("nil share: %v", err)
	}
}

func TestTrusteeRefusesWrongQualified(t *testing.T) {
	d := newDKG(t, Params{N: 3, T: 2}, "trustee qual")
	for _, x := range d.trustees {
		c, e, _ := x.Deal()
		d.tr.Commitments, d.tr.EncryptedShares = append(d.tr.Commitments, c), append(d.tr.EncryptedShares, e)
	}
	for _, x := range d.trustees {
		if _, err := x.Complain(d.tr); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.trustees[0].Extract(d.tr); !errors.Is(err, ErrQualifiedMismatch) {
		t.Fatalf("no Qualified message: %v", err)
	}
	d.tr.Qualified = &Qualified{BaseHash: d.base, Dealers: []int{1, 2}}
	if _, err := d.trustees[0].Extract(d.tr); !errors.Is(err, ErrQualifiedMismatch) {
		t.Fatalf("wrong Qualified message: %v", err)
	}
}

// TestTrapdoorGeneratorRejected: a dealer who commits with its own second
// generator H' = g^τ (whose discrete log it knows, so it could open its
// commitments to anything: the Swiss Post 2019 trapdoor,
// ../shared/SECURITY.md #3) is disqualified, because everyone checks
// shares against the H recomputed from the public seed.
func TestTrapdoorGeneratorRejected(t *testing.T) {
	d := newDKG(t, Params{N: 5, T: 3}, "trapdoor")
	tau := new(group.Scalar).SetUint64(1234567)
	hPrime := new(group.Element).ScalarBaseMult(tau)
	err := d.run(hooks{deal: func(i int, c *Commitments, e *EncryptedShares) (*Commitments, *EncryptedShares) {
		if i == 3 {
			tr := d.trustees[2]
			for k := range c.C {
				var a, b group.Element
				a.ScalarBaseMult(&tr.a[k])
				b.ScalarMult(&tr.b[k], hPrime)
				c.C[k] = new(group.Element).Add(&a, &b)
			}
		}
		return c, e
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := culprit(d.res.Disqualified, 3); !errors.Is(r, ErrTooManyComplaints) {
		t.Fatalf("dealer 3 with a trapdoor generator: %v", r)
	}
	checkKeyWorks(t, d)
}

// TestComplainWithTooFewDealers: Complain reports computePhase1's errors
// (it once dropped them) except too few qualified dealers, which is for the
// qualification step to declare: the trustee still checks, and complains
// about, the shares of the dealers that did post valid messages.
func TestComplainWithTooFewDealers(t *testing.T) {
	d := newDKG(t, Params{N: 3, T: 2}, "complain-few")
	bad := badShareTo(d, 1, 2)
	for _, tr := range d.trustees {
		c, e, err := tr.Deal()
		if err != nil {
			t.Fatal(err)
		}
		if tr.Index() == 1 { // only dealer 1 posts, with a bad share for 2
			c, e = bad(1, c, e)
			d.tr.Commitments = append(d.tr.Commitments, c)
			d.tr.EncryptedShares = append(d.tr.EncryptedShares, e)
		}
	}
	if _, err := computePhase1(d.tr); !errors.Is(err, ErrTooFewQualified) {
		t.Fatalf("computePhase1: %v, want ErrTooFewQualified", err)
	}
	cs, err := d.trustees[1].Complain(d.tr)
	if err != nil {
		t.Fatalf("Complain with too few dealers: %v", err)
	}
	if len(cs) != 1 || cs[0].Accused != 1 || cs[0].Complainer != 2 {
		t.Fatalf("Complain returned %+v, want one complaint by 2 against 1", cs)
	}
	if cs, err := d.trustees[2].Complain(d.tr); err != nil || len(cs) != 0 {
		t.Fatalf("trustee 3: %v, %v; want no complaint", cs, err)
	}
	if _, err := d.trustees[1].Complain(nil); !errors.Is(err, ErrParams) {
		t.Fatalf("Complain(nil): %v, want ErrParams", err)
	}
}
