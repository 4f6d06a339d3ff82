package shuffle

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

// Protocol is the transcript protocol name of the proof of shuffle (spec
// §1.2, §6.4).
const Protocol = "evote-v1/shuffle"

// Params names the statement around a shuffle: the election, the mixing
// trustee and the key the ciphertexts are encrypted under.
type Params struct {
	// ElectionID is the election id (spec §9.1); it seeds the commitment
	// generators and is bound into the proof.
	ElectionID []byte
	// Context is the election's context hash (the extended hash, spec
	// §9.2), bound into the proof.
	Context []byte
	// Mixer is the trustee index of the mixer (1..n). It is bound into the
	// proof, so a proof cannot be presented as another trustee's.
	Mixer uint32
	// PublicKey is the election public key.
	PublicKey *elgamal.PublicKey
	// Generators, if not nil, are generators derived earlier by
	// DeriveGenerators; they are used only if derived from ElectionID for
	// at least as many rows, and derived afresh otherwise.
	Generators *Generators
	// Progress, if not nil, receives progress reports.
	Progress Progress
}

func (p *Params) check() error {
	if p == nil || p.PublicKey == nil {
		return errors.New("shuffle: missing parameters or public key")
	}
	return nil
}

// newTranscript starts the proof's transcript (spec §6.4) and absorbs the
// statement: election, generators' label, mixer, key, shape, the input's
// digest and the output rows.
func newTranscript(p *Params, inDigest [32]byte, out *Rows) *zkp.Transcript {
	t := zkp.NewTranscript(Protocol, p.Context)
	t.AppendMessage("election-id", p.ElectionID)
	t.AppendMessage("generators", []byte(GeneratorLabel))
	t.AppendUint64("mixer", uint64(p.Mixer))
	t.AppendMessage("public-key", p.PublicKey.Bytes())
	t.AppendUint64("rows", uint64(out.n))
	t.AppendUint64("width", uint64(out.w))
	t.AppendMessage("input", inDigest[:])
	t.AppendMessage("output", out.data)
	return t
}

// batchingChallenges absorbs the permutation commitments and derives the
// N batching challenges u_j = LE(SHA-256(seed || u64(j))[0:16]), each below
// 2^128, from seed = ChallengeBytes("batching").
func batchingChallenges(t *zkp.Transcript, perm []byte, n int) []group.Scalar {
	t.AppendMessage("permutation-commitments", perm)
	seed := t.ChallengeBytes("batching")
	u := make([]group.Scalar, n)
	_ = forChunks(n, 8192, nil, func(lo, hi int) error {
		msg := make([]byte, len(seed)+8)
		copy(msg, seed)
		for j := lo; j < hi; j++ {
			binary.BigEndian.PutUint64(msg[len(seed):], uint64(j))
			d := sha256.Sum256(msg)
			if _, err := u[j].SetShortBytes(d[:16]); err != nil {
				panic("shuffle: 128-bit challenge rejected")
			}
		}
		return nil
	})
	return u
}

// finalChallenge absorbs the rest of the proof's commitments and returns c.
func finalChallenge(t *zkp.Transcript, p *Proof) *group.Scalar {
	t.AppendMessage("chain-commitments", p.chain)
	t.AppendMessage("commitments", p.t)
	t.AppendMessage("chain-nonces", p.nonce)
	return t.Challenge("challenge")
}

// checkShape verifies that in, out and proof describe the same N and w.
func checkShape(in, out *Rows, proof *Proof) error {
	switch {
	case in == nil || out == nil || proof == nil:
		return fmt.Errorf("%w: missing input, output or proof", ErrMalformed)
	case in.n < 1:
		return fmt.Errorf("%w: empty input", ErrMalformed)
	case out.n != in.n:
		return fmt.Errorf("%w: output has %d rows, input %d", ErrRowCount, out.n, in.n)
	case out.w != in.w:
		return fmt.Errorf("%w: output width %d, input width %d", ErrMalformed, out.w, in.w)
	case proof.n != in.n || proof.w != in.w:
		return fmt.Errorf("%w: proof for %d rows of width %d, statement has %d of width %d", ErrMalformed, proof.n, proof.w, in.n, in.w)
	}
	return nil
}
