package shuffle

import (
	"fmt"
	"io"
	"sync"
	"time"

	"evote/internal/parallel"
)

// Progress receives reports of a long operation: done of total rows are
// finished in the named phase. It is called from several goroutines, never
// concurrently with itself, and must return quickly. A nil Progress is
// ignored.
type Progress func(phase string, done, total int)

// TextProgress returns a Progress that writes a line to w at most once per
// interval and at the end of each phase: rows done, rate and estimated time
// left. It is the renderer the command-line tools use.
func TextProgress(w io.Writer, interval time.Duration) Progress {
	var (
		mu    sync.Mutex
		phase string
		start time.Time
		last  time.Time
	)
	return func(ph string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if ph != phase {
			phase, start, last = ph, now, time.Time{}
		}
		if done < total && now.Sub(last) < interval {
			return
		}
		last = now
		el := now.Sub(start).Seconds()
		rate := 0.0
		if el > 0 {
			rate = float64(done) / el
		}
		left := "?"
		if rate > 0 {
			left = (time.Duration(float64(total-done)/rate*1e9) * time.Nanosecond).Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s: %d/%d rows, %.0f rows/s, %s left\n", ph, done, total, rate, left)
	}
}

// tracker counts finished rows of one phase and reports them.
type tracker struct {
	p     Progress
	phase string
	total int
	done  int
	mu    sync.Mutex
}

func newTracker(p Progress, phase string, total int) *tracker {
	t := &tracker{p: p, phase: phase, total: total}
	if p != nil {
		p(phase, 0, total)
	}
	return t
}

func (t *tracker) add(n int) {
	if t == nil || t.p == nil {
		return
	}
	t.mu.Lock()
	t.done += n
	t.p(t.phase, t.done, t.total)
	t.mu.Unlock()
}

// forChunks calls f(lo, hi) for consecutive chunks [lo, hi) of [0, n) of at
// most size rows, on GOMAXPROCS goroutines, and returns the error of the
// lowest-numbered chunk that failed. Rows done are reported to tr.
func forChunks(n, size int, tr *tracker, f func(lo, hi int) error) error {
	if n <= 0 {
		return nil
	}
	errs := make([]error, (n+size-1)/size)
	parallel.Chunks(n, size, func(c, lo, hi int) {
		errs[c] = f(lo, hi)
		tr.add(hi - lo)
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
