//go:build linux

package verify

import (
	"syscall"
	"time"
)

// rusageThread is Linux's RUSAGE_THREAD: the calling thread's usage.
const rusageThread = 1

// threadCPU returns the CPU time of the calling OS thread. The verifier's
// workers lock their goroutine to a thread, so differences of threadCPU
// are the CPU a step took, not the wall time it waited for a core.
func threadCPU() time.Duration { return rusage(rusageThread) }

// processCPU returns the CPU time of the whole process, for steps that
// run goroutines of their own (a proof of shuffle's verification).
func processCPU() time.Duration { return rusage(syscall.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
