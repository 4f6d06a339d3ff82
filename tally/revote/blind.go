package revote

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/zkp"
	"evote/internal/parallel"
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
// Chaum-Pedersen proof. Out is held encoded, as one column (a tag list of
// a million ballots is 7.6 million ciphertexts: 490 MB encoded, about 2.5
// GB decoded).
type BlindStep struct {
	Context [32]byte // the extended hash
	Trustee int
	Out     *shuffle.Rows // width 1
	Proof   *zkp.DLEQProof
}

// blindChunk is the number of ciphertexts of a list decoded at a time by
// one core when weights are applied.
const blindChunk = 4096

// blindSeed is the seed of the weights (ρ_l, σ_l) of §15.5:
//
//	T = Init("evote-v1/revote/blind", ext)
//	AppendUint64("trustee", j); Append("tag-key", Z_j)
//	Append("input", u32(L) || Ciphertext…); Append("output", u32(L) || Ciphertext…)
//	seed = ChallengeBytes("seed")
//	h_l = SHA-512(string("evote-v1/revote/blind-weight") || seed || u64(l))
//	ρ_l = LE(h_l[0..16]), σ_l = LE(h_l[16..32])
//
// It returns the prefix string("evote-v1/revote/blind-weight") || seed of
// every h_l (blindWeightsAt).
func blindSeed(ext [32]byte, j int, pub *group.Element, in, out *shuffle.Rows) []byte {
	t := zkp.NewTranscript(BlindProtocol, ext[:])
	t.AppendUint64("trustee", uint64(j))
	t.AppendElement("tag-key", pub)
	t.AppendMessageParts("input", binary.BigEndian.AppendUint32(nil, uint32(in.Len())), in.Encoding())
	t.AppendMessageParts("output", binary.BigEndian.AppendUint32(nil, uint32(out.Len())), out.Encoding())
	seed := t.ChallengeBytes("seed")
	return append(appendString(nil, BlindWeightTag), seed...)
}

// blindWeightsAt returns (ρ_l, σ_l) for l in [lo, hi) from the prefix
// blindSeed returns.
func blindWeightsAt(prefix []byte, lo, hi int) (rho, sigma []group.Scalar) {
	msg := make([]byte, len(prefix)+8)
	copy(msg, prefix)
	rho = make([]group.Scalar, hi-lo)
	sigma = make([]group.Scalar, hi-lo)
	for l := lo; l < hi; l++ {
		binary.BigEndian.PutUint64(msg[len(prefix):], uint64(l))
		h := sha512.Sum512(msg)
		if _, err := rho[l-lo].SetShortBytes(h[:16]); err != nil {
			panic("revote: 128-bit weight rejected")
		}
		if _, err := sigma[l-lo].SetShortBytes(h[16:32]); err != nil {
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

// combineLists returns, for each k, Σ_l ρ_kl·A_l + σ_kl·B_l over the
// ciphertexts of lists[k], with the weights of prefixes[k]
// (blindWeightsAt). The lists have the same length; each is decoded a
// chunk at a time on all cores, once for consecutive sums over the same
// list, so that memory stays that of the encodings.
func combineLists(prefixes [][]byte, lists []*shuffle.Rows) []*group.Element {
	n := lists[0].Len()
	partial := make([][]*group.Element, (n+blindChunk-1)/blindChunk)
	parallel.Workers(n, blindChunk, func() func(c, lo, hi int) { return combineChunk(prefixes, lists, partial) })
	out := make([]*group.Element, len(lists))
	for k := range out {
		out[k] = group.NewIdentityElement()
		for c := range partial {
			out[k].Add(out[k], partial[c][k])
		}
	}
	return out
}

// combineChunk returns one worker of combineLists, with its buffers: it
// sets chunk c's partial sums, for [lo, hi).
func combineChunk(prefixes [][]byte, lists []*shuffle.Rows, partial [][]*group.Element) func(c, lo, hi int) {
	els := make([]group.Element, 2*blindChunk)
	ptr := make([]*group.Element, 2*blindChunk)
	sc := make([]*group.Scalar, 2*blindChunk)
	return func(c, lo, hi int) {
		partial[c] = make([]*group.Element, len(lists))
		for k, list := range lists {
			enc := list.Encoding()
			for l := lo; l < hi && (k == 0 || list != lists[k-1]); l++ {
				for h := range 2 {
					e := &els[2*(l-lo)+h]
					off := l*elgamal.CiphertextSize + h*group.ElementSize
					if _, err := e.SetCanonicalBytes(enc[off : off+group.ElementSize]); err != nil {
						panic("revote: rows hold a non-canonical element")
					}
					ptr[2*(l-lo)+h] = e
				}
			}
			rho, sigma := blindWeightsAt(prefixes[k], lo, hi)
			for l := range hi - lo {
				sc[2*l], sc[2*l+1] = &rho[l], &sigma[l]
			}
			m := 2 * (hi - lo)
			partial[c][k] = new(group.Element).VarTimeMultiScalarMult(sc[:m], ptr[:m])
		}
	}
}

// Blind is trustee k.Trustee's blinding step over in, a list of width 1
// (spec §15.5 step 3).
func (k *TagKey) Blind(ext [32]byte, in *shuffle.Rows, rand io.Reader) (*BlindStep, error) {
	if in == nil || in.Width() != 1 || in.Len() == 0 || in.Len() > MaxTags {
		return nil, fmt.Errorf("%w: not a list of 1 to %d ciphertexts", ErrParams, MaxTags)
	}
	out := in.Map(func(_ int, c *elgamal.Ciphertext) {
		c.A.ScalarMult(&k.z, &c.A)
		c.B.ScalarMult(&k.z, &c.B)
	})
	prefix := blindSeed(ext, k.Trustee, &k.pub, in, out)
	xStar := combineLists([][]byte{prefix}, []*shuffle.Rows{in})[0]
	// Y* = X*^z exactly for an honest trustee; computing it from z saves
	// a second combination.
	yStar := new(group.Element).ScalarMult(&k.z, xStar)
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: &k.pub, G2: xStar, X2: yStar}
	p, err := zkp.ProveDLEQ(blindContext(ext, k.Trustee, in.Len()), st, &k.z, group.GeneratorTable(), rand)
	if err != nil {
		return nil, fmt.Errorf("revote: blinding proof: %w", err)
	}
	return &BlindStep{Context: ext, Trustee: k.Trustee, Out: out, Proof: p}, nil
}

// VerifyBlind checks step as the blinding of in by the trustee whose tag key
// is pub: same context and length, and the batched proof. If some output
// is not its input raised to z_j the combined statement is false except
// with probability about 2^−128.
func VerifyBlind(ext [32]byte, pub *group.Element, in *shuffle.Rows, step *BlindStep) error {
	return verifySteps(ext, []*group.Element{pub}, in, []*BlindStep{step})
}

// verifySteps checks a sequence of blinding steps over in, step k by the
// trustee whose tag key is pubs[k] over the output of step k − 1, decoding
// every list once. The error names the first step that fails.
func verifySteps(ext [32]byte, pubs []*group.Element, in *shuffle.Rows, steps []*BlindStep) error {
	lists := []*shuffle.Rows{in}
	for _, step := range steps {
		if step == nil || step.Proof == nil || step.Out == nil {
			return fmt.Errorf("%w: missing step", ErrBlindProof)
		}
		if step.Context != ext {
			return fmt.Errorf("%w: trustee %d: wrong context", ErrBlindProof, step.Trustee)
		}
		if step.Out.Width() != 1 || step.Out.Len() != in.Len() {
			return fmt.Errorf("%w: trustee %d: %d×%d ciphertexts for %d", ErrBlindProof, step.Trustee, step.Out.Len(), step.Out.Width(), in.Len())
		}
		lists = append(lists, step.Out)
	}
	if in.Width() != 1 || in.Len() == 0 {
		return fmt.Errorf("%w: input of %d×%d ciphertexts", ErrBlindProof, in.Len(), in.Width())
	}
	// The sums over each step's input and output, in the order of lists:
	// step k's input is lists[k] and its output lists[k+1].
	var prefixes [][]byte
	var which []*shuffle.Rows
	for k, step := range steps {
		prefix := blindSeed(ext, step.Trustee, pubs[k], lists[k], lists[k+1])
		prefixes = append(prefixes, prefix, prefix)
		which = append(which, lists[k], lists[k+1])
	}
	sums := combineLists(prefixes, which)
	for k, step := range steps {
		st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: pubs[k], G2: sums[2*k], X2: sums[2*k+1]}
		if err := step.Proof.Verify(blindContext(ext, step.Trustee, in.Len()), st); err != nil {
			return fmt.Errorf("%w: trustee %d: %w", ErrBlindProof, step.Trustee, err)
		}
	}
	return nil
}

// MaxTags bounds the ciphertexts of a blinding step: as many as one
// decryption share covers (threshold.MaxShareCiphertexts, a list of
// shuffle.MaxRows), two per filter row.
const MaxTags = shuffle.MaxRows

// Bytes encodes the step: u8(1) || ext[32] || u16(j) || u32(L) ||
// Ciphertext[L] || DLEQProof (96 bytes).
func (s *BlindStep) Bytes() []byte {
	b := make([]byte, 0, 1+32+2+4+len(s.Out.Encoding())+zkp.DLEQProofSize)
	b = append(b, 1)
	b = append(b, s.Context[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(s.Trustee))
	b = binary.BigEndian.AppendUint32(b, uint32(s.Out.Len()))
	b = append(b, s.Out.Encoding()...)
	return append(b, s.Proof.Bytes()...)
}

// ParseBlindStep decodes a step, refusing every other encoding (every
// element is decoded once, on all cores, and the list kept encoded).
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
	enc := make([]byte, 0, 8+int(n)*elgamal.CiphertextSize)
	enc = binary.BigEndian.AppendUint32(enc, n)
	enc = binary.BigEndian.AppendUint32(enc, 1)
	enc = append(enc, rest[:int(n)*elgamal.CiphertextSize]...)
	out, err := shuffle.ParseRowsAliasing(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	s.Out = out
	p, err := zkp.ParseDLEQProof(rest[int(n)*elgamal.CiphertextSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	s.Proof = p
	return s, nil
}
