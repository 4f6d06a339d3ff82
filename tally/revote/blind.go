package revote

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

// A TagKey is trustee j's secret tag exponent z_j with its public key
// Z_j = g^{z_j} (spec §15.5 step 3). It is independent of the trustee's
// share of the election key; the trustee publishes Z_j with a Schnorr proof
// of knowledge (TagKeyProof) before voting opens.
type TagKey struct {
	Trustee int
	z       group.Scalar
	pub     group.Element
}

// NewTagKey draws a tag key for trustee j from rand (crypto/rand in
// production).
func NewTagKey(j int, rand io.Reader) (*TagKey, error) {
	if j < 1 || j > 32 {
		return nil, fmt.Errorf("%w: trustee %d", ErrParams, j)
	}
	k := &TagKey{Trustee: j}
	for {
		if _, err := k.z.SetRandom(rand); err != nil {
			return nil, fmt.Errorf("revote: tag key: %w", err)
		}
		if k.z.IsZero() == 0 {
			break
		}
	}
	k.pub.ScalarBaseMult(&k.z)
	return k, nil
}

// Public returns Z_j.
func (k *TagKey) Public() *group.Element { return new(group.Element).Set(&k.pub) }

// Secret returns a copy of z_j, for the trustee's tool to keep sealed
// until the blinding (spec §15.15); nothing else needs it.
func (k *TagKey) Secret() *group.Scalar { return new(group.Scalar).Set(&k.z) }

// TagKeyFromSecret returns trustee j's tag key with the secret z_j, as
// the trustee's tool reads it back from its key file. It refuses z_j = 0,
// which NewTagKey never draws.
func TagKeyFromSecret(j int, z *group.Scalar) (*TagKey, error) {
	if j < 1 || j > 32 {
		return nil, fmt.Errorf("%w: trustee %d", ErrParams, j)
	}
	if z == nil || z.IsZero() == 1 {
		return nil, fmt.Errorf("%w: tag key of trustee %d is zero", ErrTagKey, j)
	}
	k := &TagKey{Trustee: j}
	k.z.Set(z)
	k.pub.ScalarBaseMult(&k.z)
	return k, nil
}

// tagKeyContext is the context of the proof of knowledge of z_j:
// string("evote-v1/revote/tag-key") || ext || u16(j).
func tagKeyContext(ext [32]byte, j int) []byte {
	b := appendString(nil, TagKeyContext)
	b = append(b, ext[:]...)
	return binary.BigEndian.AppendUint16(b, uint16(j))
}

// Prove returns the Schnorr proof of knowledge of z_j that accompanies Z_j.
func (k *TagKey) Prove(ext [32]byte, rand io.Reader) (*zkp.SchnorrProof, error) {
	return zkp.ProveSchnorr(tagKeyContext(ext, k.Trustee), group.NewGeneratorElement(), &k.pub, &k.z, group.GeneratorTable(), rand)
}

// VerifyTagKey checks a published tag key: not the identity (a trustee with
// z_j = 0 would map every tag to the identity), and its proof of knowledge
// (a key made from others' keys could cancel theirs).
func VerifyTagKey(ext [32]byte, j int, pub *group.Element, p *zkp.SchnorrProof) error {
	if pub.IsIdentity() == 1 {
		return fmt.Errorf("%w: trustee %d: identity", ErrTagKey, j)
	}
	if err := p.Verify(tagKeyContext(ext, j), group.NewGeneratorElement(), pub); err != nil {
		return fmt.Errorf("%w: trustee %d: %w", ErrTagKey, j, err)
	}
	return nil
}

// A BlindStep is one trustee's blinding of the tag list (spec §15.5 step
// 3): every ciphertext (A_l, B_l) raised to z_j, with one batched
// Chaum-Pedersen proof.
type BlindStep struct {
	Context [32]byte // the extended hash
	Trustee int
	Out     []*elgamal.Ciphertext
	Proof   *zkp.DLEQProof
}

// blindWeights derives (ρ_l, σ_l) from the transcript of §15.5:
//
//	T = Init("evote-v1/revote/blind", ext)
//	AppendUint64("trustee", j); Append("tag-key", Z_j)
//	Append("input", u32(L) || Ciphertext…); Append("output", u32(L) || Ciphertext…)
//	seed = ChallengeBytes("seed")
//	h_l = SHA-512(string("evote-v1/revote/blind-weight") || seed || u64(l))
//	ρ_l = LE(h_l[0..16]), σ_l = LE(h_l[16..32])
func blindWeights(ext [32]byte, j int, pub *group.Element, in, out []*elgamal.Ciphertext) (rho, sigma []*group.Scalar) {
	t := zkp.NewTranscript(BlindProtocol, ext[:])
	t.AppendUint64("trustee", uint64(j))
	t.AppendElement("tag-key", pub)
	t.AppendMessage("input", encodeCiphertexts(nil, in))
	t.AppendMessage("output", encodeCiphertexts(nil, out))
	seed := t.ChallengeBytes("seed")
	prefix := appendString(nil, BlindWeightTag)
	prefix = append(prefix, seed...)
	msg := make([]byte, len(prefix)+8)
	copy(msg, prefix)
	rho = make([]*group.Scalar, len(in))
	sigma = make([]*group.Scalar, len(in))
	for l := range in {
		binary.BigEndian.PutUint64(msg[len(prefix):], uint64(l))
		h := sha512.Sum512(msg)
		var err error
		if rho[l], err = new(group.Scalar).SetShortBytes(h[:16]); err != nil {
			panic("revote: 128-bit weight rejected")
		}
		if sigma[l], err = new(group.Scalar).SetShortBytes(h[16:32]); err != nil {
			panic("revote: 128-bit weight rejected")
		}
	}
	return rho, sigma
}

// blindContext is the DLEQ context of a blinding proof:
// string("evote-v1/revote/blind") || ext || u16(j) || u64(L).
func blindContext(ext [32]byte, j, n int) []byte {
	b := appendString(nil, BlindProtocol)
	b = append(b, ext[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(j))
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

// combine returns Σ ρ_l·A_l + σ_l·B_l.
func combine(rho, sigma []*group.Scalar, cts []*elgamal.Ciphertext) *group.Element {
	sc := make([]*group.Scalar, 0, 2*len(cts))
	el := make([]*group.Element, 0, 2*len(cts))
	for l, c := range cts {
		sc = append(sc, rho[l], sigma[l])
		el = append(el, &c.A, &c.B)
	}
	return new(group.Element).VarTimeMultiScalarMult(sc, el)
}

// Blind is trustee k.Trustee's blinding step over in (spec §15.5 step 3).
func (k *TagKey) Blind(ext [32]byte, in []*elgamal.Ciphertext, rand io.Reader) (*BlindStep, error) {
	if len(in) == 0 || len(in) > MaxTags {
		return nil, fmt.Errorf("%w: %d ciphertexts", ErrParams, len(in))
	}
	out := make([]*elgamal.Ciphertext, len(in))
	parallel(len(in), func(lo, hi int) {
		for l := lo; l < hi; l++ {
			c := new(elgamal.Ciphertext)
			c.A.ScalarMult(&k.z, &in[l].A)
			c.B.ScalarMult(&k.z, &in[l].B)
			out[l] = c
		}
	})
	rho, sigma := blindWeights(ext, k.Trustee, &k.pub, in, out)
	xStar := combine(rho, sigma, in)
	yStar := new(group.Element).ScalarMult(&k.z, xStar)
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: &k.pub, G2: xStar, X2: yStar}
	p, err := zkp.ProveDLEQ(blindContext(ext, k.Trustee, len(in)), st, &k.z, group.GeneratorTable(), rand)
	if err != nil {
		return nil, fmt.Errorf("revote: blinding proof: %w", err)
	}
	return &BlindStep{Context: ext, Trustee: k.Trustee, Out: out, Proof: p}, nil
}

// VerifyBlind checks step as the blinding of in by the trustee whose tag key
// is pub: same context and length, and the batched proof. If some output
// is not its input raised to z_j the combined statement is false except
// with probability about 2^−128.
func VerifyBlind(ext [32]byte, pub *group.Element, in []*elgamal.Ciphertext, step *BlindStep) error {
	if step == nil || step.Proof == nil {
		return fmt.Errorf("%w: missing step", ErrBlindProof)
	}
	if step.Context != ext {
		return fmt.Errorf("%w: trustee %d: wrong context", ErrBlindProof, step.Trustee)
	}
	if len(step.Out) != len(in) {
		return fmt.Errorf("%w: trustee %d: %d ciphertexts for %d", ErrBlindProof, step.Trustee, len(step.Out), len(in))
	}
	rho, sigma := blindWeights(ext, step.Trustee, pub, in, step.Out)
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: pub, G2: combine(rho, sigma, in), X2: combine(rho, sigma, step.Out)}
	if err := step.Proof.Verify(blindContext(ext, step.Trustee, len(in)), st); err != nil {
		return fmt.Errorf("%w: trustee %d: %w", ErrBlindProof, step.Trustee, err)
	}
	return nil
}

// MaxTags bounds the ciphertexts of a blinding step: two per row, at most
// 2^24 rows (spec §6.1).
const MaxTags = 1 << 25

// Bytes encodes the step: u8(1) || ext[32] || u16(j) || u32(L) ||
// Ciphertext[L] || DLEQProof (96 bytes).
func (s *BlindStep) Bytes() []byte {
	b := []byte{1}
	b = append(b, s.Context[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(s.Trustee))
	b = encodeCiphertexts(b, s.Out)
	return append(b, s.Proof.Bytes()...)
}

// ParseBlindStep decodes a step, refusing every other encoding.
func ParseBlindStep(b []byte) (*BlindStep, error) {
	if len(b) < 1+32+2+4+zkp.DLEQProofSize || b[0] != 1 {
		return nil, fmt.Errorf("%w: blinding step header", ErrMalformed)
	}
	s := &BlindStep{}
	copy(s.Context[:], b[1:33])
	s.Trustee = int(binary.BigEndian.Uint16(b[33:35]))
	if s.Trustee < 1 || s.Trustee > 32 {
		return nil, fmt.Errorf("%w: trustee %d", ErrMalformed, s.Trustee)
	}
	n := binary.BigEndian.Uint32(b[35:39])
	rest := b[39:]
	if n == 0 || n > MaxTags || uint64(len(rest)) != uint64(n)*elgamal.CiphertextSize+zkp.DLEQProofSize {
		return nil, fmt.Errorf("%w: blinding step length", ErrMalformed)
	}
	s.Out = make([]*elgamal.Ciphertext, n)
	for l := range s.Out {
		c, err := new(elgamal.Ciphertext).SetBytes(rest[:elgamal.CiphertextSize])
		if err != nil {
			return nil, fmt.Errorf("%w: ciphertext %d: %w", ErrMalformed, l, err)
		}
		s.Out[l] = c
		rest = rest[elgamal.CiphertextSize:]
	}
	p, err := zkp.ParseDLEQProof(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	s.Proof = p
	return s, nil
}

func encodeCiphertexts(b []byte, cts []*elgamal.Ciphertext) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(cts)))
	for _, c := range cts {
		b = c.AppendBytes(b)
	}
	return b
}

// parallel runs f over [0, n) in chunks on all cores.
func parallel(n int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 64 || workers == 1 {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() { defer wg.Done(); f(lo, hi) }()
	}
	wg.Wait()
}
