package revote

import (
	"fmt"
	"io"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/zkp"
)

// MaxDepth bounds the manifest's max_ballots M (spec §15.1): a voter's
// rows have depths 1..M, proven with a range proof of M − 1 + 1 branches.
const MaxDepth = 64

// A Row is one board row as the filter reads it (spec §15.3), in board
// order: the encrypted voter identifier (from the row's credential), the
// encrypted depth the ballot box assigned (exponential ElGamal, d ∈ [1, M]),
// the encrypted real-ballot flag (f = 1 for a voter's online ballot, 0 for a
// dummy or an in-person mark) and the ballot's contest ciphertexts.
type Row struct {
	ID     *elgamal.Ciphertext
	Depth  *elgamal.Ciphertext
	Flag   *elgamal.Ciphertext
	Ballot []*elgamal.Ciphertext
}

// Current returns T = ID · Depth, an encryption of V·g^d (spec §15.5).
func (r *Row) Current() *elgamal.Ciphertext {
	return new(elgamal.Ciphertext).Add(r.ID, r.Depth)
}

// Successor returns S = T · (1, g), an encryption of V·g^{d+1}: the current
// value of the row that would supersede this one.
func (r *Row) Successor() *elgamal.Ciphertext {
	t := r.Current()
	t.B.Add(&t.B, group.NewGeneratorElement())
	return t
}

// Lists builds the filter's two input lists from the board rows (spec
// §15.5 step 1): X, of width 3 + w, whose row j is
// (S_j, ID_j, Flag_j, Ballot_j…), and Y, of width 1, whose row j is (T_j).
// Both are public functions of the board: every verifier recomputes them.
func Lists(rows []Row) (x, y *shuffle.Rows, err error) {
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("%w: no rows", ErrParams)
	}
	w := len(rows[0].Ballot)
	xs := make([]*elgamal.Ciphertext, 0, len(rows)*(3+w))
	ys := make([]*elgamal.Ciphertext, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		if len(r.Ballot) != w || r.ID == nil || r.Depth == nil || r.Flag == nil {
			return nil, nil, fmt.Errorf("%w: row %d", ErrMalformed, i)
		}
		xs = append(xs, r.Successor(), r.ID, r.Flag)
		xs = append(xs, r.Ballot...)
		ys = append(ys, r.Current())
	}
	if x, err = shuffle.NewRows(3+w, xs); err != nil {
		return nil, nil, fmt.Errorf("revote: list X: %w", err)
	}
	if y, err = shuffle.NewRows(1, ys); err != nil {
		return nil, nil, fmt.Errorf("revote: list Y: %w", err)
	}
	return x, y, nil
}

// DepthProofContext is the context of a row's depth proof (spec §15.3):
// string("evote-v1/revote/depth") || extended hash || credential key, so
// that a proof moved to another row or election fails.
func DepthProofContext(ext [32]byte, credentialKey [32]byte) []byte {
	b := appendString(nil, DepthContext)
	b = append(b, ext[:]...)
	return append(b, credentialKey[:]...)
}

// FlagProofContext is the context of a ballot's flag proof (spec §15.2,
// §15.3): string("evote-v1/revote/flag") || extended hash || credential key.
func FlagProofContext(ext [32]byte, credentialKey [32]byte) []byte {
	b := appendString(nil, FlagContext)
	b = append(b, ext[:]...)
	return append(b, credentialKey[:]...)
}

// EncryptFlag encrypts a row's flag f ∈ {0, 1} with its range proof
// (k = 1) under the row's context.
func EncryptFlag(pk *elgamal.PublicKey, ctx []byte, f uint64, rand io.Reader) (*elgamal.Ciphertext, *zkp.RangeProof, error) {
	if f > 1 {
		return nil, nil, fmt.Errorf("%w: flag %d", ErrParams, f)
	}
	c, r, err := pk.Encrypt(f, rand)
	if err != nil {
		return nil, nil, fmt.Errorf("revote: flag: %w", err)
	}
	p, err := zkp.ProveRange(ctx, &zkp.RangeStatement{PK: pk, Ciphertext: c, Max: 1}, f, r, rand)
	if err != nil {
		return nil, nil, fmt.Errorf("revote: flag proof: %w", err)
	}
	return c, p, nil
}

// VerifyFlag checks a row's flag proof.
func VerifyFlag(pk *elgamal.PublicKey, ctx []byte, flag *elgamal.Ciphertext, p *zkp.RangeProof) error {
	if err := p.Verify(ctx, &zkp.RangeStatement{PK: pk, Ciphertext: flag, Max: 1}); err != nil {
		return fmt.Errorf("%w: %w", ErrFlag, err)
	}
	return nil
}

// IDProofContext is the context of a credential's proof of knowledge of the
// randomness s of its encrypted identifier (spec §15.2):
// string("evote-v1/revote/id-knowledge") || extended hash || credential key.
func IDProofContext(ext [32]byte, credentialKey [32]byte) []byte {
	b := appendString(nil, IDContext)
	b = append(b, ext[:]...)
	return append(b, credentialKey[:]...)
}

// EncryptID encrypts identifier v as C_id = (g^s, h^s·v) and proves
// knowledge of s (a Schnorr proof on C_id's first component, spec §15.2).
// The proof makes C_id plaintext-aware: whoever makes it knows s, hence
// the plaintext, so a credential cannot carry a re-randomised copy of
// someone else's ciphertext (a vote) to have the filter's tags or the roll
// call decrypt or compare it.
func EncryptID(pk *elgamal.PublicKey, ctx []byte, v *group.Element, rand io.Reader) (*elgamal.Ciphertext, *group.Scalar, *zkp.SchnorrProof, error) {
	c, s, err := pk.Encrypt(0, rand)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("revote: identifier: %w", err)
	}
	c.B.Add(&c.B, v)
	p, err := zkp.ProveSchnorr(ctx, group.NewGeneratorElement(), &c.A, s, group.GeneratorTable(), rand)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("revote: identifier proof: %w", err)
	}
	return c, s, p, nil
}

// VerifyID checks a credential's proof of knowledge of s.
func VerifyID(ctx []byte, id *elgamal.Ciphertext, p *zkp.SchnorrProof) error {
	if err := p.Verify(ctx, group.NewGeneratorElement(), &id.A); err != nil {
		return fmt.Errorf("%w: %w", ErrIDKnowledge, err)
	}
	return nil
}

// OpensTo reports whether C_id = (g^s, h^s·v): the voter's device checks
// its credential with the s it was given and v = VoterID(election, sub).
func OpensTo(pk *elgamal.PublicKey, id *elgamal.Ciphertext, s *group.Scalar, v *group.Element) bool {
	want := pk.EncryptWithRandomness(new(group.Scalar), s)
	want.B.Add(&want.B, v)
	return want.Equal(id)
}

// DepthStatement is the range statement of a depth proof, for verifiers
// that batch it: Depth·(1, g^−1) encrypts d − 1 ∈ [0, M − 1].
func DepthStatement(pk *elgamal.PublicKey, depth *elgamal.Ciphertext, m int) *zkp.RangeStatement {
	return depthStatement(pk, depth, m)
}

// depthStatement is the range statement of a depth proof: Depth·(1, g^−1)
// encrypts d − 1 ∈ [0, M − 1].
func depthStatement(pk *elgamal.PublicKey, depth *elgamal.Ciphertext, m int) *zkp.RangeStatement {
	shifted := new(elgamal.Ciphertext).Set(depth)
	shifted.B.Subtract(&shifted.B, group.NewGeneratorElement())
	return &zkp.RangeStatement{PK: pk, Ciphertext: shifted, Max: m - 1}
}

// EncryptDepth is the ballot box's encryption of depth d ∈ [1, m] for the
// row of the credential key, with its range proof (spec §15.3).
func EncryptDepth(pk *elgamal.PublicKey, ctx []byte, d, m int, rand io.Reader) (*elgamal.Ciphertext, *zkp.RangeProof, error) {
	if m < 1 || m > MaxDepth || d < 1 || d > m {
		return nil, nil, fmt.Errorf("%w: depth %d of %d", ErrParams, d, m)
	}
	c, r, err := pk.Encrypt(uint64(d), rand)
	if err != nil {
		return nil, nil, fmt.Errorf("revote: depth: %w", err)
	}
	p, err := zkp.ProveRange(ctx, depthStatement(pk, c, m), uint64(d-1), r, rand)
	if err != nil {
		return nil, nil, fmt.Errorf("revote: depth proof: %w", err)
	}
	return c, p, nil
}

// VerifyDepth checks a row's depth proof.
func VerifyDepth(pk *elgamal.PublicKey, ctx []byte, depth *elgamal.Ciphertext, m int, p *zkp.RangeProof) error {
	if m < 1 || m > MaxDepth {
		return fmt.Errorf("%w: max depth %d", ErrParams, m)
	}
	if err := p.Verify(ctx, depthStatement(pk, depth, m)); err != nil {
		return fmt.Errorf("%w: %w", ErrDepth, err)
	}
	return nil
}
