package election

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// ctIndex is the state's index of ciphertext hashes (SHA-256 of a
// ciphertext's encoding → position of its ballot or audited ballot, spec
// §9.5 rule 5). A restore from a snapshot (RestoreCiphertexts) puts the
// millions of ballots' hashes in a frozen open-addressing table, built
// in one pass with no growth and read only afterwards; everything indexed
// later, and everything of a state built by replaying, goes to a map. A
// hash is in at most one of the two, so a lookup is the table's answer or
// the map's.
type ctIndex struct {
	frozen frozenCTs
	later  map[[32]byte]uint64
}

func (x *ctIndex) get(k [32]byte) (uint64, bool) {
	if p, ok := x.frozen.get(k); ok {
		return p, true
	}
	p, ok := x.later[k]
	return p, ok
}

// put indexes k at position p; the caller has checked that k is absent.
func (x *ctIndex) put(k [32]byte, p uint64) { x.later[k] = p }

// each calls f for every hash indexed, in no particular order.
func (x *ctIndex) each(f func(k [32]byte, p uint64)) {
	x.frozen.each(f)
	for k, p := range x.later {
		f(k, p)
	}
}

// frozenCTs is an open-addressing table with linear probing, filled once
// by addBatch and read only afterwards. A slot holds no hash, only a
// reference to a ciphertext (its ordinal plus one, 0: empty) and four
// bytes of its hash (a fingerprint): the hash itself is recomputed from
// the ciphertext (hashOf) when a fingerprint matches, and the position
// is its ballot's (posOf). Eight bytes a slot instead of forty: at a
// million ballots of four ciphertexts, 48 MB instead of 240 MB. The
// home slot of a hash is drawn with a random seed, so ciphertexts chosen
// to cluster in the table (voters choose their ciphertexts) cannot be
// aimed at one region of it.
type frozenCTs struct {
	slots   []ctSlot
	seed    [2]uint64
	touched uint64 // addBatch's sum of the slots it read ahead (kept so the reads are not dropped)
	hashOf  func(ref uint32) [32]byte
	posOf   func(ref uint32) uint64
}

type ctSlot struct {
	fp  uint32 // bytes 16…19 of the hash
	ref uint32 // ordinal + 1; 0: empty
}

// maxFrozenCTs is the most ciphertexts a frozenCTs can refer to.
const maxFrozenCTs = 1<<32 - 2

func fingerprint(k *[32]byte) uint32 { return binary.LittleEndian.Uint32(k[16:]) }

// newFrozenCTs returns an empty table for up to n ciphertexts, at most
// two-thirds full; the ciphertext of ordinal i hashes to hashOf(i) and
// belongs to the entry at posOf(i).
func newFrozenCTs(n int, hashOf func(uint32) [32]byte, posOf func(uint32) uint64) frozenCTs {
	return frozenCTs{slots: make([]ctSlot, n+n/2+1), seed: [2]uint64{rand.Uint64(), rand.Uint64()}, hashOf: hashOf, posOf: posOf}
}

func (t *frozenCTs) home(k *[32]byte) int {
	// wyhash's mix of two words of the hash with the seed.
	a, b := bits.Mul64(binary.LittleEndian.Uint64(k[0:])^t.seed[0], binary.LittleEndian.Uint64(k[8:])^t.seed[1])
	hi, _ := bits.Mul64(a^b, uint64(len(t.slots)))
	return int(hi)
}

// A pendingCT is a ciphertext waiting to be added: its hash and ordinal.
type pendingCT struct {
	k    [32]byte
	ord  uint32
	home int
}

// addBatch adds a batch of ciphertexts, returning the index in b of the
// first one whose hash is already in the table (the ones before it
// added), or -1. It reads every home slot of the batch before writing
// any: independent loads, whose cache misses the processor overlaps,
// where one add after another would wait for each miss in turn (the
// table is far larger than the caches).
func (t *frozenCTs) addBatch(b []pendingCT) int {
	var sum uint64
	for i := range b {
		b[i].home = t.home(&b[i].k)
		sum += uint64(t.slots[b[i].home].ref)
	}
	t.touched += sum
	for i := range b {
		if !t.addAt(b[i].home, &b[i].k, b[i].ord) {
			return i
		}
	}
	return -1
}

func (t *frozenCTs) addAt(i int, k *[32]byte, ord uint32) bool {
	fp := fingerprint(k)
	for ; ; i++ {
		if i == len(t.slots) {
			i = 0
		}
		s := &t.slots[i]
		if s.ref == 0 {
			s.fp, s.ref = fp, ord+1
			return true
		}
		if s.fp == fp && t.hashOf(s.ref-1) == *k {
			return false
		}
	}
}

func (t *frozenCTs) get(k [32]byte) (uint64, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	fp := fingerprint(&k)
	for i := t.home(&k); ; i++ {
		if i == len(t.slots) {
			i = 0
		}
		s := &t.slots[i]
		if s.ref == 0 {
			return 0, false
		}
		if s.fp == fp && t.hashOf(s.ref-1) == k {
			return t.posOf(s.ref - 1), true
		}
	}
}

func (t *frozenCTs) each(f func(k [32]byte, p uint64)) {
	for i := range t.slots {
		if s := &t.slots[i]; s.ref != 0 {
			f(t.hashOf(s.ref-1), t.posOf(s.ref-1))
		}
	}
}
