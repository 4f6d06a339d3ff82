package verify

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// leafIndex finds an entry whose leaf hash repeats an earlier entry's
// (entry.duplicate, §11.4.1). It keeps every entry's leaf in log order and
// an open-addressing table of 1 + the index of each distinct leaf's first
// entry: about 40 bytes an entry, where a map of leaf hashes took about 80
// at a million ballots (spec §11.7). The home slot is drawn from the leaf
// with a random seed, so that entries ground to collide do not make the
// probes long.
type leafIndex struct {
	leaves [][32]byte
	slots  []uint32 // 1 + index into leaves; 0: empty
	used   int
	seed   [2]uint64
}

// newLeafIndex returns an index sized for hint entries (the record's
// claimed size; a wrong one costs only growth).
func newLeafIndex(hint uint64) *leafIndex {
	hint = min(hint, 1<<22) // 128 MB of leaves; a larger record grows them
	x := &leafIndex{leaves: make([][32]byte, 0, hint), seed: [2]uint64{rand.Uint64(), rand.Uint64()}}
	x.slots = make([]uint32, max(16, 1<<bits.Len64(2*hint)))
	return x
}

func (x *leafIndex) home(h *[32]byte) int {
	a, b := bits.Mul64(binary.LittleEndian.Uint64(h[0:])^x.seed[0], binary.LittleEndian.Uint64(h[8:])^x.seed[1])
	return int((a ^ b) & uint64(len(x.slots)-1))
}

// add records the next entry's leaf; if an earlier entry has the same
// leaf, it returns the first such entry's index and true.
func (x *leafIndex) add(h [32]byte) (uint32, bool) {
	i := x.home(&h)
	for {
		r := x.slots[i]
		if r == 0 {
			break
		}
		if x.leaves[r-1] == h {
			x.leaves = append(x.leaves, h)
			return r - 1, true
		}
		i = (i + 1) & (len(x.slots) - 1)
	}
	x.leaves = append(x.leaves, h)
	x.slots[i] = uint32(len(x.leaves))
	x.used++
	if 2*x.used > len(x.slots) {
		x.grow()
	}
	return 0, false
}

// grow doubles the table, placing again each distinct leaf's first entry.
func (x *leafIndex) grow() {
	old := x.slots
	x.slots = make([]uint32, 2*len(old))
	for _, r := range old {
		if r == 0 {
			continue
		}
		i := x.home(&x.leaves[r-1])
		for x.slots[i] != 0 {
			i = (i + 1) & (len(x.slots) - 1)
		}
		x.slots[i] = r
	}
}
