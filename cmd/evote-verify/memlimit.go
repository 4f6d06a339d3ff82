package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
)

// The verifier's heap grows with the record (spec §11.7): at its most it
// holds about limitPerEntry bytes per entry of the record (a ballot is two
// entries, its credential and itself), plus a fixed part. Go's collector,
// by default, lets the heap grow to twice what it holds before collecting;
// evote-verify instead sets a soft memory limit (runtime/debug.
// SetMemoryLimit) of limitBase + limitPerEntry·entries once it knows the
// record's size (from its checkpoint), which leaves the collector about half
// the headroom at a million ballots and none of its say at small ones
// (the limit is then above twice the heap). GOMEMLIMIT in the environment,
// or --memory-limit off, keeps the runtime's own setting.
const (
	limitBase     = 128 << 20
	limitPerEntry = 800
)

// autoLimit returns the soft memory limit for a record of entries entries.
func autoLimit(entries uint64) int64 { return limitBase + limitPerEntry*int64(entries) }

// memoryLimiter sets the limit once, at the first progress report that
// carries the record's size.
type memoryLimiter struct {
	once sync.Once
	on   bool
}

func newMemoryLimiter(mode string) (*memoryLimiter, error) {
	switch mode {
	case "auto":
		_, env := os.LookupEnv("GOMEMLIMIT")
		return &memoryLimiter{on: !env}, nil
	case "off":
		return &memoryLimiter{}, nil
	}
	return nil, fmt.Errorf("--memory-limit %q: want auto or off", mode)
}

// progress wraps a progress function.
func (m *memoryLimiter) progress(next func(stage string, done, total uint64)) func(string, uint64, uint64) {
	return func(stage string, done, total uint64) {
		if m.on && total > 0 && strings.HasPrefix(stage, "verify") {
			m.once.Do(func() {
				// The first report comes after the first batch: a total no
				// larger than what is done is not the checkpoint's size
				// (one that did not parse) unless the record is that small.
				if total > done || total <= 4096 {
					debug.SetMemoryLimit(autoLimit(total))
				}
			})
		}
		next(stage, done, total)
	}
}
