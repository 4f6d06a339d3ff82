package zkp

import (
	"crypto/rand"
	"errors"
	"fmt"

	"evote/crypto/group"
)

// ErrInvalidProof is returned (wrapped) by every verifier of this package
// when a proof does not verify.
var ErrInvalidProof = errors.New("zkp: proof does not verify")

// A Batch verifies many proof equations at once (spec §4.2). Each equation
// Π e_i^{s_i} = 1 is multiplied by an independent random 128-bit weight and
// all are summed into one multi-scalar multiplication; a false equation
// survives with probability at most 2^-128 (per batch). Bases shared by many
// equations (g, the election key) are merged into one term.
//
// If the combined check fails, Verify re-checks each item alone and names
// the first that fails, so one bad ballot cannot hide among good ones.
// A Batch is not safe for concurrent use.
type Batch struct {
	sharedBase   []*group.Element
	sharedScalar []*group.Scalar
	scalars      []*group.Scalar
	elements     []*group.Element
	items        []batchItem
}

type batchItem struct {
	name  string
	check func() error
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{} }

// Shared registers a base that many equations use and returns its handle.
func (b *Batch) Shared(e *group.Element) int {
	b.sharedBase = append(b.sharedBase, e)
	b.sharedScalar = append(b.sharedScalar, group.NewScalar())
	return len(b.sharedBase) - 1
}

// weight returns a fresh random scalar below 2^128 from crypto/rand.
func (b *Batch) weight() *group.Scalar {
	var buf [16]byte
	if _, err := rand.Read(buf[:]); err != nil {
		panic("zkp: crypto/rand failed: " + err.Error())
	}
	s, err := new(group.Scalar).SetShortBytes(buf[:])
	if err != nil {
		panic("zkp: 128-bit weight rejected")
	}
	return s
}

// An equation under construction: Σ terms = identity, all scaled by one
// random weight.
type equation struct {
	b *Batch
	w *group.Scalar
}

// equation starts a new weighted equation.
func (b *Batch) equation() equation { return equation{b: b, w: b.weight()} }

// term adds w·s·e.
func (q equation) term(s *group.Scalar, e *group.Element) {
	q.b.scalars = append(q.b.scalars, new(group.Scalar).Multiply(q.w, s))
	q.b.elements = append(q.b.elements, e)
}

// termNeg adds -w·e (a commitment on the right-hand side).
func (q equation) termNeg(e *group.Element) {
	q.b.scalars = append(q.b.scalars, new(group.Scalar).Negate(q.w))
	q.b.elements = append(q.b.elements, e)
}

// shared adds w·s to the shared base h.
func (q equation) shared(h int, s *group.Scalar) {
	acc := q.b.sharedScalar[h]
	acc.MultiplyAdd(q.w, s, acc)
}

// addItem records the fallback check of the item whose equations were just
// added.
func (b *Batch) addItem(name string, check func() error) {
	b.items = append(b.items, batchItem{name: name, check: check})
}

// Len returns the number of items in the batch.
func (b *Batch) Len() int { return len(b.items) }

// Verify checks every equation added. It returns nil if all hold; otherwise
// an error naming the first item that fails on its own (wrapping
// ErrInvalidProof).
func (b *Batch) Verify() error {
	if len(b.items) == 0 {
		return nil
	}
	scalars := append(append([]*group.Scalar{}, b.scalars...), b.sharedScalar...)
	elements := append(append([]*group.Element{}, b.elements...), b.sharedBase...)
	if new(group.Element).VarTimeMultiScalarMult(scalars, elements).IsIdentity() {
		return nil
	}
	for i, it := range b.items {
		if err := it.check(); err != nil {
			return &BatchError{Index: i, Name: it.name, Err: err}
		}
	}
	// Every item verifies alone, yet the combination failed: possible only
	// with probability 2^-128, or if an item's fallback check is weaker
	// than its batched equations.
	return fmt.Errorf("zkp: batch fails but every item verifies alone: %w", ErrInvalidProof)
}

// A BatchError names the item of a batch that failed.
type BatchError struct {
	Index int    // position of the item in the batch
	Name  string // the caller's name for the item
	Err   error
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("zkp: batch item %d (%s): %v", e.Index, e.Name, e.Err)
}

func (e *BatchError) Unwrap() error { return e.Err }
