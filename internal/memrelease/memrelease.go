// Package memrelease returns the memory of a large request to the system
// once the request is done (spec/10-api.md §10.3, §10.5): a password hash
// (64 MiB) or a large body leaves the heap's pages free but still mapped,
// and Go's background scavenger gives them back only gradually, so that a
// burst of large requests would leave the process at its peak. After one,
// the server calls Soon: debug.FreeOSMemory (a collection, then every
// free page back to the system) runs in the background, at most once
// every Every, and always within Every of the latest call while it is
// cheap.
//
// It is bounded by its cost: FreeOSMemory is a full collection, whose
// cost grows with the live heap (several CPU-seconds for a box holding a
// million voters' board in 8 GB), so after a call that took d the next
// waits at least CostShare × d: the releases take at most 1/CostShare of
// the time, whatever the heap. On a small heap (tens of milliseconds a
// call) that is Every, as before.
package memrelease

import (
	"runtime/debug"
	"sync"
	"time"
)

// Every is the least interval between two releases.
const Every = time.Second

// CostShare bounds the releases' share of the time: after a release that
// took d, the next waits at least CostShare × d (so at most 1/CostShare
// of the time goes to them, 5%).
const CostShare = 20

// A Releaser schedules the releases; the zero value is not usable (New).
type Releaser struct {
	free  func()                          // debug.FreeOSMemory
	now   func() time.Time                // time.Now
	after func(d time.Duration, f func()) // time.AfterFunc
	mu    sync.Mutex
	last  time.Time     // when the latest release ended
	cost  time.Duration // how long it took
	sched bool          // a release is scheduled
}

// New returns a Releaser that calls free (debug.FreeOSMemory in the
// server), reads the time with now and schedules with after (time.Now and
// a time.AfterFunc in the server; a test's clock in tests).
func New(free func(), now func() time.Time, after func(time.Duration, func())) *Releaser {
	return &Releaser{free: free, now: now, after: after}
}

var std = New(debug.FreeOSMemory, time.Now, func(d time.Duration, f func()) { time.AfterFunc(d, f) })

// Soon returns the free memory to the system in the background (the
// process's Releaser).
func Soon() { std.Soon() }

// Interval is the least time between the end of a release that took cost
// and the start of the next.
func Interval(cost time.Duration) time.Duration { return max(Every, CostShare*cost) }

// Soon schedules a release unless one is scheduled: at once if the
// latest ended at least Interval(its cost) ago, else that long after it
// ended.
func (r *Releaser) Soon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sched {
		return
	}
	r.sched = true
	wait := Interval(r.cost) - r.now().Sub(r.last)
	r.after(max(0, wait), r.release)
}

func (r *Releaser) release() {
	t0 := r.now()
	r.free()
	end := r.now()
	r.mu.Lock()
	r.last, r.cost, r.sched = end, end.Sub(t0), false
	r.mu.Unlock()
}
