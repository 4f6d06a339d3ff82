package main

import (
	"context"
	"io"
	"os"
	"runtime"
	"testing"
)

// TestChildPeakIsTheChilds: a child's peak RSS in the bench's table is the
// child's own. The kernel's figure for a child (ru_maxrss from wait4)
// starts from the parent's high-water mark at the spawn, so a small child
// of a large bench process was reported as large as its parent (a
// million-ballot run showed its trustees' tools at 6.4 GB, the bench
// process's size, while ps showed them at 3 GB).
func TestChildPeakIsTheChilds(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const parent = 512 << 20
	big := make([]byte, parent)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1
	}
	b := &bench{o: benchOptions{Self: self}, m: &meter{out: io.Discard}}
	b.m.begin("child")
	if peakRSS() < parent {
		t.Fatalf("the parent's peak RSS is %d MB, want at least %d MB", peakRSS()>>20, parent>>20)
	}
	if err := b.child(context.Background(), []string{"help", "child"}, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	b.m.end()
	runtime.KeepAlive(big)
	p := b.m.phases[0]
	if p.Children != 1 || p.ChildRSS <= 0 || p.ChildRSS >= parent/2 {
		t.Fatalf("child's peak RSS %d MB (%d children), want the child's own, well under the parent's %d MB", p.ChildRSS>>20, p.Children, parent>>20)
	}
}
