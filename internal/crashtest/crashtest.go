// Package crashtest is what the crash tests share (bulletin/board's
// TestCrash, ballotbox's TestBoxCrash): a child process, the test binary
// running one helper test, works under load and reports each durable
// acknowledgement on standard output; the parent kills it with SIGKILL at
// a random moment and then checks, from the store alone, that nothing
// acknowledged was lost.
//
// The child's protocol is one line per event: "ready …" once it is
// working, "ack <64 hex digits>" for each acknowledgement, "error …" for
// a failure (after which it exits 3).
package crashtest

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"evote/store"
	"evote/store/postgres"
	"evote/store/sqlite"
)

// OpenStore opens a crash test's store: PostgreSQL when backend is
// "postgres" (target a DSN with its schema), else SQLite (target a file).
func OpenStore(ctx context.Context, backend, target string) (store.Store, error) {
	if backend == "postgres" {
		return postgres.Open(ctx, target)
	}
	return sqlite.Open(ctx, target)
}

// Kill is one round: it starts the test binary running only the helper
// test named helper, with env added to this process's environment; waits
// up to readyWait for its "ready" line; lets it work for a random time in
// [minRun, maxRun); kills it with SIGKILL and returns what it
// acknowledged. A child that fails ("error …"), exits before it is ready
// or is not ready in time fails the test. The child's standard error goes
// to this process's when stderr is set.
func Kill(t testing.TB, rng *rand.Rand, helper string, env []string, readyWait, minRun, maxRun time.Duration, stderr bool) [][32]byte {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if stderr {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan struct{})
	var acked [][32]byte
	var failure string
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "ready"):
				close(ready)
			case strings.HasPrefix(line, "ack "):
				if b, err := hex.DecodeString(line[4:]); err == nil && len(b) == 32 {
					acked = append(acked, [32]byte(b))
				}
			case strings.HasPrefix(line, "error"):
				failure = line
			}
		}
	}()
	select {
	case <-ready:
	case <-done:
		cmd.Wait()
		t.Fatalf("%s exited before it was ready: %s", helper, failure)
	case <-time.After(readyWait):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("%s not ready after %v", helper, readyWait)
	}
	time.Sleep(minRun + time.Duration(rng.Int64N(int64(maxRun-minRun))))
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	cmd.Wait()
	if failure != "" {
		t.Fatalf("%s failed: %s", helper, failure)
	}
	return acked
}

// Child is the helper process's side of the protocol: its lines go to
// standard output whole, from any goroutine.
type Child struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// NewChild returns the helper's writer of protocol lines.
func NewChild() *Child { return &Child{w: bufio.NewWriter(os.Stdout)} }

func (c *Child) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.WriteString(s + "\n")
	c.w.Flush()
}

// Ready says the child is working; detail follows "ready ".
func (c *Child) Ready(detail string) { c.line(strings.TrimSpace("ready " + detail)) }

// Ack reports durable acknowledgements, in one write.
func (c *Child) Ack(hs ...[32]byte) {
	var b strings.Builder
	for i, h := range hs {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString("ack " + hex.EncodeToString(h[:]))
	}
	c.line(b.String())
}

// Fail reports err and exits 3.
func (c *Child) Fail(err error) {
	c.line(fmt.Sprint("error ", err))
	os.Exit(3)
}
