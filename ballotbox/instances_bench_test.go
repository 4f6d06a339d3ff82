package ballotbox_test

import (
	"context"
	"encoding/json"
	"evote/internal/cpustat"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"evote/api"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// BenchmarkCastInstances is BenchmarkCast on PostgreSQL with the casts
// spread round-robin over 1 or 3 ballot-box instances on one schema (each
// its own Box, store connection pool and HTTP server, all in this
// process): what several instances cost per ballot. Every instance checks
// and applies every ballot (its own, and the others' as they reach it
// through the store), so box_SM/ballot is the sum over the instances.
// Reported as BenchmarkCast does. Run with e.g.
//
//	go test -run '^$' -bench BenchmarkCastInstances -benchtime 3000x ./ballotbox
func BenchmarkCastInstances(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("instances=%d", n), func(b *testing.B) {
			gin.SetMode(gin.ReleaseMode)
			ctx := context.Background()
			dir := b.TempDir()
			dsn := pgtest.Schema(b)
			st, err := postgres.Open(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			f, err := boxtest.New(ctx, boxtest.Options{ElectionID: fmt.Sprintf("load-%d", time.Now().UnixNano()), Dir: dir, Store: st, Witnesses: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Registry.Close()
			if err := f.Setup(ctx); err != nil {
				b.Fatal(err)
			}
			boxes := []*ballotbox.Box{f.Box}
			regs := []*ballotbox.Registry{f.Registry}
			for range n - 1 {
				sti, err := postgres.Open(ctx, dsn)
				if err != nil {
					b.Fatal(err)
				}
				defer sti.Close()
				r, bx, err := f.Instance(ctx, sti)
				if err != nil {
					b.Fatal(err)
				}
				defer r.Close()
				boxes, regs = append(boxes, bx), append(regs, r)
			}
			var urls []string
			for _, r := range regs {
				srv := api.NewServer()
				srv.Registry = r
				hs := httptest.NewServer(srv.Handler())
				defer hs.Close()
				urls = append(urls, hs.URL+"/api/v1/elections/"+f.ElectionID+"/ballots")
			}
			bodies, tokens := prepareLoad(b, f, b.N)
			for _, bx := range boxes {
				if err := bx.Sync(ctx); err != nil { // every instance has every credential
					b.Fatal(err)
				}
			}
			load := filepath.Join(dir, "load.json")
			spec, _ := json.Marshal(loadSpec{URLs: urls, Bodies: bodies, Tokens: tokens})
			if err := os.WriteFile(load, spec, 0o600); err != nil {
				b.Fatal(err)
			}
			bodies, tokens, spec = nil, nil, nil
			sm0 := cpustat.ScalarMult()
			pg0 := cpustat.PostgresBackends()
			b.ResetTimer()
			cpu0 := cpustat.Process()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCastLoadGenerator$", "-test.count=1")
			cmd.Env = append(os.Environ(), "EVOTE_CAST_LOAD="+load)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("load generator: %v\n%s", err, out)
			}
			// Every instance has applied every ballot.
			for _, bx := range boxes {
				if err := bx.Sync(ctx); err != nil {
					b.Fatal(err)
				}
			}
			cpu := cpustat.Process() - cpu0
			pg1 := cpustat.PostgresBackends()
			b.StopTimer()
			var res loadResult
			if raw, err := os.ReadFile(load + ".out"); err != nil || json.Unmarshal(raw, &res) != nil {
				b.Fatalf("load generator's result: %v", err)
			}
			if res.Failures > 0 {
				b.Fatalf("%d of %d casts failed", res.Failures, b.N)
			}
			for i, bx := range boxes {
				if got := bx.View().Ballots; got != b.N {
					b.Fatalf("instance %d: %d ballots, want %d", i, got, b.N)
				}
			}
			k := float64(b.N)
			sm := float64((sm0 + cpustat.ScalarMult()) / 2)
			b.ReportMetric(k/res.Seconds, "ballots/s")
			b.ReportMetric(float64(cpu.Microseconds())/1000/k, "box_cpu_ms/ballot")
			b.ReportMetric(float64(cpu)/k/sm, "box_SM/ballot")
			if pg0 != nil && pg1 != nil {
				pg := cpustat.Since(pg0, pg1)
				b.ReportMetric(float64(pg)/k/sm, "pg_SM/ballot")
			}
		})
	}
}
