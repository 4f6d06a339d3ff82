package threshold

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"evote/crypto/group"
	"evote/crypto/zkp"
)

// ErrNotQualified is returned to a trustee whose own sharing was
// disqualified: it cannot take part in the extraction phase.
var ErrNotQualified = errors.New("threshold: this trustee was disqualified")

// A Trustee runs one trustee's side of key generation (spec §5.4-§5.8).
// Each method is one round: it reads the public messages posted so far (a
// Transcript) and returns the messages to post. The rounds are, in order:
// Deal, Complain, Answer, Extract, ComplainExtraction, Reveal, Finish.
// A Trustee is not safe for concurrent use.
type Trustee struct {
	p     Params
	base  [32]byte
	index int
	key   *HPKEPrivateKey
	peers []HPKEPublicKey
	rand  io.Reader

	a, b    []group.Scalar // secret polynomials a_i(z), b_i(z)
	commits []*group.Element
	// got[i] = (s_ij, s'_ij) received from dealer i and verified against
	// C_i (including our own share).
	got map[int][2]*group.Scalar
}

// NewTrustee prepares trustee index (1-based) of an election with base
// hash base. peers[j-1] is trustee j's HPKE public key (the one bound into
// the base hash); key is this trustee's HPKE private key. rand is
// crypto/rand when nil.
func NewTrustee(p Params, base [32]byte, index int, key *HPKEPrivateKey, peers []HPKEPublicKey, rand io.Reader) (*Trustee, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if !p.validIndex(index) || len(peers) != p.N {
		return nil, fmt.Errorf("%w: index %d, %d peer keys", ErrParams, index, len(peers))
	}
	for j, k := range peers {
		if err := k.Validate(); err != nil {
			return nil, fmt.Errorf("trustee %d: %w", j+1, err)
		}
	}
	if key.Public() != peers[index-1] {
		return nil, fmt.Errorf("%w: own hpke key does not match peers[%d]", ErrParams, index-1)
	}
	return &Trustee{p: p, base: base, index: index, key: key, peers: peers, rand: randOrDefault(rand), got: map[int][2]*group.Scalar{}}, nil
}

// Index returns the trustee's 1-based index.
func (t *Trustee) Index() int { return t.index }

// Params returns the election's threshold parameters the trustee runs with.
func (t *Trustee) Params() Params { return t.p }

// BaseHash returns the base hash the trustee's messages are bound to.
func (t *Trustee) BaseHash() [32]byte { return t.base }

// Dealing returns again what Deal returned, for a trustee restored from a
// state saved after Deal whose messages did not all reach the board: the
// commitments (equal to Deal's) and the shares of the same polynomials,
// encrypted afresh to every other trustee (the HPKE encryptions are
// randomized, so the ciphertexts differ from Deal's; each opens to the
// same share). It fails before Deal.
func (t *Trustee) Dealing() (*Commitments, *EncryptedShares, error) {
	if t.a == nil {
		return nil, nil, fmt.Errorf("threshold: Dealing before Deal")
	}
	es := &EncryptedShares{BaseHash: t.base, Dealer: t.index}
	for j := 1; j <= t.p.N; j++ {
		if j == t.index {
			continue
		}
		enc, ct, err := sealShare(t.rand, t.peers[j-1], t.base, t.index, j, evalPoly(t.a, j), evalPoly(t.b, j))
		if err != nil {
			return nil, nil, err
		}
		es.Shares = append(es.Shares, EncryptedShare{Recipient: j, Enc: enc, Ciphertext: ct})
	}
	return &Commitments{BaseHash: t.base, Dealer: t.index, C: slices.Clone(t.commits)}, es, nil
}

// Deal draws the two secret polynomials and returns the Pedersen
// commitments and the shares encrypted to every other trustee.
func (t *Trustee) Deal() (*Commitments, *EncryptedShares, error) {
	if t.a != nil {
		return nil, nil, fmt.Errorf("threshold: Deal called twice")
	}
	a := make([]group.Scalar, t.p.T)
	b := make([]group.Scalar, t.p.T)
	cs := make([]*group.Element, t.p.T)
	for k := range a {
		if _, err := a[k].SetRandom(t.rand); err != nil {
			return nil, nil, fmt.Errorf("threshold: %w", err)
		}
		if _, err := b[k].SetRandom(t.rand); err != nil {
			return nil, nil, fmt.Errorf("threshold: %w", err)
		}
		cs[k] = pedersenCommit(&a[k], &b[k])
	}
	es := &EncryptedShares{BaseHash: t.base, Dealer: t.index}
	for j := 1; j <= t.p.N; j++ {
		s, s2 := evalPoly(a, j), evalPoly(b, j)
		if j == t.index {
			t.got[j] = [2]*group.Scalar{s, s2}
			continue
		}
		enc, ct, err := sealShare(t.rand, t.peers[j-1], t.base, t.index, j, s, s2)
		if err != nil {
			return nil, nil, err
		}
		es.Shares = append(es.Shares, EncryptedShare{Recipient: j, Enc: enc, Ciphertext: ct})
	}
	t.a, t.b, t.commits = a, b, cs
	return &Commitments{BaseHash: t.base, Dealer: t.index, C: cs}, es, nil
}

// Complain opens and checks the share each other dealer sent this trustee
// and returns a complaint against each dealer whose share is missing, does
// not open, or does not match its commitments. Dealers whose public
// messages are themselves invalid are disqualified by everyone without a
// complaint.
func (t *Trustee) Complain(tr *Transcript) ([]*Complaint, error) {
	if t.a == nil {
		return nil, fmt.Errorf("threshold: Complain before Deal")
	}
	if tr == nil {
		return nil, fmt.Errorf("%w: no transcript", ErrParams)
	}
	// Only the dealers' own messages count here (no complaints yet): too
	// few valid dealers is for the qualification step to declare, and this
	// trustee still checks the shares of those that are valid.
	ph, err := computePhase1(&Transcript{Params: t.p, BaseHash: t.base, Commitments: tr.Commitments, EncryptedShares: tr.EncryptedShares})
	if err != nil && !errors.Is(err, ErrTooFewQualified) {
		return nil, err
	}
	var out []*Complaint
	for i := 1; i <= t.p.N; i++ {
		cs, ok := ph.commits[i]
		if i == t.index || !ok {
			continue
		}
		if s, s2, err := t.openFrom(i, cs, ph.shares[i]); err == nil {
			t.got[i] = [2]*group.Scalar{s, s2}
			continue
		}
		out = append(out, &Complaint{BaseHash: t.base, Complainer: t.index, Accused: i})
	}
	return out, nil
}

func (t *Trustee) openFrom(i int, cs []*group.Element, es *EncryptedShares) (*group.Scalar, *group.Scalar, error) {
	for _, e := range es.Shares {
		if e.Recipient != t.index {
			continue
		}
		s, s2, err := openShare(t.key, t.base, i, t.index, e.Enc[:], e.Ciphertext[:])
		if err != nil {
			return nil, nil, err
		}
		if !checkPedersenShare(cs, t.index, s, s2) {
			return nil, nil, fmt.Errorf("threshold: share from dealer %d does not match its commitments", i)
		}
		return s, s2, nil
	}
	return nil, nil, ErrMissingMessage
}

// Answer returns a public answer, revealing the disputed share, to each
// complaint against this trustee.
func (t *Trustee) Answer(tr *Transcript) []*ComplaintAnswer {
	var out []*ComplaintAnswer
	if tr == nil || t.a == nil {
		return nil
	}
	done := map[int]bool{}
	for _, c := range tr.Complaints {
		if c == nil {
			continue
		}
		j := c.Complainer
		if c.Accused != t.index || c.BaseHash != t.base || !t.p.validIndex(j) || j == t.index || done[j] {
			continue
		}
		done[j] = true
		out = append(out, &ComplaintAnswer{BaseHash: t.base, Dealer: t.index, Complainer: j, S: evalPoly(t.a, j), S2: evalPoly(t.b, j)})
	}
	return out
}

// Extract computes QUAL from the phase-1 messages, checks it against the
// published Qualified message, adopts the publicly
// answered shares for this trustee's complaints, and returns the
// extraction commitments A_ik = g^{a_ik} with a proof of knowledge of a_i0
// and the proof that they match the commitments C_ik (spec §5.6).
// Only now, with QUAL fixed, does any dealer reveal g^{a_i0}.
func (t *Trustee) Extract(tr *Transcript) (*ExtractionCommitments, error) {
	ph, err := computePhase1(tr)
	if err != nil {
		return nil, err
	}
	if tr.Qualified == nil || tr.Qualified.BaseHash != t.base || !slices.Equal(tr.Qualified.Dealers, ph.qual) {
		return nil, fmt.Errorf("%w: computed %v", ErrQualifiedMismatch, ph.qual)
	}
	if err := t.adopt(ph); err != nil {
		return nil, err
	}
	if !slices.Contains(ph.qual, t.index) {
		return nil, ErrNotQualified
	}
	gt := group.GeneratorTable()
	as := make([]*group.Element, t.p.T)
	for k := range as {
		as[k] = new(group.Element).ScalarMultFixed(&t.a[k], gt)
	}
	proof, err := zkp.ProveSchnorr(extractionContext(t.base, t.index), group.NewGeneratorElement(), as[0], &t.a[0], gt, t.rand)
	if err != nil {
		return nil, err
	}
	// The consistency proof is over the commitments as the board holds
	// them, which must be ours.
	cs := ph.commits[t.index]
	if !slices.EqualFunc(cs, t.commits, func(x, y *group.Element) bool { return x.Equal(y) == 1 }) {
		return nil, fmt.Errorf("threshold: own commitments on the board differ from this trustee's polynomials")
	}
	consistency, err := proveConsistency(t.base, t.index, cs, as, t.b, t.rand)
	if err != nil {
		return nil, err
	}
	return &ExtractionCommitments{BaseHash: t.base, Dealer: t.index, A: as, Proof: proof, Consistency: consistency}, nil
}

// adopt takes the publicly answered shares for our complaints and checks
// that we now hold a verified share from every qualified dealer.
func (t *Trustee) adopt(ph *phase1) error {
	for _, i := range ph.qual {
		if a, ok := ph.answers[i][t.index]; ok {
			t.got[i] = a
		}
		if _, ok := t.got[i]; !ok {
			return fmt.Errorf("threshold: no verified share from qualified dealer %d (complain first)", i)
		}
	}
	return nil
}

// ComplainExtraction checks the share of each qualified dealer against its
// extraction commitments g^{s_ij} = Π_k A_ik^{j^k} and returns a complaint,
// revealing the share, against each that fails.
func (t *Trustee) ComplainExtraction(tr *Transcript) ([]*ExtractionComplaint, error) {
	ph, err := computePhase1(tr)
	if err != nil {
		return nil, err
	}
	if err := t.adopt(ph); err != nil {
		return nil, err
	}
	var out []*ExtractionComplaint
	for _, i := range ph.qual {
		if i == t.index {
			continue
		}
		s := t.got[i]
		var bad bool
		var found *ExtractionCommitments
		for _, e := range tr.Extraction {
			if e == nil {
				continue
			}
			if e.Dealer == i {
				found = e
				break
			}
		}
		bad = found == nil || len(found.A) != t.p.T || !checkFeldmanShare(found.A, t.index, s[0])
		if bad {
			out = append(out, &ExtractionComplaint{BaseHash: t.base, Complainer: t.index, Accused: i, S: s[0], S2: s[1]})
		}
	}
	return out, nil
}

// Reveal returns this trustee's shares of every qualified dealer whose
// secret must be reconstructed in public (spec §5.7).
func (t *Trustee) Reveal(tr *Transcript) ([]*ExtractionReveal, error) {
	ph, err := computePhase1(tr)
	if err != nil {
		return nil, err
	}
	if err := t.adopt(ph); err != nil {
		return nil, err
	}
	_, needed := extractionFailures(tr, ph)
	var out []*ExtractionReveal
	for _, c := range needed {
		if c.Trustee == t.index {
			continue
		}
		s := t.got[c.Trustee]
		out = append(out, &ExtractionReveal{BaseHash: t.base, Revealer: t.index, Dealer: c.Trustee, S: s[0], S2: s[1]})
	}
	return out, nil
}

// Finish verifies the whole transcript and returns this trustee's key
// share x_j = Σ_{i∈QUAL} s_ij, checked against its verification key.
func (t *Trustee) Finish(tr *Transcript) (*KeyShare, *Result, error) {
	res, err := VerifyTranscript(tr)
	if err != nil {
		return nil, nil, err
	}
	ph, err := computePhase1(tr)
	if err != nil {
		return nil, nil, err
	}
	if err := t.adopt(ph); err != nil {
		return nil, nil, err
	}
	x := group.NewScalar()
	for _, i := range res.Qualified {
		x.Add(x, t.got[i][0])
	}
	ks := &KeyShare{Index: t.index}
	ks.x.Set(x)
	ks.vk.Set(res.VerificationKeys[t.index-1])
	if new(group.Element).ScalarMultFixed(x, group.GeneratorTable()).Equal(&ks.vk) != 1 {
		return nil, nil, fmt.Errorf("threshold: own key share does not match verification key")
	}
	return ks, res, nil
}
