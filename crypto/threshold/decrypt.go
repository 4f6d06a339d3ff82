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

// A ShareError names the trustee whose decryption share was rejected.
type ShareError struct {
	Trustee int
	Err     error
}

func (e *ShareError) Error() string {
	return fmt.Sprintf("threshold: decryption share of trustee %d: %v", e.Trustee, e.Err)
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

// batchContext is the DLEQ context of a decryption share's proof (spec
// §5.10): ext || u16(trustee) || u8(1) || u64(n) for a share of n
// ciphertexts. (The byte 1 marks the batched proof; 0 was the context of
// the per-ciphertext proofs the format had before, and is never used.)
func batchContext(ext [32]byte, trustee int, n int) []byte {
	b := append([]byte{}, ext[:]...)
	b = appendU16(b, trustee)
	b = append(b, 1)
	return binary.BigEndian.AppendUint64(b, uint64(n))
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
	n    int
	as   []*group.Element // nil if the list is held encoded (NewEncodedCiphertextList)
	aEnc []byte
}

// NewCiphertextList prepares cts; the ciphertexts must not change
// afterwards.
func NewCiphertextList(cts []*elgamal.Ciphertext) *CiphertextList {
	l := &CiphertextList{n: len(cts), as: make([]*group.Element, len(cts))}
	for i, c := range cts {
		l.as[i] = &c.A
	}
	l.aEnc = appendElements(make([]byte, 0, 4+len(cts)*group.ElementSize), l.as)
	return l
}

// Len returns the number of ciphertexts.
func (l *CiphertextList) Len() int { return l.n }

// A DecryptionShare is trustee j's share of the decryption of a list of
// ciphertexts (spec §5.9-§5.10): D_l = A_l^{x_j} for each, and one DLEQ
// proof over a random-weighted combination of them all. A bad share is
// pinned to its trustee, not to a position: the share is discarded whole
// (§9.7.1 rule 4), and a verifier's budget (§11.7) has no room for a proof
// per ciphertext.
type DecryptionShare struct {
	Context [32]byte // the extended hash
	Trustee int
	D       []*group.Element
	Proof   *zkp.DLEQProof // the batched proof (§5.10)
}

// MaxShareCiphertexts bounds the ciphertexts of one DecryptionShare.
const MaxShareCiphertexts = 1 << 24

// DecryptShares returns this trustee's decryption share of cts with its
// batched proof.
func (k *KeyShare) DecryptShares(ext [32]byte, cts []*elgamal.Ciphertext, rand io.Reader) (*DecryptionShare, error) {
	if len(cts) == 0 || len(cts) > MaxShareCiphertexts {
		return nil, fmt.Errorf("%w: %d ciphertexts", ErrParams, len(cts))
	}
	s := &DecryptionShare{Context: ext, Trustee: k.Index, D: make([]*group.Element, len(cts))}
	for l, c := range cts {
		s.D[l] = new(group.Element).ScalarMult(&k.x, &c.A)
	}
	list := NewCiphertextList(cts)
	w := batchWeights(ext, k.Index, &k.vk, len(cts), list.aEnc, appendElements(nil, s.D))
	aStar := new(group.Element).VarTimeMultiScalarMult(w, list.as)
	// D* = A*^x exactly for an honest trustee; computing it from x
	// (constant time) saves a second MSM.
	dStar := new(group.Element).ScalarMult(&k.x, aStar)
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: &k.vk, G2: aStar, X2: dStar}
	p, err := zkp.ProveDLEQ(batchContext(ext, k.Index, len(cts)), st, &k.x, group.GeneratorTable(), rand)
	if err != nil {
		return nil, err
	}
	s.Proof = p
	return s, nil
}

// VerifyDecryptionShare checks s as trustee s.Trustee's share of cts under
// that trustee's verification key vks[s.Trustee-1] and extended hash ext.
// (Taking all keys, not one, means a share can never be checked against
// one trustee's key while claiming another's index.) It costs two
// multi-scalar multiplications of 128-bit weights plus one DLEQ check.
// Every rejection is a *ShareError wrapping ErrInvalidShare. To check many
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
		return &ShareError{Err: fmt.Errorf("%w: missing share or ciphertexts", ErrInvalidShare)}
	}
	fail := func(format string, args ...any) error {
		return &ShareError{Trustee: s.Trustee, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalidShare}, args...)...)}
	}
	if s.Trustee < 1 || s.Trustee > len(vks) || vks[s.Trustee-1] == nil {
		return fail("no verification key for trustee %d", s.Trustee)
	}
	vk := vks[s.Trustee-1]
	n := list.n
	if s.Context != ext {
		return fail("other election context")
	}
	if len(s.D) != n || n == 0 {
		return fail("%d shares for %d ciphertexts", len(s.D), n)
	}
	if s.Proof == nil {
		return fail("no proof")
	}
	if dEnc == nil {
		dEnc = appendElements(nil, s.D)
	}
	w := batchWeights(ext, s.Trustee, vk, n, list.aEnc, dEnc)
	aStar, err := list.weightedA(w)
	if err != nil {
		return fail("%w", err)
	}
	dStar := msmChunked(w, s.D)
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: vk, G2: aStar, X2: dStar}
	if err := s.Proof.Verify(batchContext(ext, s.Trustee, n), st); err != nil {
		return fail("batched proof: %w", err)
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
			bad = append(bad, &ShareError{Trustee: s.Trustee, Err: fmt.Errorf("%w: unknown or repeated trustee", ErrInvalidShare)})
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
// DLEQProof (spec §5.3).
func (s *DecryptionShare) Bytes() []byte {
	b := appendHeader(nil, kindDecryptionShare, s.Context)
	b = appendU16(b, s.Trustee)
	b = appendElements(b, s.D)
	return append(b, s.Proof.Bytes()...)
}

// ParseDecryptionShare decodes a DecryptionShare strictly: at least one
// share, exactly one proof, nothing after it.
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
	s.Proof = r.dleq("proof")
	if err := r.done(); err != nil {
		return nil, nil, err
	}
	return s, dEnc, nil
}
