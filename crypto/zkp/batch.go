package zkp

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"

	"evote/crypto/group"
)

// ErrInvalidProof is returned (wrapped) by every verifier of this package
// when a proof does not verify.
var ErrInvalidProof = errors.New("zkp: proof does not verify")

// A Batch verifies many proof equations at once (spec §4.2). Each equation
// R = Π e_i^{s_i} (R a prover's commitment) is multiplied by an independent
// random 128-bit weight ρ and all are summed into one multi-scalar
// multiplication Σ ρ·R − Σ ρ·s_i·e_i = 0; a false equation survives with
// probability at most 2^-128 (per batch). Bases shared by many equations (g,
// the election key) are merged into one term, and the commitments, whose
// coefficients are the short weights themselves, are summed apart so that
// they cost half as much as full-size terms.
//
// If the combined check fails, Verify re-checks each item alone and names
// the first that fails, so one bad ballot cannot hide among good ones.
// A Batch is not safe for concurrent use.
type Batch struct {
	terms
	items []batchItem
}

type batchItem struct {
	name  string
	check func() error
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{} }

// Shared registers a base that many equations use and returns its handle.
// Registering an element equal to one already registered returns the
// existing handle, so callers may register their bases once per item.
func (b *Batch) Shared(e *group.Element) int { return b.terms.sharedBase(e) }

// addItem records the fallback check of the item whose equations were just
// added.
func (b *Batch) addItem(name string, check func() error) {
	b.items = append(b.items, batchItem{name: name, check: check})
}

// fail records an item that failed its non-group checks, for callers that
// cannot return an error: it adds a random multiple of g, which makes the
// combined check fail (but with probability 2^-128), and a fallback check
// that returns err, so Verify names the item.
func (b *Batch) fail(name string, err error) {
	b.short(b.weight(), generator)
	b.addItem(name, func() error { return err })
}

// Merge adds the equations and items of o to b, so that one Verify checks
// both with one multi-scalar multiplication. Each batch draws its own
// weights from its own seed, so batches built concurrently (one per
// ballot, say) stay independently weighted once merged. o is not changed
// and stays usable: if the merged batch fails, verifying each merged batch
// alone tells which failed, without decoding its proofs again.
func (b *Batch) Merge(o *Batch) {
	b.shortS = append(b.shortS, o.shortS...)
	b.shortE = append(b.shortE, o.shortE...)
	b.longS = append(b.longS, o.longS...)
	b.longE = append(b.longE, o.longE...)
	for i, e := range o.sharedE {
		h := b.sharedBase(e)
		b.shared(h, o.sharedS[i])
	}
	b.items = append(b.items, o.items...)
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
	if b.terms.isIdentity() {
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

// terms accumulates a linear combination Σ s_i·E_i of group elements that a
// verifier checks to be the identity. Short terms have coefficients below
// 2^128 (the random weights of commitments); long terms have full-size
// coefficients; shared bases accumulate one coefficient each.
type terms struct {
	shortS, longS, sharedS []*group.Scalar
	shortE, longE, sharedE []*group.Element
	rng                    *mrand.ChaCha8
}

// sharedBase registers a base whose coefficient accumulates, returning its
// handle.
func (t *terms) sharedBase(e *group.Element) int {
	for i, x := range t.sharedE {
		if x.Equal(e) == 1 {
			return i
		}
	}
	t.sharedE = append(t.sharedE, e)
	t.sharedS = append(t.sharedS, group.NewScalar())
	return len(t.sharedE) - 1
}

// weight returns a fresh random scalar below 2^128. The weights come from a
// ChaCha8 stream seeded once per batch from crypto/rand: a cryptographic
// generator, so the prover cannot predict them, at a fraction of the cost
// of one system call per weight.
func (t *terms) weight() *group.Scalar {
	if t.rng == nil {
		var seed [32]byte
		if _, err := crand.Read(seed[:]); err != nil {
			panic("zkp: crypto/rand failed: " + err.Error())
		}
		t.rng = mrand.NewChaCha8(seed)
	}
	var buf [16]byte
	if _, err := t.rng.Read(buf[:]); err != nil {
		panic("zkp: chacha8 failed: " + err.Error())
	}
	s, err := new(group.Scalar).SetShortBytes(buf[:])
	if err != nil {
		panic("zkp: 128-bit weight rejected")
	}
	return s
}

// short adds w·e where w < 2^128.
func (t *terms) short(w *group.Scalar, e *group.Element) {
	t.shortS = append(t.shortS, w)
	t.shortE = append(t.shortE, e)
}

// long adds s·e.
func (t *terms) long(s *group.Scalar, e *group.Element) {
	t.longS = append(t.longS, s)
	t.longE = append(t.longE, e)
}

// shared adds s to the coefficient of shared base h.
func (t *terms) shared(h int, s *group.Scalar) {
	acc := t.sharedS[h]
	acc.Add(acc, s)
}

// base adds s·e: to the shared base h if h is a handle of e, else as a long
// term. Checking that the handle's base equals e (a few field
// multiplications) means a caller's mix-up of handles costs speed, never
// soundness.
func (t *terms) base(h int, s *group.Scalar, e *group.Element) {
	if h >= 0 && h < len(t.sharedE) && t.sharedE[h].Equal(e) == 1 {
		t.shared(h, s)
	} else {
		t.long(s, e)
	}
}

// msmSplitMin is the number of short terms from which they are summed in a
// separate multi-scalar multiplication (whose bucket method then uses
// 128-bit windows); below it one Straus pass over all terms is cheaper.
const msmSplitMin = 64

// isIdentity reports whether the accumulated combination is the identity.
func (t *terms) isIdentity() bool {
	longS := append(append([]*group.Scalar{}, t.longS...), t.sharedS...)
	longE := append(append([]*group.Element{}, t.longE...), t.sharedE...)
	if len(t.shortS) < msmSplitMin {
		longS = append(longS, t.shortS...)
		longE = append(longE, t.shortE...)
		return new(group.Element).VarTimeMultiScalarMult(longS, longE).IsIdentity() == 1
	}
	var s, l group.Element
	s.VarTimeMultiScalarMult(t.shortS, t.shortE)
	l.VarTimeMultiScalarMult(longS, longE)
	return s.Add(&s, &l).IsIdentity() == 1
}

// An equation under construction: R = Π e_i^{s_i}, added to terms as
// ρ·R − Σ ρ·s_i·e_i with one random weight ρ.
type equation struct {
	t *terms
	w *group.Scalar
}

// equation starts a new weighted equation.
func (t *terms) equation() equation { return equation{t: t, w: t.weight()} }

// commit adds the commitment R (the equation's left-hand side).
func (q equation) commit(e *group.Element) { q.t.short(q.w, e) }

// term adds s·e to the right-hand side, on base h if h ≥ 0.
func (q equation) term(h int, s *group.Scalar, e *group.Element) {
	c := new(group.Scalar).Multiply(q.w, s)
	q.t.base(h, c.Negate(c), e)
}

// Decoding errors. Every decoder of this package wraps ErrMalformedProof,
// and also ErrProofLength, group.ErrInvalidElement or
// group.ErrNonCanonicalScalar to say what was wrong.
var (
	ErrMalformedProof = errors.New("zkp: malformed proof encoding")
	ErrProofLength    = errors.New("zkp: proof has the wrong length")
)
