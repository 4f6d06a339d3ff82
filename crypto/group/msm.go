package group

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
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

// msmWindow picks the window width c that minimises msmCost.
func msmWindow(n, scalarBits int) int {
	best, bestCost := 4, -1
	for c := 4; c <= 16; c++ {
		if cost := msmCost(n, scalarBits, c); bestCost < 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best
}

// msmWindows returns the number of c-bit windows of signed digits for
// scalars below 2^bits. A top window narrower than c absorbs the last carry
// (its digit is at most 2^(c-1)); when c divides bits, one more window holds
// the carries alone.
func msmWindows(bits, c int) int {
	if bits%c == 0 {
		return bits/c + 1
	}
	return (bits + c - 1) / c
}

// msmCost estimates, in field multiplications, a bucket pass over n terms
// with c-bit windows and h = 2^(c-1) buckets. Per window: a mixed addition
// (7M) per term; then the bucket sum, a general addition (8M) per bucket
// index below the top used one and one more per used bucket with a
// conversion to cached form (9M), less the mixed addition the first term of
// each used bucket saves (6M): about 7n + 8h + 3·min(n, h). A top window of
// r < c bits has 2^r buckets; a window of carries alone has about n/2 terms
// and one bucket.
func msmCost(n, bits, c int) int {
	window := func(terms, buckets int) int { return 7*terms + 8*buckets + 3*min(terms, buckets) }
	full, r := bits/c, bits%c
	cost := full * window(n, 1<<(c-1))
	if r > 0 {
		cost += window(n, 1<<r)
	} else {
		cost += 7 * n / 2
	}
	return cost
}

// varTimePippenger sets e = Σ scalars[i]·elements[i] by the bucket method.
func (e *Element) varTimePippenger(scalars []*Scalar, elements []*Element) *Element {
	limbs, maxBits := scalarLimbs(scalars)
	if maxBits == 0 {
		e.w().Set(edwards25519.NewIdentityPoint())
		return e
	}
	return e.pippengerWindow(limbs, maxBits, elements, msmWindow(len(limbs), maxBits))
}

// scalarLimbs returns the scalars as little-endian 64-bit limbs, and the bit
// length of the largest.
func scalarLimbs(scalars []*Scalar) ([][4]uint64, int) {
	limbs := make([][4]uint64, len(scalars))
	maxBits := 0
	for i, s := range scalars {
		b := s.s.Bytes()
		for j := 0; j < 4; j++ {
			limbs[i][j] = binary.LittleEndian.Uint64(b[8*j:])
		}
		for j := 3; j >= 0; j-- {
			if limbs[i][j] != 0 {
				maxBits = max(maxBits, 64*j+bits.Len64(limbs[i][j]))
				break
			}
		}
	}
	return limbs, maxBits
}

// pippengerWindow sets e = Σ limbs[i]·elements[i], for scalars below
// 2^maxBits, with c-bit windows of signed digits in [-2^(c-1), 2^(c-1)].
// Each window adds every term to the bucket of its digit's absolute value
// (a mixed addition, the points being affine), then sums the buckets.
func (e *Element) pippengerWindow(limbs [][4]uint64, maxBits int, elements []*Element, c int) *Element {
	n := len(limbs)
	points := make([]nielsPoint, n)
	affineNiels(points, elements)

	windows := msmWindows(maxBits, c)
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
			// A bucket's first term sets it, at the cost of one
			// multiplication instead of an addition to the identity.
			switch {
			case d > 0:
				b := &buckets[d-1]
				if used[d-1] {
					b.fromCompleted(comp.addNiels(b, &points[i]))
				} else {
					b.fromNiels(&points[i], false)
					used[d-1] = true
				}
			case d < 0:
				b := &buckets[-d-1]
				if used[-d-1] {
					b.fromCompleted(comp.subNiels(b, &points[i]))
				} else {
					b.fromNiels(&points[i], true)
					used[-d-1] = true
				}
			}
		}
		// Σ_b b·bucket[b] by running sums from the top bucket down; both
		// start at the top used bucket rather than at the identity. The
		// running sum is kept in cached form too, converted once per used
		// bucket and added both to the next bucket and to the sum.
		var running, sum extPoint
		var cachedRunning cachedPoint
		started := false
		for b := half - 1; b >= 0; b-- {
			if used[b] {
				if started {
					running.fromCompleted(comp.addCached(&buckets[b], &cachedRunning))
				} else {
					running = buckets[b]
				}
				cachedRunning.fromExt(&running)
			}
			if started {
				sum.fromCompleted(comp.addCached(&sum, &cachedRunning))
			} else if used[b] {
				sum = running
				started = true
			}
		}
		windowSums[w] = sum
	}
	for _, carry := range carries {
		if carry != 0 {
			panic("group: internal error: a scalar digit carried past the top window")
		}
	}

	acc := windowSums[windows-1]
	for w := windows - 2; w >= 0; w-- {
		for k := 0; k < c; k++ {
			acc.fromCompleted(comp.double(&acc))
		}
		acc.fromCompleted(comp.addCached(&acc, cached.fromExt(&windowSums[w])))
	}
	acc.toPoint(e.w())
	return e
}

// affineNiels sets out[i] to elements[i] in affine Niels form (y+x, y-x,
// 2dxy), so that bucket additions are mixed additions, which skip the
// product Z1·Z2 of a general addition. Elements with Z = 1, as freshly
// decoded ones are, cost one multiplication; the others share one field
// inversion by Montgomery's trick (three multiplications each) and cost four
// more. It panics if some Z is zero, which no valid point has.
func affineNiels(out []nielsPoint, elements []*Element) {
	var acc field.Element
	acc.One()
	var pending []int
	for i, el := range elements {
		X, Y, Z, T := el.p.ExtendedCoordinates()
		if Z.Equal(feOne) == 1 {
			out[i].YplusX.Add(Y, X)
			out[i].YminusX.Subtract(Y, X)
			out[i].T2d.Multiply(T, curveD2)
			continue
		}
		// Until the second pass, T2d holds the product of the earlier
		// pending Z's.
		out[i].T2d.Set(&acc)
		acc.Multiply(&acc, Z)
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return
	}
	var zero field.Element
	if acc.Equal(&zero) == 1 {
		panic("group: multi-scalar multiplication of a point with Z = 0")
	}
	// inv runs through the inverses of the prefix products, from the whole
	// product down.
	var inv, zInv, x, y field.Element
	inv.Invert(&acc)
	for k := len(pending) - 1; k >= 0; k-- {
		i := pending[k]
		X, Y, Z, _ := elements[i].p.ExtendedCoordinates()
		zInv.Multiply(&inv, &out[i].T2d)
		inv.Multiply(&inv, Z)
		x.Multiply(X, &zInv)
		y.Multiply(Y, &zInv)
		out[i].YplusX.Add(&y, &x)
		out[i].YminusX.Subtract(&y, &x)
		out[i].T2d.Multiply(&x, &y)
		out[i].T2d.Multiply(&out[i].T2d, curveD2)
	}
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
