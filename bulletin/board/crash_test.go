package board

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"evote/bulletin"
	"evote/internal/crashtest"
	"evote/store/postgres/pgtest"
)

// Environment of the crash helper process.
const (
	envCrashBackend = "EVOTE_CRASH_BACKEND"
	envCrashTarget  = "EVOTE_CRASH_TARGET"
	envCrashRound   = "EVOTE_CRASH_ROUND"
)

const crashOrigin = "evote.example/crash"

// TestCrashHelper is the child process of TestCrash: it appends entries
// from several goroutines as fast as it can, printing "ack <hash>" after
// each acknowledged append and taking checkpoints, until it is killed.
func TestCrashHelper(t *testing.T) {
	backend := os.Getenv(envCrashBackend)
	if backend == "" {
		t.Skip("helper process for TestCrash")
	}
	ctx := context.Background()
	child := crashtest.NewChild()
	st, err := crashtest.OpenStore(ctx, backend, os.Getenv(envCrashTarget))
	if err != nil {
		child.Fail(err)
	}
	l, err := Open(ctx, Config{Key: testLogKey(crashOrigin, false), Store: st})
	if err != nil {
		child.Fail(err)
	}
	child.Ready("")
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
						child.Fail(err)
					}
					es[j] = e
				}
				if _, err := l.Append(ctx, es...); err != nil {
					child.Fail(err)
				}
				hs := make([][32]byte, len(es))
				for j, e := range es {
					hs[j] = e.Hash()
				}
				child.Ack(hs...)
			}
		}()
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(15 * time.Millisecond) {
		if _, err := l.Checkpoint(ctx); err != nil {
			child.Fail(err)
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
	st, err := crashtest.OpenStore(ctx, backend, target)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	var acked [][32]byte
	for round := range rounds {
		env := []string{envCrashBackend + "=" + backend, envCrashTarget + "=" + target, fmt.Sprintf("%s=%d", envCrashRound, round)}
		got := crashtest.Kill(t, rng, "TestCrashHelper", env, 20*time.Second, 50*time.Millisecond, 400*time.Millisecond, true)
		acked = append(acked, got...)

		// Restart: reopen and check.
		st, err := crashtest.OpenStore(ctx, backend, target)
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
