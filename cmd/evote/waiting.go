package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// waitNotes is where long waits are announced, and waitEvery how often:
// a trustee's or voter's tool that waits on others (other trustees, the
// officials' next action, the witnesses) says so instead of sitting
// silent (issue 19). Variables so tests can watch them.
var (
	waitNotes io.Writer = os.Stderr
	waitEvery           = 10 * time.Second
)

// waiting announces, every waitEvery while it is set, what a command is
// waiting for and since when.
type waiting struct {
	mu    sync.Mutex
	tool  string
	what  string
	since time.Time
	done  chan struct{}
	once  sync.Once
}

// startWaiting starts announcing for tool (e.g. "evote trustee keygen");
// stop ends it.
func startWaiting(tool string) *waiting {
	w := &waiting{tool: tool, done: make(chan struct{})}
	every, notes := waitEvery, waitNotes
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case now := <-t.C:
				w.mu.Lock()
				if w.what != "" && now.Sub(w.since) >= every/2 {
					fmt.Fprintf(notes, "%s: waiting %s for %s\n", w.tool, now.Sub(w.since).Round(time.Second), w.what)
				}
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// set says what the command now waits for ("" when it is not waiting);
// the time counts from now.
func (w *waiting) set(what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if what != w.what {
		w.what, w.since = what, time.Now()
	}
}

// stop ends the announcements.
func (w *waiting) stop() { w.once.Do(func() { close(w.done) }) }

// trusteeWaits says what a trustee's tool waits for after each step it
// reports (trustee.Step*), so that a trustee left waiting knows on whom.
func trusteeWaits(step string, roundWait time.Duration) string {
	switch step {
	case "":
		return "a checkpoint of the board that the manifest's witnesses cosigned, and the key generation's first round"
	case "dealt":
		return fmt.Sprintf("every trustee's dealing (complaints are checked once all are on the board, or after --round-wait %v)", roundWait)
	case "complained":
		return "the dealers' answers to complaints and the officials' qualified set (evote official act qualified)"
	case "extracted":
		return "every trustee's extraction and the officials' close of the round (evote official act close-extraction)"
	case "extraction-complained":
		return "the officials' election context (evote official act context)"
	case "mix":
		return "mixing to start (evote official act start-mixing) and the trustees before this one to mix; in deniable re-voting mode first the close and each ballot style's filter (the trustees before this one, the officials' filter entry)"
	case "tag-key":
		return "a checkpoint of the board that the manifest's witnesses cosigned, and the election context"
	case "filtered":
		return "mixing to start (evote official act start-mixing) and the trustees before this one to mix"
	case "mixed":
		return "any further mix this trustee must post"
	case "decrypt":
		return "decryption to start (evote official act start-decrypting)"
	case "await-flags":
		return "the other trustees' shares of a multi-select contest's first round (which mixed ballots count); then this trustee posts its share of the totals"
	}
	return ""
}
