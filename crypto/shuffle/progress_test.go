package shuffle

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestProgress checks that Shuffle and Verify report every phase through
// to its total, and that TextProgress renders rows, rate and time left.
func TestProgress(t *testing.T) {
	f := newFixture(t, 1500, 1)
	var mu sync.Mutex
	last := map[string][2]int{}
	f.p.Progress = func(phase string, done, total int) {
		mu.Lock()
		defer mu.Unlock()
		if prev, ok := last[phase]; ok && done != 0 && done < prev[0] {
			t.Errorf("%s: progress went back from %d to %d", phase, prev[0], done)
		}
		last[phase] = [2]int{done, total}
	}
	out, proof, err := Shuffle(f.p, f.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(f.p, f.in, out, proof); err != nil {
		t.Fatal(err)
	}
	for _, ph := range []string{"generators", "shuffle", "prove", "verify"} {
		got, ok := last[ph]
		if !ok || got[0] != got[1] || got[1] < 1500 {
			t.Errorf("phase %s: last report %v", ph, got)
		}
	}

	var buf bytes.Buffer
	tp := TextProgress(&buf, time.Hour)
	tp("verify", 0, 100)
	tp("verify", 50, 100) // suppressed: within the interval
	tp("verify", 100, 100)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "verify: 100/100 rows") || !strings.Contains(lines[1], "rows/s") || !strings.Contains(lines[1], "left") {
		t.Fatalf("TextProgress output:\n%s", buf.String())
	}
}
