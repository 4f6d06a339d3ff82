package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// bar draws a one-line progress bar on a terminal, at most ten times a
// second; elsewhere it draws nothing.
type bar struct {
	w    io.Writer
	off  bool
	mu   sync.Mutex
	last time.Time
	drew bool
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newBar(w io.Writer, off bool) *bar { return &bar{w: w, off: off || !isTerminal(w)} }

func (b *bar) update(stage string, done, total uint64) {
	if b.off || total == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Since(b.last) < 100*time.Millisecond && done < total {
		return
	}
	b.last = time.Now()
	const width = 40
	n := int(done * width / total)
	fmt.Fprintf(b.w, "\r%-10s [%s%s] %d/%d ", stage, strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
	b.drew = true
}

func (b *bar) done() {
	if b.off {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drew {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", 80))
	}
}
