package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestMemoryLimiter: auto sets 128 MiB + 800 bytes per entry once the
// record's size is known (and only then), off and GOMEMLIMIT leave the
// runtime's limit alone, anything else is refused.
func TestMemoryLimiter(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	noop := func(string, uint64, uint64) {}
	for _, c := range []struct {
		mode, env   string
		done, total uint64
		want        int64
	}{
		{"auto", "", 512, 2_000_000, 128<<20 + 800*2_000_000},
		{"auto", "", 512, 1000, 128<<20 + 800*1000},
		{"auto", "", 8192, 8192, math.MaxInt64}, // the size is not the checkpoint's
		{"off", "", 512, 2_000_000, math.MaxInt64},
		{"auto", "1GiB", 512, 2_000_000, math.MaxInt64},
	} {
		debug.SetMemoryLimit(math.MaxInt64)
		if c.env != "" {
			t.Setenv("GOMEMLIMIT", c.env)
		}
		m, err := newMemoryLimiter(c.mode)
		if err != nil {
			t.Fatal(err)
		}
		p := m.progress(noop)
		p("verify", c.done, c.total)
		p("verify", c.done, 3*c.total) // only the first report counts
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("%s, GOMEMLIMIT=%q, %d of %d: limit %d, want %d", c.mode, c.env, c.done, c.total, got, c.want)
		}
	}
	if _, err := newMemoryLimiter("1GiB"); err == nil {
		t.Error("--memory-limit 1GiB accepted")
	}
}
