package main

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuilder is a strings.Builder safe for the announcer's goroutine.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWaitsAnnounced (issue 19): a long wait is announced with what it
// waits for, repeatedly; nothing is printed while nothing is awaited, nor
// after stop.
func TestWaitsAnnounced(t *testing.T) {
	var out lockedBuilder
	oldW, oldE := waitNotes, waitEvery
	waitNotes, waitEvery = &out, 20*time.Millisecond
	t.Cleanup(func() { waitNotes, waitEvery = oldW, oldE })

	w := startWaiting("evote trustee keygen")
	time.Sleep(100 * time.Millisecond)
	if out.String() != "" {
		t.Fatalf("announced while not waiting: %q", out.String())
	}
	w.set(trusteeWaits("complained", time.Minute))
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := out.String()
	if strings.Count(got, "\n") < 2 || !strings.HasPrefix(got, "evote trustee keygen: waiting ") || !strings.Contains(got, "for the dealers' answers to complaints and the officials' qualified set (evote official act qualified)\n") {
		t.Fatalf("announcements %q", got)
	}
	w.set("")
	time.Sleep(50 * time.Millisecond)
	n := len(out.String())
	time.Sleep(100 * time.Millisecond)
	if len(out.String()) != n {
		t.Fatalf("announced after the wait ended: %q", out.String()[n:])
	}
	w.set("x")
	w.stop()
	w.stop()
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(out.String(), "for x") {
		t.Fatal("announced after stop")
	}
	for _, s := range []string{"", "dealt", "complained", "extracted", "extraction-complained", "mix", "mixed", "decrypt"} {
		if trusteeWaits(s, time.Minute) == "" {
			t.Errorf("step %q: no description of the wait", s)
		}
	}
}
