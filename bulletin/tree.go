package bulletin

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ErrProof is returned when an inclusion or consistency proof does not
// verify, or cannot be produced for the requested sizes.
var ErrProof = errors.New("bulletin: proof does not verify")

// Tree is an in-memory RFC 6962 Merkle tree (§7.4) that keeps every
// complete subtree hash, so roots at any past size and inclusion and
// consistency proofs are computed without hashing leaves again. It uses
// about 64 bytes per leaf. It is safe for concurrent use.
type Tree struct {
	mu     sync.RWMutex
	levels [][][32]byte // levels[l][i] = hash of the complete subtree (l, i)
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{levels: [][][32]byte{nil}} }

// Size returns the number of leaves.
func (t *Tree) Size() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return uint64(len(t.levels[0]))
}

// AppendLeaves appends leaf hashes (LeafHash of each entry).
func (t *Tree) AppendLeaves(leaves ...[32]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, leaf := range leaves {
		t.levels[0] = append(t.levels[0], leaf)
		for l := 0; len(t.levels[l])%2 == 0; l++ {
			if l+1 == len(t.levels) {
				t.levels = append(t.levels, nil)
			}
			n := len(t.levels[l])
			t.levels[l+1] = append(t.levels[l+1], hashChildren(t.levels[l][n-2], t.levels[l][n-1]))
		}
	}
}

// NewTreeOf returns the tree of the given leaf hashes, which it keeps:
// the caller must not use the slice afterwards. It computes each level of
// complete subtrees in one pass over the level below (split across the
// cores for large levels), without the per-leaf bookkeeping of
// AppendLeaves: a restart builds a tree of millions of leaves this way
// (spec/07-bulletin.md §7.7.1).
func NewTreeOf(leaves [][32]byte) *Tree {
	t := &Tree{levels: [][][32]byte{leaves}}
	for below := leaves; len(below) >= 2; {
		level := make([][32]byte, len(below)/2)
		hashLevel(level, below)
		t.levels = append(t.levels, level)
		below = level
	}
	return t
}

// hashLevel sets level[i] to the hash of below[2i] and below[2i+1].
func hashLevel(level, below [][32]byte) {
	const chunk = 1 << 14
	workers := min(runtime.GOMAXPROCS(0), (len(level)+chunk-1)/chunk)
	if workers <= 1 {
		for i := range level {
			level[i] = hashChildren(below[2*i], below[2*i+1])
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(level) + workers - 1) / workers
	for from := 0; from < len(level); from += per {
		to := min(from+per, len(level))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from; i < to; i++ {
				level[i] = hashChildren(below[2*i], below[2*i+1])
			}
		}()
	}
	wg.Wait()
}

// Leaves returns a copy of the leaf hashes at indices start ≤ i < end
// (the ballot box's snapshots keep them, spec/07-bulletin.md §7.7.1).
func (t *Tree) Leaves(start, end uint64) ([][32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if start > end || end > uint64(len(t.levels[0])) {
		return nil, fmt.Errorf("bulletin: leaves [%d, %d) of a tree of size %d", start, end, len(t.levels[0]))
	}
	return append([][32]byte(nil), t.levels[0][start:end]...), nil
}

// hashChildren is RFC 6962's interior node hash, SHA-256(0x01 || l || r)
// (rfc6962.Hasher.HashChildren without its three allocations: a restart
// hashes a node per entry).
func hashChildren(l, r [32]byte) [32]byte {
	var b [1 + 2*32]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// node returns a complete subtree hash; the caller holds the lock and has
// checked that the node lies within the tree.
func (t *Tree) node(id compact.NodeID) []byte {
	h := t.levels[id.Level][id.Index]
	return h[:]
}

// RootAt returns the root hash of the first size leaves. The empty tree's
// root is SHA-256 of the empty string.
func (t *Tree) RootAt(size uint64) ([32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.rootAt(size)
}

func (t *Tree) rootAt(size uint64) ([32]byte, error) {
	var out [32]byte
	if size > uint64(len(t.levels[0])) {
		return out, fmt.Errorf("bulletin: root at size %d of a tree of size %d", size, len(t.levels[0]))
	}
	if size == 0 {
		copy(out[:], rfc6962.DefaultHasher.EmptyRoot())
		return out, nil
	}
	ids := compact.RangeNodes(0, size, nil)
	out = t.levels[ids[len(ids)-1].Level][ids[len(ids)-1].Index]
	for i := len(ids) - 2; i >= 0; i-- {
		out = hashChildren(t.levels[ids[i].Level][ids[i].Index], out)
	}
	return out, nil
}

// InclusionProof returns the RFC 6962 §2.1.1 audit path of leaf index in
// the tree of the given size.
func (t *Tree) InclusionProof(index, size uint64) ([][32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size > uint64(len(t.levels[0])) {
		return nil, fmt.Errorf("%w: size %d beyond tree size %d", ErrProof, size, len(t.levels[0]))
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProof, err)
	}
	return t.fetch(nodes)
}

// ConsistencyProof returns the RFC 6962 §2.1.2 proof that the tree of size1
// is a prefix of the tree of size2.
func (t *Tree) ConsistencyProof(size1, size2 uint64) ([][32]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if size2 > uint64(len(t.levels[0])) {
		return nil, fmt.Errorf("%w: size %d beyond tree size %d", ErrProof, size2, len(t.levels[0]))
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProof, err)
	}
	return t.fetch(nodes)
}

func (t *Tree) fetch(nodes proof.Nodes) ([][32]byte, error) {
	hs := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		hs[i] = t.node(id)
	}
	hs, err := nodes.Rehash(hs, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("bulletin: rehash proof: %w", err)
	}
	out := make([][32]byte, len(hs))
	for i := range hs {
		copy(out[i][:], hs[i])
	}
	return out, nil
}

func slices(p [][32]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// VerifyInclusion checks an inclusion proof of the leaf hash at index in a
// tree of the given size and root.
func VerifyInclusion(index, size uint64, leaf [32]byte, p [][32]byte, root [32]byte) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf[:], slices(p), root[:]); err != nil {
		return fmt.Errorf("%w: inclusion of %d in %d: %v", ErrProof, index, size, err)
	}
	return nil
}

// VerifyConsistency checks that root1 (size1) is a prefix of root2 (size2).
func VerifyConsistency(size1, size2 uint64, p [][32]byte, root1, root2 [32]byte) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, slices(p), root1[:], root2[:]); err != nil {
		return fmt.Errorf("%w: consistency %d to %d: %v", ErrProof, size1, size2, err)
	}
	return nil
}
