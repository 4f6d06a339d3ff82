package ballotbox

import (
	"fmt"
	"sync"
	"time"

	"evote/ballot"
	"evote/crypto/zkp"
)

// batcher verifies the proofs of concurrent casts together. Each cast
// decodes its ballot and builds its own zkp.Batch in its own goroutine (the
// decoding of some fifty group elements is most of a ballot's cost and
// runs in parallel); the batcher merges the waiting batches and checks them
// with one multi-scalar multiplication, whose cost per term falls as the
// batch grows. If the merged check fails, every ballot's batch is verified
// alone, so an invalid ballot never makes a valid one fail.
//
// One worker gathers: it takes every batch waiting, and while it verifies,
// the next batch accumulates, so batches grow with the load by themselves.
// Under light load a batch smaller than minBatch waits up to window for
// company. A large merged batch is summed on every core by
// group.VarTimeMultiScalarMult.
type batcher struct {
	window   time.Duration
	minBatch int
	max      int
	reqs     chan *proofReq
	quit     chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
}

type proofReq struct {
	b    *zkp.Batch
	done chan error
}

// minBatch is the batch size below which the batcher waits (up to its
// window) for more ballots.
const minBatch = 16

func newBatcher(window time.Duration, maxBatch int) *batcher {
	bt := &batcher{window: window, minBatch: min(minBatch, maxBatch), max: maxBatch, reqs: make(chan *proofReq, 4096), quit: make(chan struct{})}
	bt.wg.Add(1)
	go bt.worker()
	return bt
}

// verify checks the equations of zb, one ballot's proofs; it blocks until
// its merged batch is verified.
func (bt *batcher) verify(zb *zkp.Batch) error {
	r := &proofReq{b: zb, done: make(chan error, 1)}
	select {
	case bt.reqs <- r:
	case <-bt.quit:
		return ErrShutdown
	}
	select {
	case err := <-r.done:
		return err
	case <-bt.quit:
		return ErrShutdown
	}
}

func (bt *batcher) stop() {
	bt.once.Do(func() { close(bt.quit) })
	bt.wg.Wait()
}

func (bt *batcher) worker() {
	defer bt.wg.Done()
	for {
		var batch []*proofReq
		select {
		case r := <-bt.reqs:
			batch = append(batch, r)
		case <-bt.quit:
			return
		}
		var timer *time.Timer
	gather:
		for len(batch) < bt.max {
			select {
			case r := <-bt.reqs:
				batch = append(batch, r)
				continue
			default:
			}
			if len(batch) >= bt.minBatch {
				break
			}
			if timer == nil {
				timer = time.NewTimer(bt.window)
			}
			select {
			case r := <-bt.reqs:
				batch = append(batch, r)
			case <-timer.C:
				break gather
			case <-bt.quit:
				timer.Stop()
				for _, r := range batch {
					r.done <- ErrShutdown
				}
				return
			}
		}
		if timer != nil {
			timer.Stop()
		}
		verifyBatch(batch)
	}
}

func verifyBatch(batch []*proofReq) {
	if len(batch) == 1 {
		batch[0].done <- wrapInvalid(batch[0].b.Verify())
		return
	}
	merged := zkp.NewBatch()
	for _, r := range batch {
		merged.Merge(r.b)
	}
	if merged.Verify() == nil {
		for _, r := range batch {
			r.done <- nil
		}
		return
	}
	for _, r := range batch {
		r.done <- wrapInvalid(r.b.Verify())
	}
}

func wrapInvalid(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", ballot.ErrInvalidBallot, err)
	}
	return nil
}
