package cpustat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

// spinHash spins for d of its thread's CPU time. It keeps its OS thread
// (Thread measures the calling thread): a goroutine that moved to
// another thread mid-way would measure that thread's time, and spin on
// for as long as the scheduler pleased.
//
//go:noinline
func spinHash(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := Thread()
	h := sha256.Sum256(nil)
	for Thread()-t0 < d {
		for range 1000 {
			h = sha256.Sum256(h[:])
		}
	}
}

// TestAttribute profiles two CPU-bound calls, one in a labelled goroutine,
// and checks that Attribute gives most of the profile's CPU to their
// components: by function (the hash inside counts for its caller) and by
// label.
func TestAttribute(t *testing.T) {
	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		t.Skip("CPU profiling unavailable:", err)
	}
	spinHash(300 * time.Millisecond)
	done := make(chan struct{})
	pprof.Do(context.Background(), pprof.Labels("server", "x"), func(context.Context) {
		go func() {
			defer close(done)
			spinHash(300 * time.Millisecond)
		}()
	})
	<-done
	pprof.StopCPUProfile()
	comps := []Component{
		{Name: "labelled", Label: "server=x"},
		{Name: "spin", Prefixes: []string{"evote/internal/cpustat.spinHash"}},
	}
	got, err := Attribute(prof.Bytes(), comps, "other")
	if err != nil {
		t.Fatal(err)
	}
	var total time.Duration
	for _, d := range got {
		total += d
	}
	t.Logf("attributed %v: %v", total, got)
	if total < 300*time.Millisecond {
		t.Fatalf("profile holds %v of 600 ms of CPU", total)
	}
	for _, c := range []string{"labelled", "spin"} {
		if got[c] < total/4 {
			t.Errorf("%s got %v of %v", c, got[c], total)
		}
	}
	if _, err := Attribute([]byte("not a profile"), comps, "other"); err == nil {
		t.Error("a malformed profile was read")
	}
}

func TestScalarMult(t *testing.T) {
	if sm := ScalarMult(); sm <= 0 || sm > 10*time.Millisecond {
		t.Errorf("one scalar multiplication took %v of CPU", sm)
	}
}
