package ballotbox

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// voterMap is the box's index of voters by pseudonym (spec §7.7.1,
// frozen tables). The voters restored from a snapshot are in a frozen
// open-addressing table built once (buildBulkIndex): their pseudonyms
// and records in two arrays, and slots of 4-byte references into them,
// at most two-thirds full, linear probing from a home slot drawn from
// the pseudonym with a random seed; it is filled in batches whose home
// slots are read before any is written, so their cache misses overlap.
// Voters indexed later go to a map beside it; a pseudonym is in at most
// one of the two. A million voters' index cost a second of a restore's
// CPU as a map, mostly its inserts' cache misses.
//
// The zero value is an empty index.
type voterMap struct {
	slots []uint32     // 1 + index into keys and vs; 0: empty
	keys  [][32]byte   // the frozen voters' pseudonyms
	vs    []voterIndex // their records
	seed  [2]uint64
	later map[[32]byte]*voterIndex

	touched uint32 // fill's sum of the slots read ahead (kept so the reads are not dropped)
}

func (m *voterMap) home(p *[32]byte) int {
	a, b := bits.Mul64(binary.LittleEndian.Uint64(p[0:])^m.seed[0], binary.LittleEndian.Uint64(p[8:])^m.seed[1])
	hi, _ := bits.Mul64(a^b, uint64(len(m.slots)))
	return int(hi)
}

// find returns the frozen voter p, probing from slot i (p's home); if p
// is absent and add is set, it adds p as a new voter.
func (m *voterMap) find(i int, p *[32]byte, add bool) *voterIndex {
	for ; ; i++ {
		if i == len(m.slots) {
			i = 0
		}
		r := m.slots[i]
		if r == 0 {
			if !add {
				return nil
			}
			n := len(m.keys)
			m.keys = append(m.keys, *p)
			m.slots[i] = uint32(n) + 1
			return &m.vs[n]
		}
		if m.keys[r-1] == *p {
			return &m.vs[r-1]
		}
	}
}

// get returns voter p's record, nil if p has none.
func (m *voterMap) get(p [32]byte) *voterIndex {
	if len(m.slots) > 0 {
		if v := m.find(m.home(&p), &p, false); v != nil {
			return v
		}
	}
	return m.later[p]
}

// voter returns voter p's record, adding an empty one if p has none.
func (m *voterMap) voter(p [32]byte) *voterIndex {
	if v := m.get(p); v != nil {
		return v
	}
	if m.later == nil {
		m.later = map[[32]byte]*voterIndex{}
	}
	v := &voterIndex{}
	m.later[p] = v
	return v
}

// each calls f for every voter, in no particular order.
func (m *voterMap) each(f func(p [32]byte, v *voterIndex)) {
	for i := range m.keys {
		f(m.keys[i], &m.vs[i])
	}
	for p, v := range m.later {
		f(p, v)
	}
}

// frozenVoters returns an empty frozen index for up to n voters.
func frozenVoters(n int) voterMap {
	return voterMap{
		slots: make([]uint32, n+n/2+1),
		keys:  make([][32]byte, 0, n),
		vs:    make([]voterIndex, n),
		seed:  [2]uint64{rand.Uint64(), rand.Uint64()},
	}
}

// freeze ends the filling: the unused records are dropped.
func (m *voterMap) freeze() {
	n := len(m.keys)
	m.keys, m.vs = m.keys[:n:n], m.vs[:n:n]
}

// voterBatch is how many pseudonyms fill looks up at once.
const voterBatch = 64

// fill calls f with the record of voter key(i) for i in 0…n−1, in order:
// the frozen one, added if absent and add is set (at most cap(keys) in
// all), else the later map's (added there if absent). The home slots of
// each batch of voterBatch are read before any is used.
func (m *voterMap) fill(n int, key func(i int) *[32]byte, add bool, f func(i int, v *voterIndex)) {
	var homes [voterBatch]int
	for first := 0; first < n; first += voterBatch {
		k := min(voterBatch, n-first)
		for j := range k {
			homes[j] = m.home(key(first + j))
			m.touched += m.slots[homes[j]]
		}
		for j := range k {
			i := first + j
			p := key(i)
			full := len(m.keys) == cap(m.keys)
			v := m.find(homes[j], p, add && !full)
			if v == nil {
				v = m.voter(*p)
			}
			f(i, v)
		}
	}
}
