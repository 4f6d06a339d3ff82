package board

// KeyPrefix is how many leading bytes of an IndexKey must be unique in a
// log, and by how many a key can be looked up (LookupKeyPrefix). The server's
// key is the ballot tracking code, whose first 20 bytes are what voters see
// and type (ballot.ShownCode, spec §9.3): two ballots sharing them would let
// one voter's check pass on another's ballot, so the board refuses the
// second, and a shown code finds exactly one ballot.
const KeyPrefix = 20

// keyIndex maps the first KeyPrefix bytes of each IndexKey to the rest of
// the key and the entry's position: as small as a map of whole keys, and
// searchable by the shown part. The keys of a snapshot's Base are in a
// frozen table (frozen.go), the later ones in the map; a prefix is in at
// most one of the two.
type keyIndex struct {
	frozen frozenKeys
	later  map[[KeyPrefix]byte]keySlot
}

type keySlot struct {
	rest  [32 - KeyPrefix]byte
	index uint64
}

func newKeyIndex() keyIndex { return keyIndex{later: map[[KeyPrefix]byte]keySlot{}} }

// frozenKeyIndex indexes a Base's keys (increasing indices).
func frozenKeyIndex(ks []KeyAt) keyIndex {
	m := newKeyIndex()
	if len(ks) > maxFrozen {
		for _, k := range ks {
			m.add(k.Key, k.Index)
		}
		return m
	}
	m.frozen = newFrozenKeys(ks)
	return m
}

func keyPrefix(k [32]byte) (p [KeyPrefix]byte) {
	copy(p[:], k[:KeyPrefix])
	return p
}

func (m *keyIndex) get(p [KeyPrefix]byte) (keySlot, bool) {
	if k, ok := m.frozen.find(p); ok {
		s := keySlot{index: k.Index}
		copy(s.rest[:], k.Key[KeyPrefix:])
		return s, true
	}
	s, ok := m.later[p]
	return s, ok
}

// add records k at index i unless its prefix is taken (the first entry
// with a prefix keeps it).
func (m *keyIndex) add(k [32]byte, i uint64) {
	p := keyPrefix(k)
	if _, dup := m.get(p); dup {
		return
	}
	s := keySlot{index: i}
	copy(s.rest[:], k[KeyPrefix:])
	m.later[p] = s
}

// taken reports whether a key with k's prefix is in the index.
func (m *keyIndex) taken(k [32]byte) bool {
	_, ok := m.get(keyPrefix(k))
	return ok
}

// lookup returns the index of the entry whose key is exactly k.
func (m *keyIndex) lookup(k [32]byte) (uint64, bool) {
	s, ok := m.get(keyPrefix(k))
	if !ok || [32 - KeyPrefix]byte(k[KeyPrefix:]) != s.rest {
		return 0, false
	}
	return s.index, true
}

// lookupPrefix returns the whole key and index of the entry whose key
// starts with p.
func (m *keyIndex) lookupPrefix(p [KeyPrefix]byte) (k [32]byte, index uint64, ok bool) {
	s, ok := m.get(p)
	if !ok {
		return k, 0, false
	}
	copy(k[:], p[:])
	copy(k[KeyPrefix:], s.rest[:])
	return k, s.index, true
}
