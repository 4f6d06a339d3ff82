package threshold

import (
	"encoding/binary"

	"evote/crypto/group"
	"evote/crypto/zkp"
)

// Commitments is dealer i's first message (spec §5.3.1): Pedersen
// commitments C_ik = g^{a_ik}·H^{b_ik}, k = 0..t-1, to its two secret
// polynomials. They are perfectly hiding, so they reveal nothing a later
// dealer could adapt to.
type Commitments struct {
	BaseHash [32]byte
	Dealer   int
	C        []*group.Element
}

// Bytes returns u8(1) || baseHash || u16(dealer) || list<Element>(C).
func (m *Commitments) Bytes() []byte {
	b := appendHeader(nil, kindCommitments, m.BaseHash)
	b = appendU16(b, m.Dealer)
	return appendElements(b, m.C)
}

// ParseCommitments decodes a Commitments message strictly.
func ParseCommitments(b []byte) (*Commitments, error) {
	r := &reader{b: b}
	m := &Commitments{BaseHash: r.header(kindCommitments, "commitments")}
	m.Dealer = r.index("dealer")
	m.C = r.elements("commitments", MaxTrustees)
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// An EncryptedShare is the HPKE encryption of Scalar(s_ij) || Scalar(s'_ij)
// to recipient j.
type EncryptedShare struct {
	Recipient  int
	Enc        [HPKEKeySize]byte
	Ciphertext [ShareCiphertextSize]byte
}

const encryptedShareSize = 2 + HPKEKeySize + ShareCiphertextSize

// EncryptedShares is dealer i's second message (spec §5.3.2): one
// encrypted share for every other trustee, in increasing recipient order.
type EncryptedShares struct {
	BaseHash [32]byte
	Dealer   int
	Shares   []EncryptedShare
}

// Bytes returns u8(2) || baseHash || u16(dealer) || u32(count) ||
// (u16(recipient) || enc || ciphertext)….
func (m *EncryptedShares) Bytes() []byte {
	b := appendHeader(nil, kindEncryptedShares, m.BaseHash)
	b = appendU16(b, m.Dealer)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Shares)))
	for _, s := range m.Shares {
		b = appendU16(b, s.Recipient)
		b = append(b, s.Enc[:]...)
		b = append(b, s.Ciphertext[:]...)
	}
	return b
}

// ParseEncryptedShares decodes an EncryptedShares message strictly.
// Recipients must be strictly increasing.
func ParseEncryptedShares(b []byte) (*EncryptedShares, error) {
	r := &reader{b: b}
	m := &EncryptedShares{BaseHash: r.header(kindEncryptedShares, "encrypted shares")}
	m.Dealer = r.index("dealer")
	n := r.count("shares", encryptedShareSize, MaxTrustees)
	if r.err == nil {
		m.Shares = make([]EncryptedShare, n)
	}
	prev := 0
	for i := 0; i < n && r.err == nil; i++ {
		s := &m.Shares[i]
		s.Recipient = r.index("recipient")
		if r.err == nil && s.Recipient <= prev {
			r.fail("recipients not strictly increasing")
		}
		prev = s.Recipient
		copy(s.Enc[:], r.take(HPKEKeySize, "enc"))
		copy(s.Ciphertext[:], r.take(ShareCiphertextSize, "ciphertext"))
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// Complaint is posted by trustee j when dealer i's share for j does not
// open or does not match C_i (spec §5.3.3).
type Complaint struct {
	BaseHash   [32]byte
	Complainer int
	Accused    int
}

// Bytes returns u8(3) || baseHash || u16(complainer) || u16(accused).
func (m *Complaint) Bytes() []byte {
	b := appendHeader(nil, kindComplaint, m.BaseHash)
	b = appendU16(b, m.Complainer)
	return appendU16(b, m.Accused)
}

// ParseComplaint decodes a Complaint strictly.
func ParseComplaint(b []byte) (*Complaint, error) {
	r := &reader{b: b}
	m := &Complaint{BaseHash: r.header(kindComplaint, "complaint")}
	m.Complainer = r.index("complainer")
	m.Accused = r.index("accused")
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// ComplaintAnswer is dealer i's public answer to trustee j's complaint: the
// disputed share in the clear, which anyone checks against C_i (§5.3.4).
type ComplaintAnswer struct {
	BaseHash   [32]byte
	Dealer     int
	Complainer int
	S, S2      *group.Scalar
}

// Bytes returns u8(4) || baseHash || u16(dealer) || u16(complainer) ||
// Scalar(s) || Scalar(s').
func (m *ComplaintAnswer) Bytes() []byte {
	b := appendHeader(nil, kindComplaintAnswer, m.BaseHash)
	b = appendU16(b, m.Dealer)
	b = appendU16(b, m.Complainer)
	b = append(b, m.S.Bytes()...)
	return append(b, m.S2.Bytes()...)
}

// ParseComplaintAnswer decodes a ComplaintAnswer strictly.
func ParseComplaintAnswer(b []byte) (*ComplaintAnswer, error) {
	r := &reader{b: b}
	m := &ComplaintAnswer{BaseHash: r.header(kindComplaintAnswer, "complaint answer")}
	m.Dealer = r.index("dealer")
	m.Complainer = r.index("complainer")
	m.S = r.scalar("share")
	m.S2 = r.scalar("blinding share")
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// Qualified publishes QUAL, the dealers whose sharings count (§5.3.5). It
// is a deterministic function of the phase-1 messages (ComputeQualified);
// anyone may post it and everyone recomputes it.
type Qualified struct {
	BaseHash [32]byte
	Dealers  []int // strictly increasing
}

// Bytes returns u8(5) || baseHash || u32(count) || u16(dealer)….
func (m *Qualified) Bytes() []byte {
	b := appendHeader(nil, kindQualified, m.BaseHash)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Dealers)))
	for _, d := range m.Dealers {
		b = appendU16(b, d)
	}
	return b
}

// ParseQualified decodes a Qualified message strictly (indices strictly
// increasing).
func ParseQualified(b []byte) (*Qualified, error) {
	r := &reader{b: b}
	m := &Qualified{BaseHash: r.header(kindQualified, "qualified")}
	n := r.count("dealers", 2, MaxTrustees)
	prev := 0
	for i := 0; i < n && r.err == nil; i++ {
		d := r.index("dealer")
		if r.err == nil && d <= prev {
			r.fail("dealers not strictly increasing")
		}
		prev = d
		m.Dealers = append(m.Dealers, d)
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// ExtractionCommitments is qualified dealer i's extraction message (spec
// §5.3.6, §5.6): A_ik = g^{a_ik}, k = 0..t-1; a Schnorr proof of knowledge
// of a_i0 = log_g A_i0; and a consistency proof that the dealer knows every
// b_ik with C_ik = A_ik·H^{b_ik}, i.e. that A_i is the g-part of the
// phase-1 commitments C_i and not a polynomial chosen after seeing the
// others' extraction commitments. Both proofs are bound to the base hash
// and the dealer index.
type ExtractionCommitments struct {
	BaseHash    [32]byte
	Dealer      int
	A           []*group.Element
	Proof       *zkp.SchnorrProof // knowledge of log_g A_i0
	Consistency *zkp.SchnorrProof // knowledge of log_H Π_k (C_ik/A_ik)^{ρ_k}
}

// Bytes returns u8(6) || baseHash || u16(dealer) || list<Element>(A) ||
// SchnorrProof(proof) || SchnorrProof(consistency). A nil proof is left
// out, so the encoding does not parse and verifiers treat the message as
// an invalid extraction.
func (m *ExtractionCommitments) Bytes() []byte {
	b := appendHeader(nil, kindExtractionCommitments, m.BaseHash)
	b = appendU16(b, m.Dealer)
	b = appendElements(b, m.A)
	for _, p := range []*zkp.SchnorrProof{m.Proof, m.Consistency} {
		if p != nil {
			b = append(b, p.Bytes()...)
		}
	}
	return b
}

// ParseExtractionCommitments decodes an ExtractionCommitments strictly.
func ParseExtractionCommitments(b []byte) (*ExtractionCommitments, error) {
	r := &reader{b: b}
	m := &ExtractionCommitments{BaseHash: r.header(kindExtractionCommitments, "extraction commitments")}
	m.Dealer = r.index("dealer")
	m.A = r.elements("extraction commitments", MaxTrustees)
	m.Proof = r.schnorr("proof of knowledge")
	m.Consistency = r.schnorr("consistency proof")
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// ExtractionComplaint is posted by trustee j when its Pedersen-verified
// share (s_ij, s'_ij) does not match dealer i's extraction commitments. It
// reveals the share, so anyone can check that it matches C_i and not A_i
// (spec §5.3.7).
type ExtractionComplaint struct {
	BaseHash   [32]byte
	Complainer int
	Accused    int
	S, S2      *group.Scalar
}

// Bytes returns u8(7) || baseHash || u16(complainer) || u16(accused) ||
// Scalar(s) || Scalar(s').
func (m *ExtractionComplaint) Bytes() []byte {
	b := appendHeader(nil, kindExtractionComplaint, m.BaseHash)
	b = appendU16(b, m.Complainer)
	b = appendU16(b, m.Accused)
	b = append(b, m.S.Bytes()...)
	return append(b, m.S2.Bytes()...)
}

// ParseExtractionComplaint decodes an ExtractionComplaint strictly.
func ParseExtractionComplaint(b []byte) (*ExtractionComplaint, error) {
	r := &reader{b: b}
	m := &ExtractionComplaint{BaseHash: r.header(kindExtractionComplaint, "extraction complaint")}
	m.Complainer = r.index("complainer")
	m.Accused = r.index("accused")
	m.S = r.scalar("share")
	m.S2 = r.scalar("blinding share")
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// ExtractionReveal is trustee j's share of dealer i's polynomials, revealed
// so that dealer i's secret can be reconstructed in public after it
// misbehaved in the extraction phase (spec §5.3.8).
type ExtractionReveal struct {
	BaseHash [32]byte
	Revealer int
	Dealer   int
	S, S2    *group.Scalar
}

// Bytes returns u8(8) || baseHash || u16(revealer) || u16(dealer) ||
// Scalar(s) || Scalar(s').
func (m *ExtractionReveal) Bytes() []byte {
	b := appendHeader(nil, kindExtractionReveal, m.BaseHash)
	b = appendU16(b, m.Revealer)
	b = appendU16(b, m.Dealer)
	b = append(b, m.S.Bytes()...)
	return append(b, m.S2.Bytes()...)
}

// ParseExtractionReveal decodes an ExtractionReveal strictly.
func ParseExtractionReveal(b []byte) (*ExtractionReveal, error) {
	r := &reader{b: b}
	m := &ExtractionReveal{BaseHash: r.header(kindExtractionReveal, "extraction reveal")}
	m.Revealer = r.index("revealer")
	m.Dealer = r.index("dealer")
	m.S = r.scalar("share")
	m.S2 = r.scalar("blinding share")
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}
