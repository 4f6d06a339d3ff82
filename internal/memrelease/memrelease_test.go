package memrelease

import (
	"testing"
	"time"
)

// simulate runs a Releaser on simulated time: Soon is called every tick,
// each release takes cost of simulated time, and timers fire when the
// clock reaches them. It returns the number of releases in span and the
// simulated time they took.
func simulate(t *testing.T, cost, tick, span time.Duration) (calls int, busy time.Duration) {
	t.Helper()
	clock := time.Unix(1_800_000_000, 0)
	type timer struct {
		at time.Time
		f  func()
	}
	var timers []timer
	r := New(func() {
		calls++
		busy += cost
		clock = clock.Add(cost)
	}, func() time.Time { return clock }, func(d time.Duration, f func()) {
		timers = append(timers, timer{clock.Add(d), f})
	})
	end := clock.Add(span)
	for clock.Before(end) {
		r.Soon()
		for len(timers) > 0 && !timers[0].at.After(clock) {
			f := timers[0].f
			timers = timers[1:]
			f()
		}
		clock = clock.Add(tick)
	}
	return calls, busy
}

// TestReleaseBoundedByCost (issue 16): large requests arriving all the
// time (one every 100 ms for 10 simulated minutes) on a box whose full
// collection takes 4 s (an 8 GB heap): the releases take at most
// 1/CostShare of the time, not most of it. Before, a release ran every
// Every after the previous one ended whatever it cost: 120 calls, 80% of
// the time in collections. On a small heap (10 ms a release) memory is
// still returned every Every.
func TestReleaseBoundedByCost(t *testing.T) {
	span := 10 * time.Minute
	calls, busy := simulate(t, 4*time.Second, 100*time.Millisecond, span)
	t.Logf("4 s releases: %d in %v, %v in them", calls, span, busy)
	if calls < 2 || busy > span/CostShare+4*time.Second {
		t.Errorf("4 s releases: %d calls, %v of %v in them, want at most 1/%d of the time (and a release at once)", calls, busy, span, CostShare)
	}
	calls, _ = simulate(t, 10*time.Millisecond, 100*time.Millisecond, span)
	t.Logf("10 ms releases: %d in %v", calls, span)
	if want := int(span / (Every + 110*time.Millisecond)); calls < want {
		t.Errorf("10 ms releases: %d calls in %v, want at least %d (one every %v)", calls, span, want, Every)
	}
	// A single large request on an idle box: released at once.
	if calls, _ := simulate(t, 4*time.Second, time.Hour, time.Minute); calls != 1 {
		t.Errorf("one request: %d releases, want 1", calls)
	}
}
