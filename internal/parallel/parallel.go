// Package parallel runs the chunks of a long list on all cores. The
// crypto packages decode, weight and combine lists of millions of
// ciphertexts a chunk at a time, so that their memory stays that of the
// lists' encodings (spec §11.7); this is their one scheduler.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Chunks calls f(c, lo, hi) for every chunk c = [lo, hi) of size items of
// [0, n) (the last one may be shorter), on up to GOMAXPROCS goroutines,
// each taking the next chunk until none is left. It returns once every
// call has; calls for different chunks run concurrently.
func Chunks(n, size int, f func(c, lo, hi int)) {
	Workers(n, size, func() func(c, lo, hi int) { return f })
}

// Workers is Chunks for work that keeps buffers between chunks: each
// goroutine calls work once and uses the function it returns for every
// chunk it takes.
func Workers(n, size int, work func() func(c, lo, hi int)) {
	if n <= 0 {
		return
	}
	if size < 1 {
		size = 1
	}
	chunks := (n + size - 1) / size
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := work()
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				f(c, c*size, min((c+1)*size, n))
			}
		}()
	}
	wg.Wait()
}
