package election

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// index32 maps 32-byte keys (tracking codes, pseudonyms) to values, as
// the state's ciphertext index does (ctIndex, spec §7.7.1 "frozen
// tables"): the keys a restore put back are in a frozen open-addressing
// table filled once, in batches whose home slots are read before any is
// written (fillIndex32); the keys set later go to a map beside it. A key
// is in at most one of the two; a frozen key's value may change in place.
// The home slot is drawn from the key with a random seed (voters can
// grind their tracking codes). The zero value is an empty index.
type index32[K ~[32]byte, V any] struct {
	slots   []uint32 // 1 + index into keys and vals; 0: empty
	keys    []K
	vals    []V
	seed    [2]uint64
	touched uint32 // the fill's sum of the slots read ahead (kept so the reads are not dropped)
	later   map[K]V
}

func (x *index32[K, V]) home(k *K) int {
	kb := [32]byte(*k)
	a, b := bits.Mul64(binary.LittleEndian.Uint64(kb[0:])^x.seed[0], binary.LittleEndian.Uint64(kb[8:])^x.seed[1])
	hi, _ := bits.Mul64(a^b, uint64(len(x.slots)))
	return int(hi)
}

// probe returns the slot of k, or of the empty slot ending its probe
// sequence, starting from slot i.
func (x *index32[K, V]) probe(i int, k *K) int {
	for ; ; i++ {
		if i == len(x.slots) {
			i = 0
		}
		if r := x.slots[i]; r == 0 || x.keys[r-1] == *k {
			return i
		}
	}
}

func (x *index32[K, V]) get(k K) (V, bool) {
	if len(x.slots) > 0 {
		if r := x.slots[x.probe(x.home(&k), &k)]; r != 0 {
			return x.vals[r-1], true
		}
	}
	v, ok := x.later[k]
	return v, ok
}

// set maps k to v: in place if k is frozen, else in the map.
func (x *index32[K, V]) set(k K, v V) {
	if len(x.slots) > 0 {
		if r := x.slots[x.probe(x.home(&k), &k)]; r != 0 {
			x.vals[r-1] = v
			return
		}
	}
	if x.later == nil {
		x.later = map[K]V{}
	}
	x.later[k] = v
}

// each calls f for every key, in no particular order.
func (x *index32[K, V]) each(f func(k K, v V)) {
	for i := range x.keys {
		f(x.keys[i], x.vals[i])
	}
	for k, v := range x.later {
		f(k, v)
	}
}

// index32Batch is how many keys fillIndex32 places at once.
const index32Batch = 64

// fillIndex32 returns a frozen index of key(i) → val(i) for i in 0…n−1.
// A key repeated at i is passed to again with its value so far: again
// updates it, or refuses the repeat by returning false, which ends the
// fill (stop is then i; −1 otherwise).
func fillIndex32[K ~[32]byte, V any](n int, key func(i int) *K, val func(i int) V, again func(i int, v *V) bool) (x index32[K, V], stop int) {
	x = index32[K, V]{slots: make([]uint32, n+n/2+1), keys: make([]K, 0, n), vals: make([]V, 0, n), seed: [2]uint64{rand.Uint64(), rand.Uint64()}}
	var homes [index32Batch]int
	for first := 0; first < n; first += index32Batch {
		m := min(index32Batch, n-first)
		for j := range m {
			homes[j] = x.home(key(first + j))
			x.touched += x.slots[homes[j]]
		}
		for j := range m {
			i := first + j
			k := key(i)
			s := x.probe(homes[j], k)
			if r := x.slots[s]; r != 0 {
				if !again(i, &x.vals[r-1]) {
					return x, i
				}
				continue
			}
			x.keys = append(x.keys, *k)
			x.vals = append(x.vals, val(i))
			x.slots[s] = uint32(len(x.keys))
		}
	}
	return x, -1
}

// thaw moves the frozen keys to the map, leaving no table.
func (x *index32[K, V]) thaw() {
	if len(x.slots) == 0 {
		return
	}
	if x.later == nil {
		x.later = make(map[K]V, len(x.keys))
	}
	for i, k := range x.keys {
		x.later[k] = x.vals[i]
	}
	x.slots, x.keys, x.vals = nil, nil, nil
}
