package ballotbox

import (
	"runtime"
	"sync"
	"time"

	"evote/ballot"
	"evote/crypto/zkp"
)

// batcher verifies ballot proofs of concurrent casts together: a worker
// takes the first waiting ballot, gathers more for up to window (or until
// max), adds all their proofs to one zkp.Batch and verifies it with one
// multi-scalar multiplication. If the combined check fails, every ballot of
// the batch is verified alone, so an invalid ballot never makes a valid
// one fail. Several workers run, one per CPU, so gathering overlaps
// verifying.
type batcher struct {
	window time.Duration
	max    int
	reqs   chan *proofReq
	quit   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

type proofReq struct {
	el   *ballot.Election
	b    *ballot.EncryptedBallot
	done chan error
}

func newBatcher(window time.Duration, maxBatch int) *batcher {
	bt := &batcher{window: window, max: maxBatch, reqs: make(chan *proofReq, 4096), quit: make(chan struct{})}
	for range max(1, runtime.GOMAXPROCS(0)) {
		bt.wg.Add(1)
		go bt.worker()
	}
	return bt
}

// verify checks every proof of b; it blocks until its batch is verified.
func (bt *batcher) verify(el *ballot.Election, b *ballot.EncryptedBallot) error {
	r := &proofReq{el: el, b: b, done: make(chan error, 1)}
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
		timer := time.NewTimer(bt.window)
	gather:
		for len(batch) < bt.max {
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
		timer.Stop()
		verifyBatch(batch)
	}
}

func verifyBatch(batch []*proofReq) {
	zb := zkp.NewBatch()
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.el.AddToBatch(zb, r.b, "ballot"); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	if err := zb.Verify(); err == nil {
		for _, r := range live {
			r.done <- nil
		}
		return
	}
	for _, r := range live {
		r.done <- r.el.Verify(r.b)
	}
}
