package election

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// TestFrozenCTs checks the restore's frozen table against a map: every
// hash added is found at its position, a repeat is refused without
// changing the table, absent hashes are not found, and each visits the
// hashes exactly once — for sizes where probing wraps past the end.
func TestFrozenCTs(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 100, 5000} {
		tab := newFrozenCTs(n)
		want := map[[32]byte]uint64{}
		for i := range n {
			k := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
			if !tab.add(k, uint64(i)*3) {
				t.Fatalf("n=%d: hash %d refused", n, i)
			}
			want[k] = uint64(i) * 3
		}
		for k, p := range want {
			if got, ok := tab.get(k); !ok || got != p {
				t.Fatalf("n=%d: get = %d, %v; want %d", n, got, ok, p)
			}
			if tab.add(k, 1) {
				t.Fatalf("n=%d: a repeated hash was added", n)
			}
			if got, _ := tab.get(k); got != p {
				t.Fatalf("n=%d: a refused repeat changed the position to %d", n, got)
			}
		}
		for i := range 1000 {
			k := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(n+i)))
			if _, ok := tab.get(k); ok {
				t.Fatalf("n=%d: an absent hash was found", n)
			}
		}
		seen := map[[32]byte]uint64{}
		tab.each(func(k [32]byte, p uint64) {
			if _, dup := seen[k]; dup {
				t.Fatalf("n=%d: each visited a hash twice", n)
			}
			seen[k] = p
		})
		if len(seen) != len(want) {
			t.Fatalf("n=%d: each visited %d hashes of %d", n, len(seen), len(want))
		}
		var x ctIndex
		x.frozen, x.later = tab, map[[32]byte]uint64{}
		extra := sha256.Sum256([]byte("later"))
		x.put(extra, 99)
		if p, ok := x.get(extra); !ok || p != 99 {
			t.Fatalf("n=%d: a later hash = %d, %v", n, p, ok)
		}
	}
}

// TestFrozenCTsBatch checks addBatch: a batch of new hashes is added, and
// a batch holding a repeat (of the table or of the batch itself) names
// the first repeat and has added the ones before it.
func TestFrozenCTsBatch(t *testing.T) {
	h := func(i int) [32]byte { return sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))) }
	tab := newFrozenCTs(200)
	var b []pendingCT
	for i := range 100 {
		b = append(b, pendingCT{k: h(i), p: uint64(i)})
	}
	if i := tab.addBatch(b); i != -1 {
		t.Fatalf("a batch of new hashes refused at %d", i)
	}
	b = []pendingCT{{k: h(100), p: 100}, {k: h(101), p: 101}, {k: h(100), p: 102}, {k: h(103), p: 103}}
	if i := tab.addBatch(b); i != 2 {
		t.Fatalf("a repeat within the batch found at %d, want 2", i)
	}
	if p, ok := tab.get(h(101)); !ok || p != 101 {
		t.Fatalf("the hash before the repeat: %d, %v", p, ok)
	}
	if _, ok := tab.get(h(103)); ok {
		t.Fatal("the hash after the repeat was added")
	}
	if i := tab.addBatch([]pendingCT{{k: h(103), p: 103}, {k: h(5), p: 1}}); i != 1 {
		t.Fatalf("a repeat of the table found at %d, want 1", i)
	}
}
