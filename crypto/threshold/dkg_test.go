package threshold

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/testrand"
)

// hooks let a test make one trustee misbehave at one step. Each returns
// the messages to post instead of the honest ones.
type hooks struct {
	deal     func(i int, c *Commitments, e *EncryptedShares) (*Commitments, *EncryptedShares)
	answer   func(i int, as []*ComplaintAnswer) []*ComplaintAnswer
	extract  func(i int, e *ExtractionCommitments) *ExtractionCommitments
	complain func(j int, cs []*Complaint) []*Complaint
	// complainExtraction replaces trustee j's extraction complaints.
	complainExtraction func(j int, cs []*ExtractionComplaint) []*ExtractionComplaint
	keepReveal         func(j int) bool
}

// dkg runs the protocol among in-memory trustees; every message crosses
// the "board" as bytes, re-parsed and re-encoded.
type dkg struct {
	t        testing.TB
	p        Params
	base     [32]byte
	keys     []*HPKEPrivateKey
	seeds    [][]byte // HPKE key seeds
	manifest [32]byte
	signing  [][32]byte
	trustees []*Trustee
	tr       *Transcript
	shares   []*KeyShare
	res      *Result
}

func roundTrip[M interface{ Bytes() []byte }](t testing.TB, m M, parse func([]byte) (M, error)) M {
	t.Helper()
	b := m.Bytes()
	out, err := parse(b)
	if err != nil {
		t.Fatalf("%T does not re-parse: %v", m, err)
	}
	if !bytes.Equal(out.Bytes(), b) {
		t.Fatalf("%T does not re-encode identically", m)
	}
	return out
}

func newDKG(t testing.TB, p Params, seed string) *dkg {
	t.Helper()
	rnd := testrand.New(seed)
	d := &dkg{t: t, p: p}
	peers := make([]HPKEPublicKey, p.N)
	tk := make([]TrusteeKeys, p.N)
	for i := range p.N {
		seed := make([]byte, 32)
		rnd.Read(seed)
		k, err := NewHPKEPrivateKey(seed)
		if err != nil {
			t.Fatal(err)
		}
		d.keys = append(d.keys, k)
		d.seeds = append(d.seeds, seed)
		peers[i] = k.Public()
		tk[i].HPKEKey = k.Public()
		tk[i].SigningKey[0] = byte(i + 1) // stands in for an Ed25519 key
		d.signing = append(d.signing, tk[i].SigningKey)
	}
	copy(d.manifest[:], "test manifest hash")
	base, err := BaseHash(d.manifest, p, tk)
	if err != nil {
		t.Fatal(err)
	}
	d.base = base
	d.tr = &Transcript{Params: p, BaseHash: base}
	for i := range p.N {
		tr, err := NewTrustee(p, base, i+1, d.keys[i], peers, rnd)
		if err != nil {
			t.Fatal(err)
		}
		d.trustees = append(d.trustees, tr)
	}
	return d
}

// run executes every round with the given misbehaviour and returns the
// transcript verification error, if any.
func (d *dkg) run(h hooks) error {
	t := d.t
	t.Helper()
	for _, tr := range d.trustees {
		c, e, err := tr.Deal()
		if err != nil {
			t.Fatal(err)
		}
		if h.deal != nil {
			c, e = h.deal(tr.Index(), c, e)
		}
		if c != nil {
			d.tr.Commitments = append(d.tr.Commitments, roundTrip(t, c, ParseCommitments))
		}
		if e != nil {
			d.tr.EncryptedShares = append(d.tr.EncryptedShares, roundTrip(t, e, ParseEncryptedShares))
		}
	}
	for _, tr := range d.trustees {
		cs, err := tr.Complain(d.tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.complain != nil {
			cs = h.complain(tr.Index(), cs)
		}
		for _, c := range cs {
			d.tr.Complaints = append(d.tr.Complaints, roundTrip(t, c, ParseComplaint))
		}
	}
	for _, tr := range d.trustees {
		as := tr.Answer(d.tr)
		if h.answer != nil {
			as = h.answer(tr.Index(), as)
		}
		for _, a := range as {
			d.tr.Answers = append(d.tr.Answers, roundTrip(t, a, ParseComplaintAnswer))
		}
	}
	q, _, err := ComputeQualified(d.tr)
	if err != nil {
		return err
	}
	d.tr.Qualified = roundTrip(t, q, ParseQualified)
	for _, tr := range d.trustees {
		e, err := tr.Extract(d.tr)
		if errors.Is(err, ErrNotQualified) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.extract != nil {
			e = h.extract(tr.Index(), e)
		}
		if e != nil {
			d.tr.Extraction = append(d.tr.Extraction, roundTrip(t, e, ParseExtractionCommitments))
		}
	}
	for _, tr := range d.trustees {
		cs, err := tr.ComplainExtraction(d.tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.complainExtraction != nil {
			cs = h.complainExtraction(tr.Index(), cs)
		}
		for _, c := range cs {
			d.tr.ExtractionComplaints = append(d.tr.ExtractionComplaints, roundTrip(t, c, ParseExtractionComplaint))
		}
	}
	for _, tr := range d.trustees {
		if h.keepReveal != nil && !h.keepReveal(tr.Index()) {
			continue
		}
		rs, err := tr.Reveal(d.tr)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			d.tr.Reveals = append(d.tr.Reveals, roundTrip(t, r, ParseExtractionReveal))
		}
	}
	d.shares = nil
	for _, tr := range d.trustees {
		ks, res, err := tr.Finish(d.tr)
		if err != nil {
			return err
		}
		d.shares = append(d.shares, ks)
		if d.res != nil && d.res.JointKey.Equal(res.JointKey) != 1 {
			t.Fatal("trustees disagree on the joint key")
		}
		d.res = res
	}
	res, err := VerifyTranscript(d.tr)
	if err != nil {
		return err
	}
	if res.JointKey.Equal(d.res.JointKey) != 1 {
		t.Fatal("auditor and trustees disagree on the joint key")
	}
	return nil
}

// committedKey is g^{Σ_{i∈QUAL} a_i0} from the polynomials the dealers
// committed to in phase 1 (test-only knowledge).
func (d *dkg) committedKey(qual []int) *group.Element {
	x := group.NewScalar()
	for _, i := range qual {
		x.Add(x, &d.trustees[i-1].a[0])
	}
	return new(group.Element).ScalarBaseMult(x)
}

// subsets returns every k-subset of 1..n.
func subsets(n, k int) [][]int {
	var out [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			out = append(out, slices.Clone(cur))
			return
		}
		for i := start; i <= n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(1, nil)
	return out
}

// encryptTestVotes encrypts 0..count-1 (times 3) under the joint key.
func encryptTestVotes(t testing.TB, h *group.Element, count int, rnd io.Reader) ([]*elgamal.Ciphertext, []uint64) {
	pk, err := elgamal.NewPublicKey(h)
	if err != nil {
		t.Fatal(err)
	}
	var cts []*elgamal.Ciphertext
	var ms []uint64
	for m := range count {
		c, _, err := pk.Encrypt(uint64(3*m), rnd)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, c)
		ms = append(ms, uint64(3*m))
	}
	return cts, ms
}

var testExt = [32]byte{'e', 'x', 't'}

func (d *dkg) decryptWith(t testing.TB, subset []int, cts []*elgamal.Ciphertext, rnd io.Reader) []*DecryptionShare {
	var out []*DecryptionShare
	for _, j := range subset {
		s, err := d.shares[j-1].DecryptShares(testExt, cts, rnd)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, roundTrip(t, s, ParseDecryptionShare))
	}
	return out
}

func TestDKGHappyPath(t *testing.T) {
	p := Params{N: 5, T: 3}
	d := newDKG(t, p, "happy")
	if err := d.run(hooks{}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.res.Qualified, []int{1, 2, 3, 4, 5}) || len(d.res.Disqualified) != 0 || len(d.res.Reconstructed) != 0 {
		t.Fatalf("unexpected result: %+v", d.res)
	}
	if d.res.JointKey.Equal(d.committedKey(d.res.Qualified)) != 1 {
		t.Fatal("joint key is not the product of the committed secrets")
	}
	rnd := testrand.New("happy votes")
	cts, ms := encryptTestVotes(t, d.res.JointKey, 4, rnd)
	table := elgamal.NewDLogTable(100)
	for _, sub := range subsets(p.N, p.T) {
		shares := d.decryptWith(t, sub, cts, rnd)
		got, bad, err := Decrypt(p, testExt, d.res.VerificationKeys, cts, shares, table)
		if err != nil || len(bad) != 0 || !slices.Equal(got, ms) {
			t.Fatalf("subset %v: got %v (bad %v, err %v), want %v", sub, got, bad, err, ms)
		}
	}
	// Two trustees cannot decrypt: the API refuses, and Lagrange
	// interpolation through two points gives wrong plaintexts.
	for _, sub := range subsets(p.N, 2) {
		shares := d.decryptWith(t, sub, cts, rnd)
		if _, err := Combine(p, cts, shares); !errors.Is(err, ErrTooFewShares) {
			t.Fatalf("subset %v: Combine with 2 shares: %v", sub, err)
		}
		lambda, err := LagrangeAtZero(sub)
		if err != nil {
			t.Fatal(err)
		}
		for l, m := range combineWith(lambda, cts, shares) {
			want := new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(ms[l]))
			if m.Equal(want) == 1 {
				t.Fatalf("subset %v decrypted ciphertext %d", sub, l)
			}
		}
	}
}
