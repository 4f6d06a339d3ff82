package ballotbox

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// TestFrozenVoters: the frozen voter index (voterMap) answers as a map:
// every voter filled is found, once, with what was recorded for it
// (repeats recorded on one record); a voter beyond the table's capacity,
// or looked up without adding, goes to the map beside it; an absent
// voter is absent; each visits every voter once.
func TestFrozenVoters(t *testing.T) {
	p := func(i int) [32]byte { return sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))) }
	const n = 1000
	var keys [][32]byte
	for i := range n + 200 {
		keys = append(keys, p(i%(n+100))) // 100 voters twice; 100 beyond the capacity n
	}
	m := frozenVoters(n)
	count := map[[32]byte]int{}
	m.fill(len(keys), func(i int) *[32]byte { return &keys[i] }, true, func(i int, v *voterIndex) {
		v.credentials = append(v.credentials, CredentialRef{Index: uint64(i)})
		count[keys[i]]++
	})
	m.freeze()
	if len(m.keys) != n || len(m.later) != 100 {
		t.Fatalf("%d frozen, %d later, want %d and 100", len(m.keys), len(m.later), n)
	}
	// Ballots: looked up, never added to the table.
	extra := p(5000)
	lookups := [][32]byte{keys[3], extra, keys[n+50]}
	m.fill(len(lookups), func(i int) *[32]byte { return &lookups[i] }, false, func(i int, v *voterIndex) {
		v.ballots = append(v.ballots, BallotRef{Index: uint64(i)})
	})
	if len(m.keys) != n || m.later[extra] == nil {
		t.Fatalf("a lookup without adding: %d frozen, in the map: %v", len(m.keys), m.later[extra] != nil)
	}
	seen := map[[32]byte]int{}
	m.each(func(k [32]byte, v *voterIndex) {
		seen[k]++
		if want := count[k]; len(v.credentials) != want {
			t.Errorf("voter %x: %d credentials, want %d", k[:4], len(v.credentials), want)
		}
	})
	if len(seen) != n+101 {
		t.Errorf("each visited %d voters, want %d", len(seen), n+101)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("voter %x visited %d times", k[:4], c)
		}
		if m.get(k) == nil {
			t.Errorf("voter %x not found", k[:4])
		}
	}
	if v := m.get(keys[3]); len(v.ballots) != 1 || len(v.credentials) != 2 {
		t.Errorf("a voter filled twice and looked up: %d credentials, %d ballots", len(v.credentials), len(v.ballots))
	}
	if m.get(p(9999)) != nil {
		t.Error("an absent voter found")
	}
	if v := m.voter(p(9999)); v == nil || m.get(p(9999)) != v {
		t.Error("a voter added later is not found")
	}
	var zero voterMap
	if zero.get(p(1)) != nil || zero.voter(p(1)) != zero.get(p(1)) {
		t.Error("the zero voterMap is not an empty index")
	}
}
