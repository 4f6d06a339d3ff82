package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// TestLeafIndex: the duplicate index answers as a map of first indices
// does, through its growth from a wrong size hint.
func TestLeafIndex(t *testing.T) {
	for _, hint := range []uint64{0, 10, 5000} {
		x := newLeafIndex(hint)
		want := map[[32]byte]uint32{}
		for i := range 5000 {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(i%3000)) // entries 3000 on repeat earlier ones
			h := sha256.Sum256(b[:])
			j, dup := x.add(h)
			wj, wdup := want[h]
			if !wdup {
				want[h] = uint32(i)
			}
			if dup != wdup || j != wj {
				t.Fatalf("hint %d, entry %d: got (%d, %v), want (%d, %v)", hint, i, j, dup, wj, wdup)
			}
		}
	}
}
