package revote

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

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

// A RowList holds the filter's rows as the rules collect them from the
// board, encoded: per row ID || Flag || Ballot… as appended (one part per
// Append) and, once the depths entry is on the board, Depth (64 bytes a
// ciphertext). A million ballots' rows take 1.2 GB so, about 6 GB decoded
// as []Row. The zero value is an empty list; a nil list has no rows.
type RowList struct {
	parts []*shuffle.Rows // ID, Flag, Ballot…; every part of one width
	ends  []int           // rows up to the end of each part
	depth []byte          // 64 bytes a row
	set   []bool          // whether row i's Depth is set
}

// Len returns the number of rows.
func (l *RowList) Len() int {
	if l == nil || len(l.ends) == 0 {
		return 0
	}
	return l.ends[len(l.ends)-1]
}

// Append adds rows, whose Depth is ignored (SetDepth sets it). Every row
// must have the width of the list's first.
func (l *RowList) Append(rows ...Row) error {
	if len(rows) == 0 {
		return nil
	}
	w := len(rows[0].Ballot)
	if len(l.parts) > 0 {
		w = l.parts[0].Width() - 2
	}
	cts := make([]*elgamal.Ciphertext, 0, len(rows)*(2+w))
	for i := range rows {
		r := &rows[i]
		if r.ID == nil || r.Flag == nil || len(r.Ballot) != w || slices.Contains(r.Ballot, nil) {
			return fmt.Errorf("%w: row %d", ErrMalformed, l.Len()+i)
		}
		cts = append(append(cts, r.ID, r.Flag), r.Ballot...)
	}
	part, err := shuffle.NewRows(2+w, cts)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	l.parts = append(l.parts, part)
	l.ends = append(l.ends, l.Len()+len(rows))
	l.depth = append(l.depth, make([]byte, len(rows)*elgamal.CiphertextSize)...)
	l.set = append(l.set, make([]bool, len(rows))...)
	return nil
}

// SetDepth sets the Depth of row i.
func (l *RowList) SetDepth(i int, d *elgamal.Ciphertext) {
	d.AppendBytes(l.depth[i*elgamal.CiphertextSize : i*elgamal.CiphertextSize])
	l.set[i] = true
}

// Flag decodes the Flag of row i.
func (l *RowList) Flag(i int) (*elgamal.Ciphertext, error) {
	k, _ := slices.BinarySearch(l.ends, i+1)
	start := 0
	if k > 0 {
		start = l.ends[k-1]
	}
	return l.parts[k].Ciphertext(i-start, 1)
}

// Lists returns the filter's input lists as Lists does, computing S and T
// a part at a time on all cores (the other columns of X are copied as
// encoded). Every Depth must have been set.
func (l *RowList) Lists() (x, y *shuffle.Rows, err error) {
	if l.Len() == 0 {
		return nil, nil, fmt.Errorf("%w: no rows", ErrParams)
	}
	xs, ys := make([]*shuffle.Rows, len(l.parts)), make([]*shuffle.Rows, len(l.parts))
	errs := make([]error, len(l.parts))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(l.parts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1)) - 1; k < len(l.parts); k = int(next.Add(1)) - 1 {
				xs[k], ys[k], errs[k] = l.lists(k)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	if x, err = shuffle.Concat(xs...); err != nil {
		return nil, nil, fmt.Errorf("revote: list X: %w", err)
	}
	if y, err = shuffle.Concat(ys...); err != nil {
		return nil, nil, fmt.Errorf("revote: list Y: %w", err)
	}
	return x, y, nil
}

// lists returns part k's rows of X and Y.
func (l *RowList) lists(k int) (x, y *shuffle.Rows, err error) {
	const size = elgamal.CiphertextSize
	part, lo := l.parts[k], 0
	if k > 0 {
		lo = l.ends[k-1]
	}
	ss := make([]*elgamal.Ciphertext, part.Len())
	ts := make([]*elgamal.Ciphertext, part.Len())
	for i := range part.Len() {
		var r Row
		if r.ID, err = part.Ciphertext(i, 0); err != nil {
			return nil, nil, fmt.Errorf("%w: row %d: %w", ErrMalformed, lo+i, err)
		}
		if !l.set[lo+i] {
			return nil, nil, fmt.Errorf("%w: row %d has no depth", ErrMalformed, lo+i)
		}
		if r.Depth, err = new(elgamal.Ciphertext).SetBytes(l.depth[(lo+i)*size : (lo+i+1)*size]); err != nil {
			return nil, nil, fmt.Errorf("%w: row %d's depth: %w", ErrMalformed, lo+i, err)
		}
		ss[i], ts[i] = r.Successor(), r.Current()
	}
	s, err := shuffle.NewRows(1, ss)
	if err != nil {
		return nil, nil, err
	}
	if x, err = shuffle.Join(s, part); err != nil {
		return nil, nil, err
	}
	if y, err = shuffle.NewRows(1, ts); err != nil {
		return nil, nil, err
	}
	return x, y, nil
}
