package ballotbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"evote/ballot"
	"evote/crypto/zkp"
	"evote/internal/batcher"
)

// A gatherer runs the checks of concurrent casts in batches, because a
// batch check of n items costs much less than n single ones. Its batches
// are formed by internal/batcher: one worker takes every item waiting, and
// while it checks them the next batch accumulates, so batches grow with
// the load by themselves. Under light load a batch smaller than minBatch
// waits up to window for company.
//
// check gets the batch's inputs and returns one output and one error per
// input; an item's error must depend on that item alone (a batch check that
// fails falls back to checking each item, so an invalid item never makes a
// valid one fail).
type gatherer[In, Out any] struct {
	check func([]In) ([]Out, []error)
	b     *batcher.Batcher[*gatherReq[In, Out]]
}

type gatherReq[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{}
}

// newGatherer starts a gatherer named name (in the log line of a panic of
// check, which logger records with its value and stack; slog's default
// when nil).
func newGatherer[In, Out any](name string, window time.Duration, minBatch, maxBatch int, logger *slog.Logger, check func([]In) ([]Out, []error)) *gatherer[In, Out] {
	g := &gatherer[In, Out]{check: check}
	// check runs in the batcher's goroutine, out of reach of the HTTP
	// server's recovery: if it panics (a bug that some input triggers),
	// each item is checked alone, so that only the item that panics
	// fails, with errCheckFailed, and the server goes on.
	g.b = batcher.New(batcher.Config[*gatherReq[In, Out]]{
		Name: "ballotbox: " + name, Max: maxBatch, Min: minBatch, Window: window, Queue: 4096,
		Isolate: true, Logger: logger,
		Failed: func(r *gatherReq[In, Out]) { r.err = errCheckFailed; close(r.done) },
	}, g.run)
	return g
}

// run checks one batch and answers its callers.
func (g *gatherer[In, Out]) run(batch []*gatherReq[In, Out]) {
	ins := make([]In, len(batch))
	for i, r := range batch {
		ins[i] = r.in
	}
	outs, errs := g.check(ins)
	if len(outs) != len(ins) || len(errs) != len(ins) {
		panic(fmt.Sprintf("ballotbox: a batch check answered %d outputs and %d errors for %d inputs", len(outs), len(errs), len(ins)))
	}
	for i, r := range batch {
		r.out, r.err = outs[i], errs[i]
		close(r.done)
	}
}

// do checks in with the next batch and returns its output; it blocks until
// the batch is checked, or returns ErrShutdown.
func (g *gatherer[In, Out]) do(in In) (Out, error) {
	r := &gatherReq[In, Out]{in: in, done: make(chan struct{})}
	var zero Out
	if err := g.b.Submit(context.Background(), r); err != nil {
		return zero, ErrShutdown
	}
	select {
	case <-r.done:
		return r.out, r.err
	case <-g.b.Closed():
		return zero, ErrShutdown
	}
}

func (g *gatherer[In, Out]) stop() { g.b.Close() }

// errCheckFailed is the error of an item whose check panicked: an internal
// error (500), never a refusal of the request's content.
var errCheckFailed = errors.New("ballotbox: internal error while checking the request")

// Defaults of the proof gatherer (Config.BatchWindow, Config.BatchMax).
const (
	DefaultBatchWindow = 2 * time.Millisecond
	DefaultBatchMax    = 256
)

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
func newProofGatherer(window time.Duration, maxBatch int, logger *slog.Logger) *gatherer[*zkp.Batch, struct{}] {
	return newGatherer("proof check", window, proofBatchMin, maxBatch, logger, verifyProofs)
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
