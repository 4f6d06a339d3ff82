package shuffle

import (
	"bytes"

	"evote/crypto/group"
)

// GeneratorLabel is the label of the commitment generators (spec §2.5,
// §6.2): for N rows they are Generators(election_id, GeneratorLabel, N+1).
const GeneratorLabel = "evote-v1/shuffle/commitment"

// Generators holds the commitment generators of one election:
// G_0 (the base of the commitment chain) and G_1, …, G_n (one per row).
// They can only be made by DeriveGenerators, from the public seed, so a
// verifier never uses generators read from a record.
type Generators struct {
	seed  []byte
	elems []*group.Element
}

// DeriveGenerators returns the generators G_0, …, G_rows for the election
// id seed, derived on all cores (about 16 µs each). A list derived for more
// rows serves every smaller list of the same election (G_i does not depend
// on the count), so a chain of mixes derives them once.
func DeriveGenerators(seed []byte, rows int, progress Progress) *Generators {
	n := rows + 1
	elems := make([]*group.Element, n)
	tr := newTracker(progress, "generators", n)
	_ = forChunks(n, 1024, tr, func(lo, hi int) error {
		copy(elems[lo:hi], group.GeneratorsFrom(seed, GeneratorLabel, lo, hi-lo))
		return nil
	})
	return &Generators{seed: bytes.Clone(seed), elems: elems}
}

// Rows returns the largest number of rows the generators serve.
func (g *Generators) Rows() int { return len(g.elems) - 1 }

// Serves reports whether g holds the generators of the election id seed
// for lists of n rows.
func (g *Generators) Serves(seed []byte, n int) bool {
	return g != nil && bytes.Equal(g.seed, seed) && len(g.elems) >= n+1
}

// forStatement returns the generators for seed and n rows: g if it serves
// them, otherwise freshly derived ones.
func forStatement(g *Generators, seed []byte, n int, progress Progress) *Generators {
	if g.Serves(seed, n) {
		return g
	}
	return DeriveGenerators(seed, n, progress)
}
