package ballotbox_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/internal/crashtest"
	"evote/store"
	"evote/store/postgres/pgtest"
)

// envBoxCrash names the job file of a TestBoxCrash child process.
const envBoxCrash = "EVOTE_BOX_CRASH_JOB"

type crashJob struct {
	Backend, Target, Dir, ElectionID string
	Authority, LogEd                 []byte
	Witnesses                        [][]byte
	Tokens                           []string
	Ballots                          [][]byte
}

// TestBoxCrashHelper is the child process of TestBoxCrash: a ballot box
// with a snapshot every 5 entries casts the job's ballots from 4
// goroutines and prints "ack <tracking code>" for each receipt, until it
// is killed.
func TestBoxCrashHelper(t *testing.T) {
	path := os.Getenv(envBoxCrash)
	if path == "" {
		t.Skip("helper process for TestBoxCrash")
	}
	child := crashtest.NewChild()
	fail := child.Fail
	raw, err := os.ReadFile(path)
	if err != nil {
		fail(err)
	}
	var job crashJob
	if err := json.Unmarshal(raw, &job); err != nil {
		fail(err)
	}
	ctx := context.Background()
	st, err := crashtest.OpenStore(ctx, job.Backend, job.Target)
	if err != nil {
		fail(err)
	}
	sk := &boxtest.ServerKeys{Authority: job.Authority, LogEd: job.LogEd}
	for _, w := range job.Witnesses {
		sk.Witnesses = append(sk.Witnesses, ed25519.PrivateKey(w))
	}
	cat := &ballotbox.MemoryCatalog{}
	cat.AddElection(ctx, job.ElectionID, "evote.test/board/"+job.ElectionID)
	r, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board", LogKey: sk.LogKey,
		Authority: sk.Authority, Audience: boxtest.Audience, Witnesses: boxtest.LocalWitnesses(job.Dir, sk.Witnesses), SnapshotEvery: 5})
	if err != nil {
		fail(err)
	}
	b, err := r.Get(job.ElectionID)
	if err != nil {
		fail(err)
	}
	child.Ready(fmt.Sprint(b.RestoredFrom()))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(job.Ballots); i += 4 {
				rc, err := b.Cast(ctx, job.Tokens[i], job.Ballots[i])
				if err != nil {
					child.Fail(err)
				}
				child.Ack(rc.TrackingCode)
			}
		}()
	}
	wg.Wait()
	time.Sleep(time.Minute) // wait for the kill
	os.Exit(0)
}

// TestBoxCrash kills a ballot box casting under load, with snapshots
// every 5 entries (so some kills land while a snapshot is being taken or
// written), with SIGKILL at random moments, on both stores; after each
// kill the election reopens from the latest snapshot, every acknowledged
// ballot is on the board, and the state equals a full replay's, field by
// field.
func TestBoxCrash(t *testing.T) {
	if os.Getenv(envBoxCrash) != "" {
		t.Skip("inside the helper")
	}
	if testing.Short() {
		t.Skip("kills child processes for a minute")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			target := filepath.Join(dir, "board.db")
			if backend == "postgres" {
				target = pgtest.Schema(t)
			}
			boxCrashRounds(t, backend, target, dir, 6, 40)
		})
	}
}

func boxCrashRounds(t *testing.T, backend, target, dir string, rounds, perRound int) {
	ctx := context.Background()
	st, err := crashtest.OpenStore(ctx, backend, target)
	if err != nil {
		t.Fatal(err)
	}
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	var tokens []string
	var ballots [][]byte
	for i := range rounds * perRound {
		v := voter(t, f, [32]byte{byte(i), byte(i >> 8), 0xcc})
		raw, _ := prepare(t, f, v, i)
		tokens, ballots = append(tokens, v.Token), append(ballots, raw)
	}
	if err := f.Registry.Close(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	var acked []ballot.TrackingCode
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	fromChild := 0 // reopens restored from a snapshot a child wrote
	var lastParent uint64
	if st, err := crashtest.OpenStore(ctx, backend, target); err == nil {
		if sn, err := st.LatestSnapshot(ctx, store.LogID(f.Box.Log().ID())); err == nil {
			lastParent = sn.Size
		}
		st.Close()
	}
	for round := range rounds {
		job := crashJob{Backend: backend, Target: target, Dir: dir, ElectionID: f.ElectionID, Authority: f.Server.Authority, LogEd: f.Server.LogEd,
			Tokens: tokens[round*perRound : (round+1)*perRound], Ballots: ballots[round*perRound : (round+1)*perRound]}
		for _, w := range f.Server.Witnesses {
			job.Witnesses = append(job.Witnesses, w)
		}
		jb, _ := json.Marshal(job)
		jobPath := filepath.Join(dir, fmt.Sprintf("job-%d.json", round))
		if err := os.WriteFile(jobPath, jb, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range crashtest.Kill(t, rng, "TestBoxCrashHelper", []string{envBoxCrash + "=" + jobPath}, 60*time.Second, 100*time.Millisecond, 800*time.Millisecond, false) {
			acked = append(acked, ballot.TrackingCode(c))
		}

		// Restart from the store alone, with the snapshot and without.
		st, err := crashtest.OpenStore(ctx, backend, target)
		if err != nil {
			t.Fatal(err)
		}
		lid := store.LogID(bulletin.LogIDFor("evote.test/board/" + f.ElectionID))
		var snapSize uint64
		if sn, err := st.LatestSnapshot(ctx, lid); err == nil {
			snapSize = sn.Size
		}
		open := func(snapshots bool) (*ballotbox.Registry, *ballotbox.Box) {
			r, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board", LogKey: f.Server.LogKey,
				Authority: f.Server.Authority, Audience: boxtest.Audience, NoSnapshots: !snapshots})
			if err != nil {
				t.Fatalf("round %d: reopen: %v", round, err)
			}
			b, err := r.Get(f.ElectionID)
			if err != nil {
				t.Fatal(err)
			}
			return r, b
		}
		rs, snap := open(true)
		rf, full := open(false)
		if snap.RestoredFrom() != snapSize {
			t.Fatalf("round %d: restored from %d, the stored snapshot is at %d", round, snap.RestoredFrom(), snapSize)
		}
		if d := ballotbox.DiffBoxes(full, snap); len(d) != 0 {
			t.Fatalf("round %d: restored from the snapshot at %d, differs from the full replay in %v", round, snapSize, d)
		}
		for _, c := range acked {
			if _, ok := snap.Log().LookupKey(c); !ok {
				t.Fatalf("round %d: acknowledged ballot %x lost", round, c[:8])
			}
		}
		if snapSize > lastParent {
			fromChild++
		}
		t.Logf("round %d: %d acknowledged in all, board %d, restored from the snapshot at %d", round, len(acked), snap.View().Size, snap.RestoredFrom())
		rf.Close()
		rs.Close() // a clean shutdown: a snapshot of its own
		if sn, err := st.LatestSnapshot(ctx, lid); err == nil {
			lastParent = sn.Size
		}
		st.Close()
	}
	if len(acked) < rounds {
		t.Errorf("only %d ballots acknowledged: the helper did not cast under load", len(acked))
	}
	if fromChild == 0 {
		t.Error("no reopen used a snapshot the killed box wrote")
	}
}
