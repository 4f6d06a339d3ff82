package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestChunks: every item of [0, n) is in exactly one chunk, chunks are
// numbered as their position, and each worker's setup runs once per
// goroutine, at most GOMAXPROCS of them.
func TestChunks(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{0, 4}, {1, 4}, {4, 4}, {5, 4}, {1000, 7}, {3, 0}} {
		seen := make([]atomic.Int32, tc.n)
		var workers atomic.Int32
		Workers(tc.n, tc.size, func() func(c, lo, hi int) {
			workers.Add(1)
			return func(c, lo, hi int) {
				size := max(tc.size, 1)
				if lo != c*size || hi > tc.n || hi <= lo || hi-lo > size || (hi-lo < size && hi != tc.n) {
					t.Errorf("n %d size %d: chunk %d is [%d, %d)", tc.n, tc.size, c, lo, hi)
				}
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			}
		})
		for i := range seen {
			if v := seen[i].Load(); v != 1 {
				t.Errorf("n %d size %d: item %d in %d chunks", tc.n, tc.size, i, v)
			}
		}
		if w := int(workers.Load()); w > runtime.GOMAXPROCS(0) || (tc.n > 0 && w == 0) {
			t.Errorf("n %d size %d: %d workers", tc.n, tc.size, w)
		}
	}
	var sum atomic.Int64
	Chunks(100, 10, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			sum.Add(int64(i))
		}
	})
	if sum.Load() != 4950 {
		t.Fatalf("sum %d, want 4950", sum.Load())
	}
}
