package ballotbox_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
)

// BenchmarkReopen measures a restart: reopening an election whose board
// holds n cast ballots (EVOTE_REOPEN_BALLOTS, default 1000), all covered
// by a checkpoint the log signed. It reports the CPU per ballot as a
// ratio to one scalar multiplication measured in the same run
// ("SM/ballot"), and the wall time of a reopen per 1000 ballots.
//
//	go test -run '^$' -bench Reopen -benchtime 3x ./ballotbox
func BenchmarkReopen(b *testing.B) {
	n := 1000
	if s := os.Getenv("EVOTE_REOPEN_BALLOTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	dir := b.TempDir()
	st := openSQLite(b, dir)
	defer st.Close()
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(b, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	for i := range n {
		v := voter(b, f, [32]byte{byte(i), byte(i >> 8), byte(i >> 16), 1})
		raw, _ := prepare(b, f, v, i)
		if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
			b.Fatal(err)
		}
	}
	if _, _, err := f.Box.Checkpoint(ctx); err != nil {
		b.Fatal(err)
	}
	want := f.Box.View().Ballots
	sm := scalarMultTime()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		r, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board", LogKey: f.Server.LogKey, Authority: f.Server.Authority, Audience: boxtest.Audience})
		if err != nil {
			b.Fatal(err)
		}
		bx, err := r.Get(f.ElectionID)
		if err != nil || bx.View().Ballots != want {
			b.Fatalf("reopened: %v", err)
		}
		r.Close()
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(n)/float64(sm), "SM/ballot")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)*1000/float64(n), "ms-wall/1000ballots")
}
