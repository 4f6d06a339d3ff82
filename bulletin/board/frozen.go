package board

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
)

// Frozen indices (spec/07-bulletin.md §7.7.1). A log opened from a
// snapshot's Base indexes its first entries' hashes and IndexKeys in
// tables built once, in one pass, and only read afterwards: an array of
// the keys in index order (the Base's own) and an open-addressing table
// of 4-byte references into it, at most two-thirds full, with linear
// probing. That is about a third of the memory of a hash map holding the
// same keys and values, and it is filled without growing, in batches
// whose home slots are read before any is written (the processor then
// overlaps their cache misses). Entries appended later go to ordinary
// maps beside the tables; a key is in at most one of the two.
//
// A home slot is drawn from the key with a random per-table seed: entry
// hashes and tracking codes are hashes their authors can grind, and must
// not be aimable at one stretch of the table.

// frozenRefs is the slot array: slot i holds 1 + the index in the array
// of keys of the key whose probe sequence passes there, 0 if empty.
type frozenRefs struct {
	slots   []uint32
	seed    [2]uint64
	touched uint32 // fill's sum of the slots read ahead (kept so the reads are not dropped)
}

// maxFrozen is the most keys a frozenRefs can hold (4-byte references).
const maxFrozen = math.MaxUint32 - 1

func newFrozenRefs(n int) frozenRefs {
	return frozenRefs{slots: make([]uint32, n+n/2+1), seed: [2]uint64{rand.Uint64(), rand.Uint64()}}
}

// home is k's home slot, from its first 16 bytes.
func (t *frozenRefs) home(k []byte) int {
	a, b := bits.Mul64(binary.LittleEndian.Uint64(k[0:])^t.seed[0], binary.LittleEndian.Uint64(k[8:])^t.seed[1])
	hi, _ := bits.Mul64(a^b, uint64(len(t.slots)))
	return int(hi)
}

// fill puts refs 0…n−1 in the table; same(i, j) reports whether refs i
// and j name the same key, key(i) is ref i's key (at least 16 bytes).
// A ref whose key is already there is skipped and reported to dup (which
// may stop the fill by returning false). Batches of 64: every home slot of
// a batch is read before any slot is written.
func (t *frozenRefs) fill(n int, key func(i int) []byte, same func(i, j int) bool, dup func(i, j int) bool) {
	var homes [64]int
	for first := 0; first < n; first += len(homes) {
		m := min(len(homes), n-first)
		var sum uint32
		for j := range m {
			homes[j] = t.home(key(first + j))
			sum += t.slots[homes[j]]
		}
		t.touched += sum
		for j := range m {
			i := first + j
			for s := homes[j]; ; s++ {
				if s == len(t.slots) {
					s = 0
				}
				r := t.slots[s]
				if r == 0 {
					t.slots[s] = uint32(i) + 1
					break
				}
				if same(int(r-1), i) {
					if !dup(int(r-1), i) {
						return
					}
					break
				}
			}
		}
	}
}

// find returns the ref whose key is k (is(i) reports whether ref i's key
// is k).
func (t *frozenRefs) find(k []byte, is func(i int) bool) (int, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	for s := t.home(k); ; s++ {
		if s == len(t.slots) {
			s = 0
		}
		r := t.slots[s]
		if r == 0 {
			return 0, false
		}
		if is(int(r - 1)) {
			return int(r - 1), true
		}
	}
}

// hashIndex maps entry hashes to indices: the frozen table over the
// entries restored from a Base (whose hash is hashes[i] for entry i),
// and a map for the entries after them.
type hashIndex struct {
	hashes [][32]byte // entries 0…len−1, from the Base
	table  frozenRefs
	later  map[[32]byte]uint64
}

func newHashIndex() hashIndex { return hashIndex{later: map[[32]byte]uint64{}} }

// frozenHashIndex indexes hs (entry i's hash at hs[i]), returning the
// first index whose hash repeats an earlier one, or −1. It keeps hs.
func frozenHashIndex(hs [][32]byte) (hashIndex, int) {
	x := newHashIndex()
	if len(hs) > maxFrozen {
		for i, h := range hs {
			if _, dup := x.later[h]; dup {
				return x, i
			}
			x.later[h] = uint64(i)
		}
		return x, -1
	}
	x.hashes, x.table = hs, newFrozenRefs(len(hs))
	rep := -1
	x.table.fill(len(hs), func(i int) []byte { return hs[i][:] },
		func(i, j int) bool { return hs[i] == hs[j] },
		func(_, j int) bool { rep = j; return false })
	return x, rep
}

func (x *hashIndex) get(h [32]byte) (uint64, bool) {
	if i, ok := x.table.find(h[:], func(i int) bool { return x.hashes[i] == h }); ok {
		return uint64(i), true
	}
	i, ok := x.later[h]
	return i, ok
}

// put indexes h at i; h must not be indexed yet.
func (x *hashIndex) put(h [32]byte, i uint64) { x.later[h] = i }

// fill sets out[i] to the hash of entry i, for the entries indexed below
// len(out).
func (x *hashIndex) fill(out [][32]byte) {
	copy(out, x.hashes)
	for h, i := range x.later {
		if i < uint64(len(out)) {
			out[i] = h
		}
	}
}

// frozenKeys is the frozen part of a keyIndex: the Base's keys, in index
// order, and the table over their prefixes (the first key with a prefix
// holds it; a later one with the same prefix is not indexed, as
// keyIndex.add does).
type frozenKeys struct {
	keys  []KeyAt
	table frozenRefs
}

func newFrozenKeys(ks []KeyAt) frozenKeys {
	f := frozenKeys{keys: ks, table: newFrozenRefs(len(ks))}
	f.table.fill(len(ks), func(i int) []byte { return ks[i].Key[:] },
		func(i, j int) bool { return [KeyPrefix]byte(ks[i].Key[:]) == [KeyPrefix]byte(ks[j].Key[:]) },
		func(_, _ int) bool { return true })
	return f
}

// find returns the key with prefix p.
func (f *frozenKeys) find(p [KeyPrefix]byte) (KeyAt, bool) {
	i, ok := f.table.find(p[:], func(i int) bool { return [KeyPrefix]byte(f.keys[i].Key[:]) == p })
	if !ok {
		return KeyAt{}, false
	}
	return f.keys[i], true
}
