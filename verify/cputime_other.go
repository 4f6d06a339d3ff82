//go:build !linux

package verify

import "time"

var epoch = time.Now()

// threadCPU is wall time where the thread's CPU time is not portably
// available: the per-check times are then wall times (§11.5).
func threadCPU() time.Duration { return time.Since(epoch) }

// processCPU is wall time too, for the same reason.
func processCPU() time.Duration { return time.Since(epoch) }
