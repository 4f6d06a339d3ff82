package batcher

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a handler that records the batches it was given.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
}

func (r *recorder) handle(batch []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, slices.Clone(batch))
}

func (r *recorder) all() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// TestBatchSizes: under concurrency every item is handled exactly once,
// in batches that form (some of several items) and stop growing at Max
// weight (exceeded by at most the last item's weight).
func TestBatchSizes(t *testing.T) {
	var rec recorder
	slow := func(batch []int) {
		rec.handle(batch)
		time.Sleep(100 * time.Microsecond) // let the next batch accumulate
	}
	weight := func(x int) int { return 1 + x%3 }
	b := New(Config[int]{Name: "test", Max: 8, Min: 4, Window: time.Millisecond, Weight: weight, Workers: 2}, slow)
	var wg sync.WaitGroup
	for x := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Submit(context.Background(), x); err != nil {
				t.Errorf("submit %d: %v", x, err)
			}
		}()
	}
	wg.Wait()
	// Items still queued at Close are not handled: wait until every item
	// has been (the test times out if one never is), then close.
	for seen := 0; seen < 300; {
		seen = 0
		for _, bt := range rec.all() {
			seen += len(bt)
		}
		if seen < 300 {
			time.Sleep(time.Millisecond)
		}
	}
	b.Close()
	var got []int
	several := false
	for _, bt := range rec.all() {
		w := 0
		for _, x := range bt[:len(bt)-1] {
			w += weight(x)
		}
		if len(bt) == 0 || w >= 8 {
			t.Fatalf("batch %v weighs %d before its last item, want below Max 8", bt, w)
		}
		several = several || len(bt) > 1
		got = append(got, bt...)
	}
	slices.Sort(got)
	for i, x := range got {
		if x != i {
			t.Fatalf("handled items %v, want 0…299 once each", got)
		}
	}
	if len(got) != 300 || !several {
		t.Fatalf("%d items handled in batches %v, want 300 in batches of several", len(got), rec.all())
	}
}

// TestWindow: a batch lighter than Min waits for company (with a window
// longer than the test, the two items can only come as one batch); with
// Min 0 it never waits; with a short window a lone item is handled alone.
func TestWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		min    int
		window time.Duration
		items  []int
		want   [][]int
	}{
		{"waits for company", 2, time.Hour, []int{1, 2}, [][]int{{1, 2}}},
		{"min 0 never waits", 0, time.Hour, []int{1}, [][]int{{1}}},
		{"window expires", 2, time.Millisecond, []int{1}, [][]int{{1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rec recorder
			done := make(chan struct{}, len(tc.items))
			b := New(Config[int]{Name: "test", Max: 8, Min: tc.min, Window: tc.window}, func(batch []int) {
				rec.handle(batch)
				for range batch {
					done <- struct{}{}
				}
			})
			defer b.Close()
			for _, x := range tc.items {
				if err := b.Submit(context.Background(), x); err != nil {
					t.Fatal(err)
				}
			}
			for range tc.items {
				<-done
			}
			if got := rec.all(); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("batches %v, want %v", got, tc.want)
			}
		})
	}
}

// TestShutdown: Close waits for the batch being handled; after Close,
// Submit is refused with ErrClosed and Closed is closed; a Submit to a full
// queue gives up when its context ends.
func TestShutdown(t *testing.T) {
	// started has room for item 2, which the worker may still take after
	// Close (a worker picks at random between a waiting item and Close).
	started, release := make(chan struct{}, 2), make(chan struct{})
	var mu sync.Mutex
	var finished bool
	b := New(Config[int]{Name: "test", Max: 1, Queue: 1}, func([]int) {
		started <- struct{}{}
		<-release
		mu.Lock()
		finished = true
		mu.Unlock()
	})
	if err := b.Submit(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	<-started // the worker holds item 1; the queue is empty
	if err := b.Submit(context.Background(), 2); err != nil {
		t.Fatal(err) // fills the queue
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Submit(ctx, 3); !errors.Is(err, context.Canceled) {
		t.Fatalf("submit to a full queue with an ended context: %v", err)
	}
	closed := make(chan struct{})
	go func() { b.Close(); close(closed) }()
	<-b.Closed()
	if err := b.Submit(context.Background(), 4); !errors.Is(err, ErrClosed) {
		t.Fatalf("submit after Close: %v", err)
	}
	close(release)
	<-closed
	mu.Lock()
	defer mu.Unlock()
	if !finished {
		t.Fatal("Close returned before the batch being handled was done")
	}
}

// TestPanicIsolated: with Isolate, a handler that panics on one item
// fails that item alone (Failed), the others are handled, the worker goes
// on, and the panic's value and stack are logged.
func TestPanicIsolated(t *testing.T) {
	var logged bytes.Buffer
	var logMu sync.Mutex
	var rec recorder
	var failed []int
	done := make(chan struct{}, 16)
	b := New(Config[int]{Name: "test", Max: 8, Min: 8, Window: time.Hour, Isolate: true,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil)),
		Failed: func(x int) { failed = append(failed, x); done <- struct{}{} }},
		func(batch []int) {
			if slices.Contains(batch, 3) {
				panic("bug")
			}
			rec.handle(batch)
			for range batch {
				done <- struct{}{}
			}
		})
	defer b.Close()
	for x := range 8 {
		if err := b.Submit(context.Background(), x); err != nil {
			t.Fatal(err)
		}
	}
	for range 8 {
		<-done
	}
	want := [][]int{{0}, {1}, {2}, {4}, {5}, {6}, {7}}
	if got := rec.all(); !slices.Equal(failed, []int{3}) || !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("failed %v, handled %v; want [3] and %v", failed, got, want)
	}
	logMu.Lock()
	l := logged.String()
	logMu.Unlock()
	if !strings.Contains(l, "panic=bug") || !strings.Contains(l, "batcher_test.go") || !strings.Contains(l, "items=8") {
		t.Fatalf("the log does not hold the panic's value, batch and stack: %q", l)
	}
}

// TestPanicRaised: without Isolate, a panic is logged with its stack and
// raised again, stopping the process (run in a child process).
func TestPanicRaised(t *testing.T) {
	if os.Getenv("BATCHER_PANIC_CHILD") == "1" {
		b := New(Config[int]{Name: "child"}, func([]int) { panic("bug in commit") })
		_ = b.Submit(context.Background(), 1)
		time.Sleep(time.Minute) // the panic ends the process first
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPanicRaised$")
	cmd.Env = append(os.Environ(), "BATCHER_PANIC_CHILD=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("the child did not fail: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "child: a batch handler panicked") || !strings.Contains(s, `panic="bug in commit"`) || !strings.Contains(s, "panic: bug in commit") {
		t.Fatalf("the child's output lacks the logged and raised panic:\n%s", s)
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
