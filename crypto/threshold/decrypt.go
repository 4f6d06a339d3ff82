package threshold

import (
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

var (
	// ErrInvalidShare is wrapped by every rejection of a decryption share.
	ErrInvalidShare = errors.New("threshold: invalid decryption share")
	// ErrTooFewShares: fewer than t distinct trustees' shares.
	ErrTooFewShares = errors.New("threshold: fewer than t decryption shares")
)

// A ShareError names the trustee whose decryption share was rejected and,
// when per-ciphertext proofs allow it, the position of the bad share
// (Position is -1 when only the batch as a whole is known to be bad).
type ShareError struct {
	Trustee  int
	Position int
	Err      error
}

func (e *ShareError) Error() string {
	if e.Position < 0 {
		return fmt.Sprintf("threshold: decryption share of trustee %d: %v", e.Trustee, e.Err)
	}
	return fmt.Sprintf("threshold: decryption share of trustee %d, ciphertext %d: %v", e.Trustee, e.Position, e.Err)
}

func (e *ShareError) Unwrap() error { return e.Err }

// A KeyShare is trustee j's share x_j of the joint secret key, with its
// verification key h_j = g^{x_j}.
type KeyShare struct {
	Index int
	x     group.Scalar
	vk    group.Element
}

// NewKeyShare rebuilds a key share from its index and secret scalar (for
// storage by the trustee's tool).
func NewKeyShare(index int, x *group.Scalar) (*KeyShare, error) {
	if index < 1 || index > MaxTrustees {
		return nil, fmt.Errorf("%w: index %d", ErrParams, index)
	}
	k := &KeyShare{Index: index}
	k.x.Set(x)
	k.vk.ScalarMultFixed(x, group.GeneratorTable())
	return k, nil
}

// Secret returns a copy of x_j, for the trustee's own storage.
func (k *KeyShare) Secret() *group.Scalar { return new(group.Scalar).Set(&k.x) }

// VerificationKey returns a copy of h_j.
func (k *KeyShare) VerificationKey() *group.Element { return new(group.Element).Set(&k.vk) }

// shareContext is the DLEQ context of a decryption proof (spec §5.9):
// ext || u16(trustee) || u8(kind) || u64(v), where kind 0 is a proof for the
// ciphertext at position v and kind 1 a batched proof over v ciphertexts.
func shareContext(ext [32]byte, trustee int, kind byte, v uint64) []byte {
	b := append([]byte{}, ext[:]...)
	b = appendU16(b, trustee)
	b = append(b, kind)
	return binary.BigEndian.AppendUint64(b, v)
}

// PartialDecrypt returns trustee j's share D = A^{x_j} of ciphertext c at
// position pos of the list being decrypted, with a DLEQ proof that
// log_g h_j = log_A D bound to the extended hash ext, j and pos.
func (k *KeyShare) PartialDecrypt(ext [32]byte, pos uint64, c *elgamal.Ciphertext, rand io.Reader) (*group.Element, *zkp.DLEQProof, error) {
	d := new(group.Element).ScalarMult(&k.x, &c.A)
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: &k.vk, G2: &c.A, X2: d}
	proof, err := zkp.ProveDLEQ(shareContext(ext, k.Index, 0, pos), st, &k.x, group.GeneratorTable(), rand)
	if err != nil {
		return nil, nil, err
	}
	return d, proof, nil
}

// VerifyPartialDecryption checks one share D of ciphertext c at position
// pos by trustee j with verification key vk. The proof's two equations are
// checked as one random-weighted multi-scalar multiplication (spec §4.2).
func VerifyPartialDecryption(ext [32]byte, trustee int, vk *group.Element, pos uint64, c *elgamal.Ciphertext, d *group.Element, proof *zkp.DLEQProof) error {
	b := zkp.NewBatch()
	addShareProof(b, ext, trustee, vk, pos, c, d, proof, -1)
	if err := b.Verify(); err != nil {
		return &ShareError{Trustee: trustee, Position: int(pos), Err: fmt.Errorf("%w: %w", ErrInvalidShare, err)}
	}
	return nil
}

// addShareProof adds the DLEQ equations of one share to b; g is the handle
// of the shared generator, or -1.
func addShareProof(b *zkp.Batch, ext [32]byte, trustee int, vk *group.Element, pos uint64, c *elgamal.Ciphertext, d *group.Element, proof *zkp.DLEQProof, g int) {
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: vk, G2: &c.A, X2: d}
	proof.AddToBatch(b, "decryption share", shareContext(ext, trustee, 0, pos), st, g)
}

// batchWeights derives the 128-bit weights ρ_l of a batched proof (spec
// §5.10) from a transcript over the context, the trustee, its verification
// key and every A_l and D_l:
//
//	T = Init("evote-v1/threshold/batch-weights", ext)
//	Append("trustee", u64(j)); Append("key", h_j)
//	Append("a", list A_l); Append("d", list D_l)
//	seed = ChallengeBytes("seed")
//	ρ_l = LE(SHA-512(string("evote-v1/threshold/batch-weight") || seed || u64(l))[0:16])
//
// aEnc and dEnc are the list<Element> encodings u32(N) || Element….
func batchWeights(ext [32]byte, trustee int, vk *group.Element, n int, aEnc, dEnc []byte) []*group.Scalar {
	t := zkp.NewTranscript(BatchWeightsProtocol, ext[:])
	t.AppendUint64("trustee", uint64(trustee))
	t.AppendElement("key", vk)
	t.AppendMessage("a", aEnc)
	t.AppendMessage("d", dEnc)
	seed := t.ChallengeBytes("seed")
	prefix := appendString(nil, BatchWeightTag)
	prefix = append(prefix, seed...)
	msg := make([]byte, len(prefix)+8)
	copy(msg, prefix)
	out := make([]*group.Scalar, n)
	for l := range out {
		binary.BigEndian.PutUint64(msg[len(prefix):], uint64(l))
		h := sha512.Sum512(msg)
		s, err := new(group.Scalar).SetShortBytes(h[:16])
		if err != nil {
			panic("threshold: 128-bit weight rejected")
		}
		out[l] = s
	}
	return out
}

// A CiphertextList is a list of ciphertexts prepared once for producing or
// verifying every trustee's decryption share of it (it caches the encoding
// of the A components, which every batched proof hashes).
type CiphertextList struct {
	cts  []*elgamal.Ciphertext
	as   []*group.Element
	aEnc []byte
}

// NewCiphertextList prepares cts; the ciphertexts must not change
// afterwards.
func NewCiphertextList(cts []*elgamal.Ciphertext) *CiphertextList {
	l := &CiphertextList{cts: cts, as: make([]*group.Element, len(cts))}
	for i, c := range cts {
		l.as[i] = &c.A
	}
	l.aEnc = appendElements(make([]byte, 0, 4+len(cts)*group.ElementSize), l.as)
	return l
}

// Len returns the number of ciphertexts.
func (l *CiphertextList) Len() int { return len(l.cts) }

// A DecryptionShare is trustee j's share of the decryption of a list of
// ciphertexts (spec §5.9-§5.10): D_l = A_l^{x_j} for each, a batched proof,
// and optionally one proof per ciphertext (so that a bad share can be
// pinned to its position). At least one kind of proof is present.
type DecryptionShare struct {
	Context [32]byte // the extended hash
	Trustee int
	D       []*group.Element
	Batch   *zkp.DLEQProof   // nil if absent
	Proofs  []*zkp.DLEQProof // empty, or one per D
}

// MaxShareCiphertexts bounds the ciphertexts of one DecryptionShare.
const MaxShareCiphertexts = 1 << 24

// ShareOptions choose the proofs in a DecryptionShare.
type ShareOptions struct {
	Batched       bool // one proof over a random-weighted combination
	PerCiphertext bool // one proof per ciphertext
}

// DecryptShares returns this trustee's decryption share of cts.
func (k *KeyShare) DecryptShares(ext [32]byte, cts []*elgamal.Ciphertext, opt ShareOptions, rand io.Reader) (*DecryptionShare, error) {
	if !opt.Batched && !opt.PerCiphertext {
		return nil, fmt.Errorf("%w: no proof requested", ErrParams)
	}
	if len(cts) == 0 || len(cts) > MaxShareCiphertexts {
		return nil, fmt.Errorf("%w: %d ciphertexts", ErrParams, len(cts))
	}
	s := &DecryptionShare{Context: ext, Trustee: k.Index, D: make([]*group.Element, len(cts))}
	for l, c := range cts {
		if opt.PerCiphertext {
			d, p, err := k.PartialDecrypt(ext, uint64(l), c, rand)
			if err != nil {
				return nil, err
			}
			s.D[l] = d
			s.Proofs = append(s.Proofs, p)
		} else {
			s.D[l] = new(group.Element).ScalarMult(&k.x, &c.A)
		}
	}
	if opt.Batched {
		list := NewCiphertextList(cts)
		w := batchWeights(ext, k.Index, &k.vk, len(cts), list.aEnc, appendElements(nil, s.D))
		aStar := new(group.Element).VarTimeMultiScalarMult(w, list.as)
		// D* = A*^x exactly for an honest trustee; computing it from x
		// (constant time) saves a second MSM.
		dStar := new(group.Element).ScalarMult(&k.x, aStar)
		st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: &k.vk, G2: aStar, X2: dStar}
		p, err := zkp.ProveDLEQ(shareContext(ext, k.Index, 1, uint64(len(cts))), st, &k.x, group.GeneratorTable(), rand)
		if err != nil {
			return nil, err
		}
		s.Batch = p
	}
	return s, nil
}

// VerifyDecryptionShare checks s as trustee s.Trustee's share of cts under
// that trustee's verification key vks[s.Trustee-1] and extended hash ext.
// (Taking all keys, not one, means a share can never be checked against
// one trustee's key while claiming another's index.) With a batched proof it costs
// two multi-scalar multiplications of 128-bit weights plus one DLEQ check;
// if the batched proof fails (or is absent) and per-ciphertext proofs are
// present, each is checked and the first bad position is named. Every
// rejection is a *ShareError wrapping ErrInvalidShare. To check many
// trustees' shares of one long list, VerifyDecryptionShareBytes with one
// CiphertextList is faster.
func VerifyDecryptionShare(ext [32]byte, vks []*group.Element, cts []*elgamal.Ciphertext, s *DecryptionShare) error {
	return verifyShare(ext, vks, NewCiphertextList(cts), s, nil)
}

// VerifyDecryptionShareBytes decodes a DecryptionShare as read from the
// board and verifies it as VerifyDecryptionShare does, hashing the shares'
// encodings as received rather than re-encoding them. A decoding failure
// is returned as is (wrapping ErrMalformed).
func VerifyDecryptionShareBytes(ext [32]byte, vks []*group.Element, list *CiphertextList, b []byte) (*DecryptionShare, error) {
	s, dEnc, err := parseDecryptionShare(b)
	if err != nil {
		return nil, err
	}
	if err := verifyShare(ext, vks, list, s, dEnc); err != nil {
		return nil, err
	}
	return s, nil
}

// verifyShare implements the checks; dEnc, if not nil, is the list<Element>
// encoding of s.D.
func verifyShare(ext [32]byte, vks []*group.Element, list *CiphertextList, s *DecryptionShare, dEnc []byte) error {
	if s == nil || list == nil {
		return &ShareError{Position: -1, Err: fmt.Errorf("%w: missing share or ciphertexts", ErrInvalidShare)}
	}
	fail := func(pos int, format string, args ...any) error {
		return &ShareError{Trustee: s.Trustee, Position: pos, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidShare}, args...)...)}
	}
	if s.Trustee < 1 || s.Trustee > len(vks) || vks[s.Trustee-1] == nil {
		return fail(-1, "no verification key for trustee %d", s.Trustee)
	}
	vk := vks[s.Trustee-1]
	cts := list.cts
	if s.Context != ext {
		return fail(-1, "other election context")
	}
	if len(s.D) != len(cts) || len(cts) == 0 {
		return fail(-1, "%d shares for %d ciphertexts", len(s.D), len(cts))
	}
	if len(s.Proofs) != 0 && len(s.Proofs) != len(cts) {
		return fail(-1, "%d proofs for %d ciphertexts", len(s.Proofs), len(cts))
	}
	if s.Batch == nil && len(s.Proofs) == 0 {
		return fail(-1, "no proof")
	}
	if s.Batch != nil {
		if dEnc == nil {
			dEnc = appendElements(nil, s.D)
		}
		w := batchWeights(ext, s.Trustee, vk, len(cts), list.aEnc, dEnc)
		aStar := new(group.Element).VarTimeMultiScalarMult(w, list.as)
		dStar := new(group.Element).VarTimeMultiScalarMult(w, s.D)
		st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: vk, G2: aStar, X2: dStar}
		err := s.Batch.Verify(shareContext(ext, s.Trustee, 1, uint64(len(cts))), st)
		if err == nil {
			return nil
		}
		if len(s.Proofs) == 0 {
			return fail(-1, "batched proof: %w", err)
		}
	}
	// All per-ciphertext proofs in one batch; on failure the batch names
	// the first bad position.
	b := zkp.NewBatch()
	g := b.Shared(group.NewGeneratorElement())
	for l, c := range cts {
		addShareProof(b, ext, s.Trustee, vk, uint64(l), c, s.D[l], s.Proofs[l], g)
	}
	if err := b.Verify(); err != nil {
		var be *zkp.BatchError
		if errors.As(err, &be) {
			return fail(be.Index, "%w", err)
		}
		return fail(-1, "%w", err)
	}
	if s.Batch != nil {
		// Every share is right, so the batched proof itself is bad.
		return fail(-1, "batched proof fails although every share verifies")
	}
	return nil
}

// Combine recovers M_l = g^{m_l} = B_l / Π_j D_jl^{λ_j} for each ciphertext
// from the decryption shares of t distinct trustees (spec §5.11). Shares
// must have been verified. It uses the first t shares in the order given
// and refuses fewer than t, repeated trustees and mismatched lengths.
func Combine(p Params, cts []*elgamal.Ciphertext, shares []*DecryptionShare) ([]*group.Element, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(shares) < p.T {
		return nil, fmt.Errorf("%w: %d shares, t=%d", ErrTooFewShares, len(shares), p.T)
	}
	use := shares[:p.T]
	idx := make([]int, p.T)
	for k, s := range use {
		if !p.validIndex(s.Trustee) {
			return nil, fmt.Errorf("%w: trustee %d out of range", ErrParams, s.Trustee)
		}
		if len(s.D) != len(cts) {
			return nil, fmt.Errorf("%w: trustee %d gave %d shares for %d ciphertexts", ErrParams, s.Trustee, len(s.D), len(cts))
		}
		idx[k] = s.Trustee
	}
	lambda, err := LagrangeAtZero(idx)
	if err != nil {
		return nil, err
	}
	return combineWith(lambda, cts, use), nil
}

func combineWith(lambda []*group.Scalar, cts []*elgamal.Ciphertext, use []*DecryptionShare) []*group.Element {
	out := make([]*group.Element, len(cts))
	ds := make([]*group.Element, len(use))
	for l, c := range cts {
		for k, s := range use {
			ds[k] = s.D[l]
		}
		prod := new(group.Element).VarTimeMultiScalarMult(lambda, ds)
		out[l] = new(group.Element).Subtract(&c.B, prod)
	}
	return out
}

// Decrypt verifies every share, sets aside the invalid ones (returned,
// each naming its trustee), combines the first t valid ones and recovers
// each plaintext with table.
func Decrypt(p Params, ext [32]byte, vks []*group.Element, cts []*elgamal.Ciphertext, shares []*DecryptionShare, table *elgamal.DLogTable) ([]uint64, []*ShareError, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if len(vks) != p.N {
		return nil, nil, fmt.Errorf("%w: %d verification keys for n=%d", ErrParams, len(vks), p.N)
	}
	list := NewCiphertextList(cts)
	var valid []*DecryptionShare
	var bad []*ShareError
	seen := map[int]bool{}
	for _, s := range shares {
		if s == nil {
			continue
		}
		if !p.validIndex(s.Trustee) || seen[s.Trustee] {
			bad = append(bad, &ShareError{Trustee: s.Trustee, Position: -1, Err: fmt.Errorf("%w: unknown or repeated trustee", ErrInvalidShare)})
			continue
		}
		if err := verifyShare(ext, vks, list, s, nil); err != nil {
			var se *ShareError
			errors.As(err, &se)
			bad = append(bad, se)
			continue
		}
		seen[s.Trustee] = true
		valid = append(valid, s)
	}
	ms, err := Combine(p, cts, valid)
	if err != nil {
		return nil, bad, err
	}
	out := make([]uint64, len(ms))
	for l, m := range ms {
		if out[l], err = table.Lookup(m); err != nil {
			return nil, bad, fmt.Errorf("threshold: ciphertext %d: %w", l, err)
		}
	}
	return out, bad, nil
}

// Bytes returns u8(9) || ext || u16(trustee) || list<Element>(D) ||
// u8(has batch) [|| DLEQProof] || list<DLEQProof>(per-ciphertext proofs).
func (s *DecryptionShare) Bytes() []byte {
	b := appendHeader(nil, kindDecryptionShare, s.Context)
	b = appendU16(b, s.Trustee)
	b = appendElements(b, s.D)
	if s.Batch != nil {
		b = append(b, 1)
		b = append(b, s.Batch.Bytes()...)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.Proofs)))
	for _, p := range s.Proofs {
		b = append(b, p.Bytes()...)
	}
	return b
}

// ParseDecryptionShare decodes a DecryptionShare strictly: the batch flag
// is 0 or 1, the proof count is 0 or the number of shares, and at least one
// proof is present.
func ParseDecryptionShare(b []byte) (*DecryptionShare, error) {
	s, _, err := parseDecryptionShare(b)
	return s, err
}

// parseDecryptionShare also returns the list<Element> encoding of D as
// found in b.
func parseDecryptionShare(b []byte) (*DecryptionShare, []byte, error) {
	r := &reader{b: b}
	s := &DecryptionShare{Context: r.header(kindDecryptionShare, "decryption share")}
	s.Trustee = r.index("trustee")
	before := r.b
	s.D = r.elements("shares", MaxShareCiphertexts)
	dEnc := before[:len(before)-len(r.b)]
	if r.err == nil && len(s.D) == 0 {
		r.fail("no shares")
	}
	switch r.u8("batch flag") {
	case 0:
	case 1:
		s.Batch = r.dleq("batched proof")
	default:
		r.fail("batch flag not 0 or 1")
	}
	n := r.count("proofs", zkp.DLEQProofSize, MaxShareCiphertexts)
	if r.err == nil && n != 0 && n != len(s.D) {
		r.fail("%d proofs for %d shares", n, len(s.D))
	}
	if r.err == nil && n == 0 && s.Batch == nil {
		r.fail("no proof")
	}
	for i := 0; i < n && r.err == nil; i++ {
		s.Proofs = append(s.Proofs, r.dleq("proof"))
	}
	if err := r.done(); err != nil {
		return nil, nil, err
	}
	return s, dEnc, nil
}
