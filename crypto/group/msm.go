package group

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync"

	"filippo.io/edwards25519"
)

// Thresholds for VarTimeMultiScalarMult, chosen by BenchmarkMSM.
const (
	// Below msmPippengerMin terms (msmPippengerMinShort for scalars of at
	// most 128 bits), edwards25519's Straus method is faster.
	msmPippengerMin      = 256
	msmPippengerMinShort = 64
	// From msmParallelMin terms on, the sum is split across goroutines.
	msmParallelMin = 4096
	// msmChunk bounds the terms one Pippenger pass holds in memory.
	msmChunk = 1 << 17
)

// VarTimeMultiScalarMult sets e = Σ scalars[i]·elements[i] and returns e. It
// is not constant time: use it only on public values (verification).
//
// Large inputs use a bucket (Pippenger) method with signed digits whose
// window adapts to the number of terms and to the longest scalar, so 128-bit
// batch-verification weights cost half as much as full scalars; from a few
// thousand terms on it uses all cores. It panics if the slices' lengths
// differ.
func (e *Element) VarTimeMultiScalarMult(scalars []*Scalar, elements []*Element) *Element {
	if len(scalars) != len(elements) {
		panic("group: VarTimeMultiScalarMult with mismatched lengths")
	}
	n := len(scalars)
	if n < msmPippengerMin && (n < msmPippengerMinShort || !allShort(scalars)) {
		return e.varTimeStraus(scalars, elements)
	}
	workers := runtime.GOMAXPROCS(0)
	if n < msmParallelMin || workers == 1 {
		if n <= msmChunk {
			return e.varTimePippenger(scalars, elements)
		}
		workers = 1
	}
	chunks := (n + msmChunk - 1) / msmChunk
	if chunks < workers && n >= msmParallelMin {
		chunks = workers
	}
	size := (n + chunks - 1) / chunks
	partial := make([]*Element, chunks)
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for c := 0; c < chunks; c++ {
		lo, hi := c*size, min((c+1)*size, n)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if hi-lo < msmPippengerMinShort {
				partial[c] = new(Element).varTimeStraus(scalars[lo:hi], elements[lo:hi])
			} else {
				partial[c] = new(Element).varTimePippenger(scalars[lo:hi], elements[lo:hi])
			}
		}()
	}
	wg.Wait()
	e.w().Set(edwards25519.NewIdentityPoint())
	for _, p := range partial {
		e.w().Add(&e.p, &p.p)
	}
	return e
}

func (e *Element) varTimeStraus(scalars []*Scalar, elements []*Element) *Element {
	ss := make([]*edwards25519.Scalar, len(scalars))
	ps := make([]*edwards25519.Point, len(elements))
	for i := range scalars {
		ss[i] = &scalars[i].s
		ps[i] = &elements[i].p
	}
	e.w().VarTimeMultiScalarMult(ss, ps)
	return e
}

// msmWindow picks the window width c minimising windows·(n + 2^(c-1)·2),
// the additions of a signed-digit bucket pass.
func msmWindow(n, scalarBits int) int {
	best, bestCost := 4, -1
	for c := 4; c <= 16; c++ {
		windows := (scalarBits+c-1)/c + 1
		cost := windows * (n + (1 << c))
		if bestCost < 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best
}

func (e *Element) varTimePippenger(scalars []*Scalar, elements []*Element) *Element {
	n := len(scalars)
	limbs := make([][4]uint64, n)
	maxBits := 0
	for i, s := range scalars {
		b := s.s.Bytes()
		for j := 0; j < 4; j++ {
			limbs[i][j] = binary.LittleEndian.Uint64(b[8*j:])
		}
		l := 0
		for j := 3; j >= 0; j-- {
			if limbs[i][j] != 0 {
				l = 64*j + bits.Len64(limbs[i][j])
				break
			}
		}
		maxBits = max(maxBits, l)
	}
	if maxBits == 0 {
		e.w().Set(edwards25519.NewIdentityPoint())
		return e
	}
	points := make([]cachedPoint, n)
	var tmp extPoint
	for i, el := range elements {
		points[i].fromExt(tmp.fromPoint(&el.p))
	}

	c := msmWindow(n, maxBits)
	windows := (maxBits+c-1)/c + 1
	half := 1 << (c - 1)
	buckets := make([]extPoint, half)
	used := make([]bool, half)
	carries := make([]uint8, n)
	windowSums := make([]extPoint, windows)
	var comp completedPoint
	var cached cachedPoint

	for w := 0; w < windows; w++ {
		clear(used)
		for i := 0; i < n; i++ {
			d := int(window(&limbs[i], w*c, c)) + int(carries[i])
			carries[i] = 0
			if d > half {
				d -= 1 << c
				carries[i] = 1
			}
			switch {
			case d > 0:
				b := &buckets[d-1]
				if !used[d-1] {
					b.setIdentity()
					used[d-1] = true
				}
				b.fromCompleted(comp.addCached(b, &points[i]))
			case d < 0:
				b := &buckets[-d-1]
				if !used[-d-1] {
					b.setIdentity()
					used[-d-1] = true
				}
				b.fromCompleted(comp.subCached(b, &points[i]))
			}
		}
		// Σ_b b·bucket[b] by running sums from the top bucket down.
		var running, sum extPoint
		running.setIdentity()
		sum.setIdentity()
		started := false
		for b := half - 1; b >= 0; b-- {
			if used[b] {
				running.fromCompleted(comp.addCached(&running, cached.fromExt(&buckets[b])))
				started = true
			}
			if started {
				sum.fromCompleted(comp.addCached(&sum, cached.fromExt(&running)))
			}
		}
		windowSums[w] = sum
	}

	var acc extPoint
	acc.setIdentity()
	for w := windows - 1; w >= 0; w-- {
		for k := 0; k < c; k++ {
			acc.fromCompleted(comp.double(&acc))
		}
		acc.fromCompleted(comp.addCached(&acc, cached.fromExt(&windowSums[w])))
	}
	acc.toPoint(e.w())
	return e
}

// window returns bits [off, off+c) of the 256-bit little-endian integer l.
func window(l *[4]uint64, off, c int) uint64 {
	if off >= 256 {
		return 0
	}
	limb, shift := off/64, uint(off%64)
	v := l[limb] >> shift
	if shift+uint(c) > 64 && limb+1 < 4 {
		v |= l[limb+1] << (64 - shift)
	}
	return v & (1<<uint(c) - 1)
}

// allShort reports whether every scalar is below 2^128.
func allShort(scalars []*Scalar) bool {
	for _, s := range scalars {
		b := s.s.Bytes()
		for _, x := range b[16:] {
			if x != 0 {
				return false
			}
		}
	}
	return true
}
