package ballotbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGatherer checks that every caller gets its own item's result, that
// batches respect the maximum and do form under concurrency, and that
// callers waiting at shutdown get ErrShutdown.
func TestGatherer(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	g := newGatherer("test", time.Millisecond, 4, 8, nil, func(ins []int) ([]string, []error) {
		mu.Lock()
		sizes = append(sizes, len(ins))
		mu.Unlock()
		time.Sleep(time.Millisecond) // let the next batch accumulate
		outs, errs := make([]string, len(ins)), make([]error, len(ins))
		for i, x := range ins {
			if x%7 == 0 {
				errs[i] = fmt.Errorf("%d is a multiple of 7", x)
			} else {
				outs[i] = fmt.Sprint("item ", x)
			}
		}
		return outs, errs
	})
	var wg sync.WaitGroup
	for x := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := g.do(x)
			if (err != nil) != (x%7 == 0) || (err == nil && out != fmt.Sprint("item ", x)) {
				t.Errorf("item %d: got %q, %v", x, out, err)
			}
		}()
	}
	wg.Wait()
	total, batched := 0, false
	for _, n := range sizes {
		if n > 8 || n < 1 {
			t.Fatalf("batch of %d, want 1 to 8", n)
		}
		total += n
		batched = batched || n > 1
	}
	if total != 100 || !batched {
		t.Fatalf("batches %v: %d items, want 100 in batches of several", sizes, total)
	}

	block := make(chan struct{})
	slow := newGatherer("test", time.Millisecond, 1, 1, nil, func(ins []int) ([]int, []error) {
		<-block
		return ins, make([]error, len(ins))
	})
	errc := make(chan error, 2)
	for range 2 {
		go func() { _, err := slow.do(1); errc <- err }()
	}
	time.Sleep(10 * time.Millisecond)
	go func() { time.Sleep(10 * time.Millisecond); close(block) }()
	slow.stop()
	for range 2 {
		if err := <-errc; err != nil && !errors.Is(err, ErrShutdown) {
			t.Fatalf("caller at shutdown: %v", err)
		}
	}
}

// TestGathererPanic: a check that panics on one item (a bug some input
// triggers) fails that item alone with an internal error; the worker, and
// the server, go on.
func TestGathererPanic(t *testing.T) {
	var logged bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil))
	g := newGatherer("test", 5*time.Millisecond, 8, 8, logger, func(ins []int) ([]int, []error) {
		for _, x := range ins {
			if x == 3 {
				panic("bug")
			}
		}
		return ins, make([]error, len(ins))
	})
	defer g.stop()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for x := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[x] = g.do(x) }()
	}
	wg.Wait()
	for x, err := range errs {
		if (x == 3) != errors.Is(err, errCheckFailed) || x != 3 && err != nil {
			t.Fatalf("item %d: %v", x, err)
		}
	}
	if out, err := g.do(5); err != nil || out != 5 {
		t.Fatalf("after a panic: %d, %v", out, err)
	}
	// The panic's value and stack are in the log (issue 20, defect 4).
	logMu.Lock()
	defer logMu.Unlock()
	if l := logged.String(); !strings.Contains(l, "panic=bug") || !strings.Contains(l, "batch_test.go") {
		t.Fatalf("the log does not hold the panic's value and stack: %q", l)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
