package election

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// testCTs is a frozen table over the hashes hs (ordinal i: hash hs[i],
// position 3i).
func testCTs(n int, hs [][32]byte) frozenCTs {
	return newFrozenCTs(n, func(o uint32) [32]byte { return hs[o] }, func(o uint32) uint64 { return 3 * uint64(o) })
}

// TestFrozenCTs checks the restore's frozen table against a map: every
// hash added is found at its position, a repeat is refused without
// changing the table, absent hashes are not found, and each visits the
// hashes exactly once — for sizes where probing wraps past the end.
func TestFrozenCTs(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 100, 5000} {
		var hs [][32]byte
		for i := range n {
			hs = append(hs, sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))))
		}
		tab := testCTs(n, hs)
		want := map[[32]byte]uint64{}
		for i := range n {
			if tab.addBatch([]pendingCT{{k: hs[i], ord: uint32(i)}}) != -1 {
				t.Fatalf("n=%d: hash %d refused", n, i)
			}
			want[hs[i]] = uint64(i) * 3
		}
		for k, p := range want {
			if got, ok := tab.get(k); !ok || got != p {
				t.Fatalf("n=%d: get = %d, %v; want %d", n, got, ok, p)
			}
			if tab.addBatch([]pendingCT{{k: k, ord: 0}}) != 0 {
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
			// Same fingerprint as a hash in the table, another hash.
			if n > 0 {
				k = hs[i%n]
				k[31] ^= 1
				if _, ok := tab.get(k); ok {
					t.Fatalf("n=%d: a hash sharing only a fingerprint was found", n)
				}
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
	var hs [][32]byte
	for i := range 110 {
		hs = append(hs, sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))))
	}
	tab := testCTs(200, hs)
	var b []pendingCT
	for i := range 100 {
		b = append(b, pendingCT{k: hs[i], ord: uint32(i)})
	}
	if i := tab.addBatch(b); i != -1 {
		t.Fatalf("a batch of new hashes refused at %d", i)
	}
	b = []pendingCT{{k: hs[100], ord: 100}, {k: hs[101], ord: 101}, {k: hs[100], ord: 102}, {k: hs[103], ord: 103}}
	if i := tab.addBatch(b); i != 2 {
		t.Fatalf("a repeat within the batch found at %d, want 2", i)
	}
	if p, ok := tab.get(hs[101]); !ok || p != 303 {
		t.Fatalf("the hash before the repeat: %d, %v", p, ok)
	}
	if _, ok := tab.get(hs[103]); ok {
		t.Fatal("the hash after the repeat was added")
	}
	if i := tab.addBatch([]pendingCT{{k: hs[103], ord: 103}, {k: hs[5], ord: 1}}); i != 1 {
		t.Fatalf("a repeat of the table found at %d, want 1", i)
	}
}
