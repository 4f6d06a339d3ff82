package ballotbox

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"evote/ballot"
	"evote/crypto/zkp"
)

// A gatherer runs the checks of concurrent casts in batches, because a
// batch check of n items costs much less than n single ones: one worker
// takes every item waiting, and while it checks them the next batch
// accumulates, so batches grow with the load by themselves. Under light
// load a batch smaller than minBatch waits up to window for company.
//
// check gets the batch's inputs and returns one output and one error per
// input; an item's error must depend on that item alone (a batch check that
// fails falls back to checking each item, so an invalid item never makes a
// valid one fail).
type gatherer[In, Out any] struct {
	window   time.Duration
	minBatch int
	max      int
	check    func([]In) ([]Out, []error)
	// logger records a panic of check with its value and stack (the item
	// only gets errCheckFailed); slog's default when nil.
	logger *slog.Logger
	reqs   chan *gatherReq[In, Out]
	quit   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

type gatherReq[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
}

func newGatherer[In, Out any](window time.Duration, minBatch, maxBatch int, check func([]In) ([]Out, []error)) *gatherer[In, Out] {
	g := &gatherer[In, Out]{window: window, minBatch: min(minBatch, maxBatch), max: maxBatch, check: check,
		reqs: make(chan *gatherReq[In, Out], 4096), quit: make(chan struct{})}
	g.wg.Add(1)
	go g.worker()
	return g
}

// do checks in with the next batch and returns its output; it blocks until
// the batch is checked, or returns ErrShutdown.
func (g *gatherer[In, Out]) do(in In) (Out, error) {
	r := &gatherReq[In, Out]{in: in, done: make(chan struct{})}
	var zero Out
	select {
	case g.reqs <- r:
	case <-g.quit:
		return zero, ErrShutdown
	}
	select {
	case <-r.done:
		return r.out, r.err
	case <-g.quit:
		return zero, ErrShutdown
	}
}

func (g *gatherer[In, Out]) stop() {
	g.once.Do(func() { close(g.quit) })
	g.wg.Wait()
}

func (g *gatherer[In, Out]) worker() {
	defer g.wg.Done()
	for {
		var batch []*gatherReq[In, Out]
		select {
		case r := <-g.reqs:
			batch = append(batch, r)
		case <-g.quit:
			return
		}
		var timer *time.Timer
	gather:
		for len(batch) < g.max {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			if len(batch) >= g.minBatch {
				break
			}
			if timer == nil {
				timer = time.NewTimer(g.window)
			}
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			case <-timer.C:
				break gather
			case <-g.quit:
				timer.Stop()
				return // the callers see quit closed
			}
		}
		if timer != nil {
			timer.Stop()
		}
		ins := make([]In, len(batch))
		for i, r := range batch {
			ins[i] = r.in
		}
		outs, errs := g.safeCheck(ins)
		for i, r := range batch {
			r.out, r.err = outs[i], errs[i]
			close(r.done)
		}
	}
}

// errCheckFailed is the error of an item whose check panicked: an internal
// error (500), never a refusal of the request's content.
var errCheckFailed = errors.New("ballotbox: internal error while checking the request")

// safeCheck runs check, which runs in the gatherer's goroutine, out of
// reach of the HTTP server's recovery: if it panics (a bug that some input
// triggers), each item is checked alone, so that only the item that
// panics fails, with errCheckFailed, and the server goes on.
func (g *gatherer[In, Out]) safeCheck(ins []In) (outs []Out, errs []error) {
	if outs, errs, ok := g.recoverCheck(ins); ok {
		return outs, errs
	}
	outs, errs = make([]Out, len(ins)), make([]error, len(ins))
	for i := range ins {
		o, e, ok := g.recoverCheck(ins[i : i+1])
		if !ok {
			errs[i] = errCheckFailed
			continue
		}
		outs[i], errs[i] = o[0], e[0]
	}
	return outs, errs
}

func (g *gatherer[In, Out]) recoverCheck(ins []In) (outs []Out, errs []error, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			ok = false
			l := g.logger
			if l == nil {
				l = slog.Default()
			}
			l.Error("ballotbox: a batch check panicked; its items fail with an internal error", "panic", fmt.Sprint(r), "items", len(ins), "stack", string(debug.Stack()))
		}
	}()
	outs, errs = g.check(ins)
	return outs, errs, len(outs) == len(ins) && len(errs) == len(ins)
}

// proofBatchMin is the batch size below which the proof gatherer waits (up
// to its window) for more ballots.
const proofBatchMin = 16

// newProofGatherer verifies the proofs of concurrent casts. Each cast
// decodes its ballot and builds its own zkp.Batch in its own goroutine (the
// decoding of some fifty group elements is most of a ballot's cost, and
// runs in parallel); the gatherer merges the batches and checks them with
// one multi-scalar multiplication, whose cost per term falls as the batch
// grows (a large one is summed on every core). If the merged check fails,
// every ballot's batch is verified alone.
func newProofGatherer(window time.Duration, maxBatch int) *gatherer[*zkp.Batch, struct{}] {
	return newGatherer(window, proofBatchMin, maxBatch, verifyProofs)
}

func verifyProofs(batches []*zkp.Batch) ([]struct{}, []error) {
	outs, errs := make([]struct{}, len(batches)), make([]error, len(batches))
	if len(batches) > 1 {
		merged := zkp.NewBatch()
		for _, b := range batches {
			merged.Merge(b)
		}
		if merged.Verify() == nil {
			return outs, errs
		}
	}
	for i, b := range batches {
		if err := b.Verify(); err != nil {
			errs[i] = fmt.Errorf("%w: %w", ballot.ErrInvalidBallot, err)
		}
	}
	return outs, errs
}
