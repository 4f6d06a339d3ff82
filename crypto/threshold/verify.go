package threshold

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"evote/crypto/group"
)

// Reasons a dealer is disqualified (phase 1) or has its secret
// reconstructed in public (phase 2). A Culprit's Reason wraps one of them.
var (
	ErrMissingMessage     = errors.New("threshold: required message missing")
	ErrEquivocation       = errors.New("threshold: two different messages for one step")
	ErrInvalidMessage     = errors.New("threshold: message does not fit the election or parameters")
	ErrTooManyComplaints  = errors.New("threshold: t or more complaints")
	ErrBadAnswer          = errors.New("threshold: complaint not answered with a valid share")
	ErrBadExtraction      = errors.New("threshold: extraction commitments invalid")
	ErrExtractionCheating = errors.New("threshold: valid extraction complaint")

	// ErrTooFewQualified: fewer than t dealers qualified, so the key
	// might be known to a coalition of t-1 trustees.
	ErrTooFewQualified = errors.New("threshold: fewer than t qualified dealers")
	// ErrReconstruction: too few valid shares were revealed to
	// reconstruct a cheating dealer's secret.
	ErrReconstruction = errors.New("threshold: cannot reconstruct dealer secret")
	// ErrQualifiedMismatch: the published Qualified message is missing or
	// differs from the QUAL computed from the transcript.
	ErrQualifiedMismatch = errors.New("threshold: published QUAL differs from computed QUAL")
)

// A Culprit names a trustee and what it did.
type Culprit struct {
	Trustee int
	Reason  error
}

func (c Culprit) Error() string { return fmt.Sprintf("trustee %d: %v", c.Trustee, c.Reason) }

// A Transcript is the set of public key-generation messages of one election
// as read from the board, in board order. VerifyTranscript needs nothing
// else: no secret key, no private channel.
type Transcript struct {
	Params               Params
	BaseHash             [32]byte
	Commitments          []*Commitments
	EncryptedShares      []*EncryptedShares
	Complaints           []*Complaint
	Answers              []*ComplaintAnswer
	Qualified            *Qualified
	Extraction           []*ExtractionCommitments
	ExtractionComplaints []*ExtractionComplaint
	Reveals              []*ExtractionReveal
}

// A Result is what key generation established, as recomputed from the
// public transcript.
type Result struct {
	Qualified     []int     // QUAL, increasing
	Disqualified  []Culprit // phase-1 culprits, by increasing index
	Reconstructed []Culprit // qualified dealers whose secret was reconstructed in public
	JointKey      *group.Element
	// VerificationKeys[j-1] is h_j = g^{x_j}, trustee j's verification key.
	VerificationKeys []*group.Element
}

// phase1 holds what the phase-1 messages establish.
type phase1 struct {
	commits map[int][]*group.Element // valid Pedersen commitments by dealer
	shares  map[int]*EncryptedShares
	// answers[i][j] is dealer i's valid public share for complainer j.
	answers map[int]map[int][2]*group.Scalar
	qual    []int
	disq    []Culprit
}

// pick returns the unique message among msgs (all from one sender for one
// step): identical encodings count once, two different ones are
// equivocation, none is missing.
func pick[M interface{ Bytes() []byte }](msgs []M) (M, error) {
	var zero M
	if len(msgs) == 0 {
		return zero, ErrMissingMessage
	}
	first := msgs[0].Bytes()
	for _, m := range msgs[1:] {
		if !bytes.Equal(first, m.Bytes()) {
			return zero, ErrEquivocation
		}
	}
	return msgs[0], nil
}

// computePhase1 replays the phase-1 messages of tr (commitments, encrypted
// shares, complaints and their answers; spec §5.4, §5.5) and returns which
// dealers qualify, each disqualified one with its reason, and the valid
// commitments, encrypted shares and revealed shares of the qualified ones.
// Messages with an index out of range or another base hash are ignored;
// duplicates count once and two different messages from one dealer for one
// step disqualify it.
//
// The error wraps ErrParams for a missing transcript or invalid parameters
// (then the result is nil), or ErrTooFewQualified when fewer than t dealers
// qualify: then the result is still complete, so that callers can report
// the culprits or, like Trustee.Complain, act on the dealers that are valid.
func computePhase1(tr *Transcript) (*phase1, error) {
	if tr == nil {
		return nil, fmt.Errorf("%w: no transcript", ErrParams)
	}
	p := tr.Params
	if err := p.Validate(); err != nil {
		return nil, err
	}
	ph := &phase1{
		commits: map[int][]*group.Element{},
		shares:  map[int]*EncryptedShares{},
		answers: map[int]map[int][2]*group.Scalar{},
	}
	commitsBy := map[int][]*Commitments{}
	for _, m := range tr.Commitments {
		if m == nil {
			continue
		}
		if p.validIndex(m.Dealer) {
			commitsBy[m.Dealer] = append(commitsBy[m.Dealer], m)
		}
	}
	sharesBy := map[int][]*EncryptedShares{}
	for _, m := range tr.EncryptedShares {
		if m == nil {
			continue
		}
		if p.validIndex(m.Dealer) {
			sharesBy[m.Dealer] = append(sharesBy[m.Dealer], m)
		}
	}
	// complainers[i] = distinct valid complainers against i.
	complainers := map[int][]int{}
	for _, m := range tr.Complaints {
		if m == nil {
			continue
		}
		if m.BaseHash != tr.BaseHash || !p.validIndex(m.Complainer) || !p.validIndex(m.Accused) ||
			m.Complainer == m.Accused || slices.Contains(complainers[m.Accused], m.Complainer) {
			continue
		}
		complainers[m.Accused] = append(complainers[m.Accused], m.Complainer)
	}
	answersBy := map[[2]int][]*ComplaintAnswer{}
	for _, m := range tr.Answers {
		if m == nil {
			continue
		}
		if p.validIndex(m.Dealer) && p.validIndex(m.Complainer) {
			k := [2]int{m.Dealer, m.Complainer}
			answersBy[k] = append(answersBy[k], m)
		}
	}

	for i := 1; i <= p.N; i++ {
		reason := func() error {
			c, err := pick(commitsBy[i])
			if err != nil {
				return fmt.Errorf("%w: commitments", err)
			}
			if c.BaseHash != tr.BaseHash || len(c.C) != p.T {
				return fmt.Errorf("%w: commitments (%d, want %d, or other election)", ErrInvalidMessage, len(c.C), p.T)
			}
			s, err := pick(sharesBy[i])
			if err != nil {
				return fmt.Errorf("%w: encrypted shares", err)
			}
			if s.BaseHash != tr.BaseHash || len(s.Shares) != p.N-1 {
				return fmt.Errorf("%w: encrypted shares (%d, want %d, or other election)", ErrInvalidMessage, len(s.Shares), p.N-1)
			}
			for k, e := range s.Shares {
				want := k + 1
				if want >= i {
					want++
				}
				if e.Recipient != want {
					return fmt.Errorf("%w: encrypted share %d is for trustee %d, want %d", ErrInvalidMessage, k, e.Recipient, want)
				}
			}
			cs := complainers[i]
			if len(cs) >= p.T {
				return fmt.Errorf("%w: %d complaints (from %v)", ErrTooManyComplaints, len(cs), cs)
			}
			ans := map[int][2]*group.Scalar{}
			for _, j := range slices.Sorted(slices.Values(cs)) {
				a, err := pick(answersBy[[2]int{i, j}])
				if err != nil {
					return fmt.Errorf("%w: complaint by trustee %d: %w", ErrBadAnswer, j, err)
				}
				if a.BaseHash != tr.BaseHash || !checkPedersenShare(c.C, j, a.S, a.S2) {
					return fmt.Errorf("%w: share revealed for trustee %d does not match the commitments", ErrBadAnswer, j)
				}
				ans[j] = [2]*group.Scalar{a.S, a.S2}
			}
			ph.commits[i] = c.C
			ph.shares[i] = s
			ph.answers[i] = ans
			return nil
		}()
		if reason != nil {
			ph.disq = append(ph.disq, Culprit{Trustee: i, Reason: reason})
			delete(ph.commits, i)
			delete(ph.shares, i)
			delete(ph.answers, i)
			continue
		}
		ph.qual = append(ph.qual, i)
	}
	if len(ph.qual) < p.T {
		return ph, fmt.Errorf("%w: %d qualified, t=%d", ErrTooFewQualified, len(ph.qual), p.T)
	}
	return ph, nil
}

// ComputeQualified returns the Qualified message that the phase-1 messages
// of tr determine (spec §5.5), and the disqualified dealers with reasons.
// Everyone computes the same from the same board.
func ComputeQualified(tr *Transcript) (*Qualified, []Culprit, error) {
	ph, err := computePhase1(tr)
	if err != nil {
		if ph != nil {
			return nil, ph.disq, err
		}
		return nil, nil, err
	}
	return &Qualified{BaseHash: tr.BaseHash, Dealers: ph.qual}, ph.disq, nil
}

// extractionContext is the context of dealer i's proof of knowledge of
// a_i0: baseHash || string(ExtractionProofTag) || u16(i).
func extractionContext(base [32]byte, dealer int) []byte {
	b := append([]byte{}, base[:]...)
	b = appendString(b, ExtractionProofTag)
	return appendU16(b, dealer)
}

// extractionFailures decides which qualified dealers must have their
// secret reconstructed (spec §5.7): a missing, equivocating or invalid
// ExtractionCommitments (a proof that does not verify included: the
// consistency proof is what stops a dealer from choosing its A_i after
// seeing the others'), or a valid extraction complaint. It does not use
// the reveals, so trustees can run it before revealing.
func extractionFailures(tr *Transcript, ph *phase1) (map[int][]*group.Element, []Culprit) {
	p := tr.Params
	extBy := map[int][]*ExtractionCommitments{}
	for _, m := range tr.Extraction {
		if m == nil {
			continue
		}
		if p.validIndex(m.Dealer) {
			extBy[m.Dealer] = append(extBy[m.Dealer], m)
		}
	}
	complaintsBy := map[int][]*ExtractionComplaint{}
	for _, m := range firstExtractionComplaints(tr) {
		complaintsBy[m.Accused] = append(complaintsBy[m.Accused], m)
	}
	accepted := map[int][]*group.Element{}
	var needed []Culprit
	g := group.NewGeneratorElement()
	for _, i := range ph.qual {
		reason := func() error {
			e, err := pick(extBy[i])
			if err != nil {
				return fmt.Errorf("%w: %w", ErrBadExtraction, err)
			}
			if e.BaseHash != tr.BaseHash || len(e.A) != p.T {
				return fmt.Errorf("%w: %w", ErrBadExtraction, ErrInvalidMessage)
			}
			if err := e.Proof.Verify(extractionContext(tr.BaseHash, i), g, e.A[0]); err != nil {
				return fmt.Errorf("%w: proof of knowledge: %w", ErrBadExtraction, err)
			}
			if err := verifyConsistency(tr.BaseHash, i, ph.commits[i], e.A, e.Consistency); err != nil {
				return fmt.Errorf("%w: consistency proof: %w", ErrBadExtraction, err)
			}
			for _, c := range complaintsBy[i] {
				j := c.Complainer
				if c.BaseHash != tr.BaseHash || !p.validIndex(j) || j == i {
					continue
				}
				// Valid complaint: the share matches the hiding
				// commitments but not the extraction commitments.
				if checkPedersenShare(ph.commits[i], j, c.S, c.S2) && !checkFeldmanShare(e.A, j, c.S) {
					return fmt.Errorf("%w: by trustee %d", ErrExtractionCheating, j)
				}
			}
			accepted[i] = e.A
			return nil
		}()
		if reason != nil {
			needed = append(needed, Culprit{Trustee: i, Reason: reason})
		}
	}
	return accepted, needed
}

// reconstruct recovers dealer i's polynomial a_i from t public shares that
// match its Pedersen commitments (from complaint answers, extraction
// complaints and reveals), and returns A_ik = g^{a_ik}.
func reconstruct(tr *Transcript, ph *phase1, i int) ([]*group.Element, error) {
	p := tr.Params
	pts := map[int]*group.Scalar{}
	try := func(j int, s, s2 *group.Scalar) {
		if _, ok := pts[j]; ok || j == i || !p.validIndex(j) {
			return
		}
		if checkPedersenShare(ph.commits[i], j, s, s2) {
			pts[j] = s
		}
	}
	for j, a := range ph.answers[i] {
		try(j, a[0], a[1])
	}
	for _, c := range firstExtractionComplaints(tr) {
		if c.Accused == i {
			try(c.Complainer, c.S, c.S2)
		}
	}
	for _, r := range firstReveals(tr) {
		if r.Dealer == i {
			try(r.Revealer, r.S, r.S2)
		}
	}
	if len(pts) < p.T {
		return nil, fmt.Errorf("%w: dealer %d: %d valid shares, need %d", ErrReconstruction, i, len(pts), p.T)
	}
	xs := slices.Sorted(func(yield func(int) bool) {
		for j := range pts {
			if !yield(j) {
				return
			}
		}
	})[:p.T]
	ys := make([]*group.Scalar, p.T)
	for k, x := range xs {
		ys[k] = pts[x]
	}
	coeffs := interpolate(xs, ys)
	out := make([]*group.Element, p.T)
	for k := range coeffs {
		out[k] = new(group.Element).ScalarBaseMult(&coeffs[k])
	}
	return out, nil
}

// VerifyTranscript recomputes everything key generation established from
// the public messages alone (spec §5.5-§5.8): QUAL (and checks it against
// the published Qualified message), each qualified dealer's extraction
// commitments (reconstructing in public the secret of any dealer that
// cheated or fell silent in the extraction phase), the joint public key
// h = Π_{i∈QUAL} A_i0 and every trustee's verification key
// h_j = Π_{i∈QUAL} Π_k A_ik^{j^k}.
func VerifyTranscript(tr *Transcript) (*Result, error) {
	ph, err := computePhase1(tr)
	if err != nil {
		return nil, err
	}
	if tr.Qualified == nil || tr.Qualified.BaseHash != tr.BaseHash || !slices.Equal(tr.Qualified.Dealers, ph.qual) {
		return nil, fmt.Errorf("%w: computed %v", ErrQualifiedMismatch, ph.qual)
	}
	accepted, needed := extractionFailures(tr, ph)
	for _, c := range needed {
		a, err := reconstruct(tr, ph, c.Trustee)
		if err != nil {
			return nil, err
		}
		accepted[c.Trustee] = a
	}
	p := tr.Params
	// Aggregate Π_{i∈QUAL} A_ik for each k.
	agg := make([]*group.Element, p.T)
	for k := range agg {
		agg[k] = group.NewIdentityElement()
		for _, i := range ph.qual {
			agg[k].Add(agg[k], accepted[i][k])
		}
	}
	res := &Result{
		Qualified:     ph.qual,
		Disqualified:  ph.disq,
		Reconstructed: needed,
		JointKey:      agg[0],
	}
	if agg[0].IsIdentity() == 1 {
		return nil, fmt.Errorf("threshold: joint key is the identity")
	}
	for j := 1; j <= p.N; j++ {
		res.VerificationKeys = append(res.VerificationKeys, evalCommitments(agg, j))
	}
	return res, nil
}

// firstExtractionComplaints returns, in board order, the first extraction
// complaint of each (complainer, accused) pair that has the right context
// and valid, distinct indices; later ones are ignored (spec §5.7), which
// bounds the work a flooding trustee can cause.
func firstExtractionComplaints(tr *Transcript) []*ExtractionComplaint {
	seen := map[[2]int]bool{}
	var out []*ExtractionComplaint
	for _, m := range tr.ExtractionComplaints {
		if m == nil || m.BaseHash != tr.BaseHash || !tr.Params.validIndex(m.Complainer) ||
			!tr.Params.validIndex(m.Accused) || m.Complainer == m.Accused {
			continue
		}
		k := [2]int{m.Complainer, m.Accused}
		if !seen[k] {
			seen[k] = true
			out = append(out, m)
		}
	}
	return out
}

// firstReveals is firstExtractionComplaints for reveals, by (revealer,
// dealer).
func firstReveals(tr *Transcript) []*ExtractionReveal {
	seen := map[[2]int]bool{}
	var out []*ExtractionReveal
	for _, m := range tr.Reveals {
		if m == nil || m.BaseHash != tr.BaseHash || !tr.Params.validIndex(m.Revealer) ||
			!tr.Params.validIndex(m.Dealer) || m.Revealer == m.Dealer {
			continue
		}
		k := [2]int{m.Revealer, m.Dealer}
		if !seen[k] {
			seen[k] = true
			out = append(out, m)
		}
	}
	return out
}
