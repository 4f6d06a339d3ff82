package bulletin

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// mth is RFC 6962 §2.1's Merkle Tree Hash written out directly, as an
// independent reference for Tree.
func mth(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := mth(leaves[:k]), mth(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func leafN(i int) [32]byte {
	return LeafHash(binary.BigEndian.AppendUint64([]byte("leaf"), uint64(i)))
}

func buildTree(n int, leaf func(int) [32]byte) (*Tree, [][32]byte) {
	t := NewTree()
	ls := make([][32]byte, n)
	for i := range ls {
		ls[i] = leaf(i)
	}
	t.AppendLeaves(ls...)
	return t, ls
}

// TestProofsAllSizes checks roots against the reference and inclusion and
// consistency proofs for every size from 1 to 1000.
func TestProofsAllSizes(t *testing.T) {
	const n = 1000
	tr, ls := buildTree(n, leafN)
	rng := rand.New(rand.NewPCG(1, 2))
	roots := make([][32]byte, n+1)
	for size := 0; size <= n; size++ {
		r, err := tr.RootAt(uint64(size))
		if err != nil {
			t.Fatal(err)
		}
		if size <= 300 || size%37 == 0 || size == n {
			if want := mth(ls[:size]); r != want {
				t.Fatalf("root at %d differs from RFC 6962 reference", size)
			}
		}
		roots[size] = r
	}
	for size := uint64(1); size <= n; size++ {
		idx := []uint64{0, size - 1, rng.Uint64N(size), rng.Uint64N(size)}
		if testing.Short() {
			idx = idx[:2]
		} else if size <= 128 {
			idx = idx[:0]
			for i := range size {
				idx = append(idx, i)
			}
		}
		for _, i := range idx {
			p, err := tr.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(i, size, ls[i], p, roots[size]); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, size, err)
			}
			if err := VerifyInclusion(i, size, ls[(i+1)%size], p, roots[size]); size > 1 && !errors.Is(err, ErrProof) {
				t.Fatalf("inclusion of the wrong leaf accepted at %d/%d", i, size)
			}
		}
		// Consistency from a few earlier sizes to this one.
		for _, s1 := range []uint64{1, size / 2, size - 1, rng.Uint64N(size) + 1} {
			p, err := tr.ConsistencyProof(s1, size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(s1, size, p, roots[s1], roots[size]); err != nil {
				t.Fatalf("consistency %d→%d: %v", s1, size, err)
			}
			if s1 < size && s1 > 0 {
				bad := roots[s1]
				bad[0] ^= 1
				if err := VerifyConsistency(s1, size, p, bad, roots[size]); !errors.Is(err, ErrProof) {
					t.Fatalf("consistency %d→%d with a wrong old root accepted", s1, size)
				}
			}
		}
	}
	// Random pairs.
	for range 2000 {
		a, b := rng.Uint64N(n)+1, rng.Uint64N(n)+1
		if a > b {
			a, b = b, a
		}
		p, err := tr.ConsistencyProof(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyConsistency(a, b, p, roots[a], roots[b]); err != nil {
			t.Fatalf("consistency %d→%d: %v", a, b, err)
		}
	}
	if _, err := tr.InclusionProof(5, n+1); !errors.Is(err, ErrProof) {
		t.Errorf("proof beyond the tree: %v", err)
	}
	if _, err := tr.ConsistencyProof(6, 5); !errors.Is(err, ErrProof) {
		t.Errorf("reversed consistency: %v", err)
	}
}

// TestForkDetected: two logs that agree on the first k entries and differ at
// index k cannot produce a consistency proof between their checkpoints.
func TestForkDetected(t *testing.T) {
	for _, k := range []int{0, 1, 5, 64, 100} {
		honest, _ := buildTree(200, leafN)
		forked, _ := buildTree(200, func(i int) [32]byte {
			if i == k {
				return LeafHash([]byte("a different entry"))
			}
			return leafN(i)
		})
		for _, sizes := range [][2]uint64{{uint64(k) + 1, 150}, {uint64(k) + 1, uint64(k) + 1}, {120, 200}} {
			s1, s2 := sizes[0], sizes[1]
			r1, _ := honest.RootAt(s1)
			r2, _ := forked.RootAt(s2)
			// The forked server proves consistency from its own view.
			p, _ := forked.ConsistencyProof(s1, s2)
			if err := VerifyConsistency(s1, s2, p, r1, r2); !errors.Is(err, ErrProof) {
				t.Errorf("fork at %d, sizes %d→%d: not detected (%v)", k, s1, s2, err)
			}
			p, _ = honest.ConsistencyProof(s1, s2)
			if err := VerifyConsistency(s1, s2, p, r1, r2); !errors.Is(err, ErrProof) {
				t.Errorf("fork at %d, sizes %d→%d: honest proof accepted for forked root", k, s1, s2)
			}
		}
	}
}

// BenchmarkInclusionProof measures proof generation in a tree of 1M
// entries (the figure quoted in the report).
func BenchmarkInclusionProof(b *testing.B) {
	const n = 1 << 20
	tr, _ := buildTree(n, leafN)
	rng := rand.New(rand.NewPCG(3, 4))
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.InclusionProof(rng.Uint64N(n), n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
}

// TestNewTreeOf checks that a tree built at once from its leaves has the
// roots, proofs and later growth of one built leaf by leaf, at sizes
// whose levels are hashed on several cores too.
func TestNewTreeOf(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1000, 1<<16 + 3} {
		want, ls := buildTree(n, leafN)
		got := NewTreeOf(append([][32]byte(nil), ls...))
		if got.Size() != uint64(n) {
			t.Fatalf("n=%d: size %d", n, got.Size())
		}
		for _, size := range []int{0, n / 3, n / 2, n} {
			a, _ := want.RootAt(uint64(size))
			b, err := got.RootAt(uint64(size))
			if err != nil || a != b {
				t.Fatalf("n=%d: root at %d differs: %v", n, size, err)
			}
		}
		if n > 0 {
			a, _ := want.InclusionProof(uint64(n-1), uint64(n))
			b, err := got.InclusionProof(uint64(n-1), uint64(n))
			if err != nil || len(a) != len(b) {
				t.Fatalf("n=%d: inclusion proof differs: %v", n, err)
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("n=%d: inclusion proof differs at %d", n, i)
				}
			}
		}
		more := make([][32]byte, 5)
		for i := range more {
			more[i] = leafN(n + i)
		}
		want.AppendLeaves(more...)
		got.AppendLeaves(more...)
		a, _ := want.RootAt(uint64(n + 5))
		b, err := got.RootAt(uint64(n + 5))
		if err != nil || a != b || a != mth(append(ls, more...)) {
			t.Fatalf("n=%d: root after growing differs: %v", n, err)
		}
	}
}
