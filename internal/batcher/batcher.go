// Package batcher gathers concurrent requests into batches for one
// handler, because handling n items at once costs much less than n single
// ones (a batch signature or proof check, one store transaction).
//
// A worker takes the first waiting item, then every item already waiting,
// until the batch weighs Max; if it weighs less than Min, it waits up to
// Window for company. While a batch is handled the next one accumulates,
// so batches grow with the load by themselves and a lone item under light
// load waits at most Window.
//
// The batcher does not carry results: an item that needs an answer holds
// its own channel, which the handler fills.
package batcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// DefaultQueue is how many submitted items may wait for a worker when
// Config.Queue is 0.
const DefaultQueue = 1024

// ErrClosed refuses an item submitted after Close.
var ErrClosed = errors.New("batcher: closed")

// Config says how a Batcher forms its batches.
type Config[T any] struct {
	// Name names the batcher in the log line of a panic.
	Name string
	// Max is the weight at which a batch is handled without taking more
	// items (at least 1). A batch may exceed it by its last item's weight.
	Max int
	// Min is the weight below which a batch waits up to Window for more
	// items; 0 never waits (the batch is what was waiting).
	Min    int
	Window time.Duration
	// Weight is an item's weight (1 each when nil): the board counts
	// entries, a request carrying several.
	Weight func(T) int
	// Workers is how many goroutines gather and handle batches
	// concurrently (default 1; one is the single writer a log needs).
	Workers int
	// Queue is how many submitted items may wait (default DefaultQueue).
	Queue int
	// Isolate, after a panic of the handler (logged with its value and
	// stack), hands each item of the batch to the handler alone, so that
	// only an item whose own handling panics fails: it goes to Failed.
	// Without Isolate, the panic is logged and raised again, which stops
	// the process as any panic in a goroutine does: a handler whose
	// effects a panic may leave half done (a store commit) must not be
	// run again blindly.
	Isolate bool
	Failed  func(T)
	// Logger records panics (slog's default when nil).
	Logger *slog.Logger
}

// A Batcher runs handle on batches of the items submitted to it.
type Batcher[T any] struct {
	cfg    Config[T]
	handle func([]T)
	in     chan T
	quit   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// New starts cfg.Workers workers that hand batches to handle.
func New[T any](cfg Config[T], handle func([]T)) *Batcher[T] {
	cfg.Max = max(cfg.Max, 1)
	cfg.Min = min(cfg.Min, cfg.Max)
	if cfg.Weight == nil {
		cfg.Weight = func(T) int { return 1 }
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Batcher[T]{cfg: cfg, handle: handle, in: make(chan T, cfg.Queue), quit: make(chan struct{})}
	for range cfg.Workers {
		b.wg.Add(1)
		go b.worker()
	}
	return b
}

// Submit queues item for a coming batch. It returns ErrClosed once Close
// has been called, or ctx's error if ctx ends first; nil does not mean
// the item was handled, only that a worker will see it unless the batcher
// closes first.
func (b *Batcher[T]) Submit(ctx context.Context, item T) error {
	select {
	case <-b.quit:
		return ErrClosed
	default:
	}
	select {
	case b.in <- item:
		return nil
	case <-b.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Closed is closed when Close is called: a caller waiting for its item's
// answer selects on it too, since items still queued at Close are never
// handled.
func (b *Batcher[T]) Closed() <-chan struct{} { return b.quit }

// Close stops the workers and waits for the batches being handled. A
// batch being gathered at Close is still handled; items still queued are
// not.
func (b *Batcher[T]) Close() {
	b.once.Do(func() { close(b.quit) })
	b.wg.Wait()
}

func (b *Batcher[T]) worker() {
	defer b.wg.Done()
	for {
		var first T
		select {
		case first = <-b.in:
		case <-b.quit:
			return
		}
		b.run(b.gather(first))
	}
}

// gather completes the batch that starts with first.
func (b *Batcher[T]) gather(first T) []T {
	batch := []T{first}
	n := b.cfg.Weight(first)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for n < b.cfg.Max {
		select {
		case it := <-b.in:
			batch = append(batch, it)
			n += b.cfg.Weight(it)
			continue
		default:
		}
		if n >= b.cfg.Min {
			return batch
		}
		if timer == nil {
			timer = time.NewTimer(b.cfg.Window)
		}
		select {
		case it := <-b.in:
			batch = append(batch, it)
			n += b.cfg.Weight(it)
		case <-timer.C:
			return batch
		case <-b.quit:
			return batch
		}
	}
	return batch
}

// run hands batch to the handler, and after a panic (with Isolate) each
// of its items alone.
func (b *Batcher[T]) run(batch []T) {
	if b.safe(batch) {
		return
	}
	for i := range batch {
		if !b.safe(batch[i:i+1]) && b.cfg.Failed != nil {
			b.cfg.Failed(batch[i])
		}
	}
}

// safe runs the handler on batch and reports whether it returned. A
// panic is logged with its value and stack; without Isolate it is raised
// again.
func (b *Batcher[T]) safe(batch []T) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			msg := "a batch handler panicked; its items are handled one by one, and those that panic alone fail"
			if !b.cfg.Isolate || len(batch) == 1 {
				msg = "a batch handler panicked"
			}
			b.cfg.Logger.Error(b.cfg.Name+": "+msg, "panic", fmt.Sprint(r), "items", len(batch), "stack", string(debug.Stack()))
			if !b.cfg.Isolate {
				panic(r)
			}
		}
	}()
	b.handle(batch)
	return true
}
