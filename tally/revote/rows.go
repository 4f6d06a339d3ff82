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
