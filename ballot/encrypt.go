package ballot

import (
	"errors"
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
)

// ErrInvalidChoice is returned when a voter's selection is not allowed by
// the contest.
var ErrInvalidChoice = errors.New("ballot: invalid choice")

// ErrEntropy is returned when the randomness source keeps giving the
// randomness 0, which would put the vote in clear (ErrClearCiphertext): a
// broken source, since an honest one does so with probability 2^-252.
var ErrEntropy = errors.New("ballot: the randomness source gives zero")

// maxZeroDraws bounds the redraws of a zero randomness.
const maxZeroDraws = 4

// Election is what a device or verifier needs to encrypt or check ballots:
// the manifest, the joint public key and the extended hash.
type Election struct {
	Manifest     *Manifest
	PublicKey    *elgamal.PublicKey
	ExtendedHash [32]byte
}

// A PreparedBallot is an encrypted ballot together with its opening. The
// device keeps it until the voter casts (then the opening is erased) or
// audits (then the opening is published and the ballot is never cast).
type PreparedBallot struct {
	Ballot     *EncryptedBallot
	Plaintexts [][]uint32
	Randomness [][]*group.Scalar
}

// Selection maps a contest id to the chosen candidates, as 0-based indices
// into the contest's candidate list; an absent or empty entry is a blank
// vote.
type Selection map[string][]int

// Plaintexts converts a selection to the values each contest encrypts
// (spec §9.3): for single choice [m] with m = index+1 or 0 for blank; for
// multi-select one 0/1 value per candidate.
func (c *Contest) Plaintexts(chosen []int) ([]uint32, error) {
	seen := map[int]bool{}
	for _, i := range chosen {
		if i < 0 || i >= len(c.Candidates) || seen[i] {
			return nil, fmt.Errorf("%w: contest %s: candidate index %d invalid or repeated", ErrInvalidChoice, c.ID, i)
		}
		seen[i] = true
	}
	if uint32(len(chosen)) > c.MaxSelections {
		return nil, fmt.Errorf("%w: contest %s: %d selections, at most %d", ErrInvalidChoice, c.ID, len(chosen), c.MaxSelections)
	}
	switch c.Kind {
	case SingleChoice:
		if len(chosen) == 0 {
			return []uint32{0}, nil
		}
		return []uint32{uint32(chosen[0] + 1)}, nil
	default:
		out := make([]uint32, len(c.Candidates))
		for _, i := range chosen {
			out[i] = 1
		}
		return out, nil
	}
}

// Encrypt encrypts a selection for the ballot style under the credential
// key and proves every contest well formed. rand is crypto/rand when nil.
func (e *Election) Encrypt(style string, credentialKey [32]byte, sel Selection, rand io.Reader) (*PreparedBallot, error) {
	st, ok := e.Manifest.Style(style)
	if !ok {
		return nil, fmt.Errorf("%w: unknown ballot style %q", ErrInvalidChoice, style)
	}
	for id := range sel {
		found := false
		for _, c := range st.Contests {
			found = found || c == id
		}
		if !found {
			return nil, fmt.Errorf("%w: contest %q is not on ballot style %s", ErrInvalidChoice, id, style)
		}
	}
	p := &PreparedBallot{Ballot: &EncryptedBallot{ElectionID: e.Manifest.ElectionID, Style: style, CredentialKey: credentialKey}}
	for i, id := range st.Contests {
		c, _ := e.Manifest.Contest(id)
		values, err := c.Plaintexts(sel[id])
		if err != nil {
			return nil, err
		}
		ctx := ContestContext(e.ExtendedHash, credentialKey, i, id)
		cb, rs, err := e.encryptContest(c, ctx, values, rand)
		if err != nil {
			return nil, err
		}
		p.Ballot.Contests = append(p.Ballot.Contests, *cb)
		p.Plaintexts = append(p.Plaintexts, values)
		p.Randomness = append(p.Randomness, rs)
	}
	return p, nil
}

func (e *Election) encryptContest(c *Contest, ctx []byte, values []uint32, rand io.Reader) (*ContestBallot, []*group.Scalar, error) {
	cb := &ContestBallot{}
	rs := make([]*group.Scalar, len(values))
	for j, v := range values {
		ct, r, err := e.encryptNonZero(uint64(v), rand)
		if err != nil {
			return nil, nil, err
		}
		cb.Ciphertexts = append(cb.Ciphertexts, ct)
		rs[j] = r
	}
	switch c.Kind {
	case SingleChoice:
		st := &zkp.RangeStatement{PK: e.PublicKey, Ciphertext: cb.Ciphertexts[0], Max: len(c.Candidates)}
		proof, err := zkp.ProveRange(ctx, st, uint64(values[0]), rs[0], rand)
		if err != nil {
			return nil, nil, fmt.Errorf("ballot: contest %s: %w", c.ID, err)
		}
		cb.Proof = proof.Bytes()
	default:
		ms := make([]uint64, len(values))
		for j, v := range values {
			ms[j] = uint64(v)
		}
		proof, err := zkp.ProveSum(ctx, multiSelectStatement(e.PublicKey, c, cb.Ciphertexts), ms, rs, rand)
		if err != nil {
			return nil, nil, fmt.Errorf("ballot: contest %s: %w", c.ID, err)
		}
		cb.Proof = proof.Bytes()
	}
	return cb, rs, nil
}

// encryptNonZero encrypts v with randomness that is not 0: a ciphertext
// with r = 0 shows its vote and is refused (spec §9.3).
func (e *Election) encryptNonZero(v uint64, rand io.Reader) (*elgamal.Ciphertext, *group.Scalar, error) {
	for range maxZeroDraws {
		ct, r, err := e.PublicKey.Encrypt(v, rand)
		if err != nil {
			return nil, nil, fmt.Errorf("ballot: %w", err)
		}
		if r.IsZero() == 0 {
			return ct, r, nil
		}
	}
	return nil, nil, ErrEntropy
}

// Audit returns the opening of the prepared ballot in the unlinked form
// published on the board (spec §9.4).
func (p *PreparedBallot) Audit() *AuditedBallot {
	a := &AuditedBallot{ElectionID: p.Ballot.ElectionID, Style: p.Ballot.Style}
	for i, c := range p.Ballot.Contests {
		a.Contests = append(a.Contests, AuditedContest{Ciphertexts: c.Ciphertexts, Plaintexts: p.Plaintexts[i], Randomness: p.Randomness[i]})
	}
	return a
}

// Verify checks everything about an encrypted ballot that does not depend
// on the rest of the board (spec §9.5 rules 1 and 4): its shape against the
// manifest and every proof under its proof contexts.
func (e *Election) Verify(b *EncryptedBallot) error {
	batch := zkp.NewBatch()
	if err := e.AddToBatch(batch, b, "ballot"); err != nil {
		return err
	}
	if err := batch.Verify(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidBallot, err)
	}
	return nil
}

// AddToBatch checks the ballot's shape and proof encodings and adds its
// proof equations to batch under the item name; the proofs hold only once
// batch.Verify succeeds. An error means nothing was added: every proof is
// decoded and checked against its statement before any equation goes in,
// so a refused ballot cannot leave equations behind in a batch shared with
// other ballots.
func (e *Election) AddToBatch(batch *zkp.Batch, b *EncryptedBallot, name string) error {
	style, err := b.checkShape(e.Manifest)
	if err != nil {
		return err
	}
	adds := make([]func() error, len(style.Contests))
	g, h := -1, -1 // registered below, once every proof has decoded
	for i, id := range style.Contests {
		c, _ := e.Manifest.Contest(id)
		cb := b.Contests[i]
		ctx := ContestContext(e.ExtendedHash, b.CredentialKey, i, id)
		item := fmt.Sprintf("%s contest %s", name, id)
		switch c.Kind {
		case SingleChoice:
			proof, err := zkp.ParseRangeProof(cb.Proof, len(c.Candidates))
			if err != nil {
				return fmt.Errorf("%w: contest %s proof: %w", ErrInvalidBallot, id, err)
			}
			st := &zkp.RangeStatement{PK: e.PublicKey, Ciphertext: cb.Ciphertexts[0], Max: len(c.Candidates)}
			adds[i] = func() error { return proof.AddToBatch(batch, item, ctx, st, g, h) }
		default:
			proof, err := zkp.ParseSumProof(cb.Proof, len(c.Candidates), 0, int(c.MaxSelections))
			if err != nil {
				return fmt.Errorf("%w: contest %s proof: %w", ErrInvalidBallot, id, err)
			}
			st := multiSelectStatement(e.PublicKey, c, cb.Ciphertexts)
			adds[i] = func() error { return proof.AddToBatch(batch, item, ctx, st, g, h) }
		}
	}
	g, h = e.batchBases(batch)
	for i, add := range adds {
		// The decoders were given the statements' bounds, so the proofs
		// have the statements' shapes and this cannot fail (if it did,
		// the earlier contests' equations would stay in the batch).
		if err := add(); err != nil {
			return fmt.Errorf("%w: contest %s: %w", ErrInvalidBallot, style.Contests[i], err)
		}
	}
	return nil
}

// batchBases registers g and the election key as shared bases of batch,
// once per batch.
func (e *Election) batchBases(batch *zkp.Batch) (g, h int) {
	return batch.Shared(group.NewGeneratorElement()), batch.Shared(e.PublicKey.Element())
}

// multiSelectStatement is the sum statement of a multi-select contest: each
// ciphertext encrypts 0 or 1 and at most MaxSelections are 1 (spec §4.6).
func multiSelectStatement(pk *elgamal.PublicKey, c *Contest, cts []*elgamal.Ciphertext) *zkp.SumStatement {
	return &zkp.SumStatement{PK: pk, Ciphertexts: cts, Min: 0, Max: int(c.MaxSelections)}
}
