package board

import (
	"bufio"
	"context"
	"encoding/hex"
	"evote/bulletin"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
)

// Environment of the crash helper process.
const (
	envCrashBackend = "EVOTE_CRASH_BACKEND"
	envCrashTarget  = "EVOTE_CRASH_TARGET"
	envCrashRound   = "EVOTE_CRASH_ROUND"
)

const crashOrigin = "evote.example/crash"

func openBackend(ctx context.Context, backend, target string) (store.Store, error) {
	if backend == "postgres" {
		return postgres.Open(ctx, target)
	}
	return sqlite.Open(ctx, target)
}

// TestCrashHelper is the child process of TestCrash: it appends entries
// from several goroutines as fast as it can, printing "ack <hash>" after
// each acknowledged append and taking checkpoints, until it is killed.
func TestCrashHelper(t *testing.T) {
	backend := os.Getenv(envCrashBackend)
	if backend == "" {
		t.Skip("helper process for TestCrash")
	}
	ctx := context.Background()
	st, err := openBackend(ctx, backend, os.Getenv(envCrashTarget))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	l, err := Open(ctx, Config{Key: testLogKey(crashOrigin, false), Store: st})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	var out sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	print := func(s string) {
		out.Lock()
		w.WriteString(s)
		w.Flush()
		out.Unlock()
	}
	print("ready\n")
	round := os.Getenv(envCrashRound)
	author := seededEd25519("crash author")
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				n := 1 + i%3
				es := make([]*bulletin.Entry, n)
				for j := range es {
					e, err := bulletin.NewEntry(l.ID(), bulletin.TypeBallot, author.Public(), author, fmt.Appendf(nil, "round %s writer %d call %d entry %d", round, g, i, j))
					if err != nil {
						print("error " + err.Error() + "\n")
						os.Exit(3)
					}
					es[j] = e
				}
				if _, err := l.Append(ctx, es...); err != nil {
					print("error " + err.Error() + "\n")
					os.Exit(3)
				}
				var b strings.Builder
				for _, e := range es {
					h := e.Hash()
					b.WriteString("ack " + hex.EncodeToString(h[:]) + "\n")
				}
				print(b.String())
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(15 * time.Millisecond) {
		if _, err := l.Checkpoint(ctx); err != nil {
			print("error " + err.Error() + "\n")
			os.Exit(3)
		}
	}
	os.Exit(0)
}

// TestCrash kills a process appending under load with SIGKILL at random
// moments, 20 times per backend, and checks after each restart that every
// acknowledged entry is present and that the reopened log verifies against
// its stored checkpoints.
func TestCrash(t *testing.T) {
	if os.Getenv(envCrashBackend) != "" {
		t.Skip("inside the helper")
	}
	rounds := 20
	t.Run("sqlite", func(t *testing.T) {
		crashRounds(t, "sqlite", filepath.Join(t.TempDir(), "crash.db"), rounds)
	})
	t.Run("postgres", func(t *testing.T) {
		crashRounds(t, "postgres", pgtest.Schema(t), rounds)
	})
}

func crashRounds(t *testing.T, backend, target string, rounds int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	// Create the schema once before the helpers race to migrate it.
	st, err := openBackend(ctx, backend, target)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var acked [][32]byte
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashBackend+"="+backend, envCrashTarget+"="+target, fmt.Sprintf("%s=%d", envCrashRound, round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		var got [][32]byte
		var helperErr string
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				switch {
				case line == "ready":
					close(ready)
				case strings.HasPrefix(line, "ack "):
					b, err := hex.DecodeString(line[4:])
					if err == nil && len(b) == 32 {
						got = append(got, [32]byte(b))
					}
				case strings.HasPrefix(line, "error"):
					helperErr = line
				}
			}
		}()
		select {
		case <-ready:
		case <-done:
			cmd.Wait()
			t.Fatalf("round %d: helper exited before ready: %s", round, helperErr)
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: helper not ready", round)
		}
		time.Sleep(time.Duration(50+rng.IntN(350)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-done
		cmd.Wait()
		if helperErr != "" {
			t.Fatalf("round %d: helper failed: %s", round, helperErr)
		}
		acked = append(acked, got...)

		// Restart: reopen and check.
		st, err := openBackend(ctx, backend, target)
		if err != nil {
			t.Fatalf("round %d: reopen store: %v", round, err)
		}
		l, err := Open(ctx, Config{Key: testLogKey(crashOrigin, false), Store: st})
		if err != nil {
			st.Close()
			t.Fatalf("round %d: reopen log: %v", round, err)
		}
		for _, h := range acked {
			if _, ok := l.IndexOf(h); !ok {
				t.Fatalf("round %d: acknowledged entry %x lost", round, h)
			}
		}
		if cp := l.LatestCheckpoint(); cp != nil {
			p, err := l.ConsistencyProof(cp.Size, l.Size())
			if err != nil {
				t.Fatal(err)
			}
			root, _ := l.Tree().RootAt(l.Size())
			if err := bulletin.VerifyConsistency(cp.Size, l.Size(), p, cp.Root, root); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if round == rounds-1 {
			t.Logf("%s: %d rounds, %d acknowledged entries, log size %d", backend, rounds, len(acked), l.Size())
			if len(acked) < rounds {
				t.Errorf("only %d entries acknowledged: the helper did not append under load", len(acked))
			}
		}
		l.Close()
		st.Close()
	}
}
