package ballotbox_test

import (
	"context"
	"evote/internal/cpustat"
	"os"
	"strconv"
	"testing"
	"time"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/store"
)

// BenchmarkReopen measures a restart: reopening an election whose board
// holds n cast ballots (EVOTE_REOPEN_BALLOTS, default 1000) of n voters
// (each also a credential entry), all covered by a checkpoint the log
// signed; the last `after` of them (EVOTE_REOPEN_AFTER, default n/10) were
// cast after the latest snapshot (spec/07-bulletin.md §7.7.1).
// full-replay reopens without the snapshot (every entry replayed through
// the rules), snapshot restores it and replays only the entries after it.
// Each reports the wall time per reopen ("ms-wall/reopen"), per 1000
// ballots ("ms-wall/1000ballots") and the CPU per ballot as a ratio to one
// scalar multiplication measured in the same run ("SM/ballot").
//
//	EVOTE_REOPEN_BALLOTS=10000 go test -run '^$' -bench Reopen -benchtime 3x ./ballotbox
func BenchmarkReopen(b *testing.B) {
	n := 1000
	if s := os.Getenv("EVOTE_REOPEN_BALLOTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	after := n / 10
	if s := os.Getenv("EVOTE_REOPEN_AFTER"); s != "" {
		after, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	dir := b.TempDir()
	st := openSQLite(b, dir)
	defer st.Close()
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(b, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	cast := func(from, to int) {
		for i := from; i < to; i++ {
			v := voter(b, f, [32]byte{byte(i), byte(i >> 8), byte(i >> 16), 1})
			raw, _ := prepare(b, f, v, i)
			if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	cast(0, n-after)
	if _, err := f.Box.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	cast(n-after, n)
	if _, _, err := f.Box.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	want := f.Box.View().Ballots
	lid := store.LogID(f.Box.Log().ID())
	snap, err := st.LatestSnapshot(ctx, lid)
	if err != nil || snap.Size+2*uint64(after) != f.Box.Log().Size() { // a credential and a ballot per voter
		b.Fatalf("snapshot at %d: %v", snap.Size, err)
	}
	sm := cpustat.ScalarMult()
	for _, mode := range []struct {
		name     string
		snapshot bool
	}{{"full-replay", false}, {"snapshot", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var cpu time.Duration
			for range b.N {
				cpu0 := cpustat.Process()
				r, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board", LogKey: f.Server.LogKey,
					Authority: f.Server.Authority, Audience: boxtest.Audience, NoSnapshots: !mode.snapshot})
				if err != nil {
					b.Fatal(err)
				}
				bx, err := r.Get(f.ElectionID)
				if err != nil || bx.View().Ballots != want {
					b.Fatalf("reopened: %v", err)
				}
				if mode.snapshot && bx.RestoredFrom() == 0 {
					b.Fatal("snapshot not used")
				}
				cpu += cpustat.Process() - cpu0
				b.StopTimer()
				// Neither the shutdown nor its snapshot is part of the
				// restart; the next one starts from the same snapshot.
				r.Close()
				if err := st.PutSnapshot(ctx, lid, snap); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.StopTimer()
			ms := float64(b.Elapsed().Milliseconds()) / float64(b.N)
			b.ReportMetric(float64(cpu)/float64(b.N)/float64(n)/float64(sm), "SM/ballot")
			b.ReportMetric(ms, "ms-wall/reopen")
			b.ReportMetric(ms*1000/float64(n), "ms-wall/1000ballots")
		})
	}
}
