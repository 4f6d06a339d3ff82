package ballotbox_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"evote/internal/cpustat"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"evote/api"
	"evote/ballotbox/boxtest"
	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// storeKinds opens each backend for a test or benchmark. PostgreSQL comes
// from EVOTE_TEST_PG (default postgres://postgres@127.0.0.1:5432/test) in
// a private schema; unreachable, it skips locally and fails under CI=true.
var storeKinds = []struct {
	name string
	open func(testing.TB, string) store.Store
}{
	{"sqlite", openSQLite},
	{"postgres", func(t testing.TB, _ string) store.Store {
		dsn := pgtest.Schema(t)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}},
}

// castProfile, when set, receives a CPU profile of BenchmarkCast's timed
// part only (the ballots' preparation, which is the voters' devices' work,
// would otherwise dominate -cpuprofile).
var castProfile = flag.String("castprofile", "", "write a CPU profile of BenchmarkCast's timed part to this file")

// loadVoters is how many simulated voters cast concurrently.
const loadVoters = 256

// castStoreName names BenchmarkCast's cases for what they run: SQLite is
// embedded in the ballot box's process (its CPU is the box's), PostgreSQL
// is a server of its own (its CPU is sampled from /proc).
var castStoreName = map[string]string{"sqlite": "sqlite-embedded", "postgres": "postgres"}

// BenchmarkCast drives the cast path over HTTP on loopback with
// loadVoters concurrent voters, each ballot fully verified (token, entry
// signature, every proof, the rules), durably appended and answered with
// a receipt carrying a witness-cosigned checkpoint. Ballots are encrypted
// and signed before the timer starts (that is the voters' devices' cost).
// The voters (the HTTP clients, the load generator) run in a child
// process, this test binary running TestCastLoadGenerator, so that this
// process's CPU is the ballot box's alone. Reported per ballot: the box's
// CPU (box_cpu_ms, box_SM), PostgreSQL's (pg_cpu_ms, pg_SM: the backends
// serving the box's connections, read from /proc; the postgres case only)
// and the load generator's (loadgen_cpu_ms, not the server's cost); and
// ballots/s and p50/p99 latency. Run with e.g.
//
//	go test -run '^$' -bench BenchmarkCast -benchtime 4000x ./ballotbox
func BenchmarkCast(b *testing.B) {
	for _, sk := range storeKinds {
		b.Run(castStoreName[sk.name], func(b *testing.B) {
			gin.SetMode(gin.ReleaseMode)
			dir := b.TempDir()
			st := sk.open(b, dir)
			defer st.Close()
			ctx := context.Background()
			f, err := boxtest.New(ctx, boxtest.Options{ElectionID: fmt.Sprintf("load-%d", time.Now().UnixNano()), Dir: dir, Store: st, Witnesses: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer f.Registry.Close()
			if err := f.Setup(ctx); err != nil {
				b.Fatal(err)
			}
			srv := api.NewServer()
			srv.Registry = f.Registry
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			bodies, tokens := prepareLoad(b, f, b.N)
			load := filepath.Join(dir, "load.json")
			spec, _ := json.Marshal(loadSpec{URL: hs.URL + "/api/v1/elections/" + f.ElectionID + "/ballots", Bodies: bodies, Tokens: tokens})
			if err := os.WriteFile(load, spec, 0o600); err != nil {
				b.Fatal(err)
			}
			bodies, tokens, spec = nil, nil, nil
			sm0 := cpustat.ScalarMult()
			stopProfile := startCastProfile(b, sk.name)
			pg0 := cpustat.PostgresBackends()
			b.ResetTimer()
			cpu0 := cpustat.Process()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCastLoadGenerator$", "-test.count=1")
			cmd.Env = append(os.Environ(), "EVOTE_CAST_LOAD="+load)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("load generator: %v\n%s", err, out)
			}
			cpu := cpustat.Process() - cpu0
			pg1 := cpustat.PostgresBackends()
			b.StopTimer()
			stopProfile()
			var res loadResult
			if raw, err := os.ReadFile(load + ".out"); err != nil || json.Unmarshal(raw, &res) != nil {
				b.Fatalf("load generator's result: %v", err)
			}
			if res.Failures > 0 {
				b.Fatalf("%d of %d casts failed", res.Failures, b.N)
			}
			if got := f.Box.View().Ballots; got != b.N {
				b.Fatalf("%d ballots on the board, want %d", got, b.N)
			}
			lat := res.Latencies
			slices.Sort(lat)
			n := float64(b.N)
			b.ReportMetric(n/res.Seconds, "ballots/s")
			b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99_ms")
			// The machine may be shared: CPU time per ballot tells what
			// dedicated cores would sustain; in scalar multiplications
			// timed just before and after, machines of different speed (or
			// one under a varying load) can compare.
			sm := float64((sm0 + cpustat.ScalarMult()) / 2)
			b.ReportMetric(float64(cpu.Microseconds())/1000/n, "box_cpu_ms/ballot")
			b.ReportMetric(float64(cpu)/n/sm, "box_SM/ballot")
			if sk.name == "postgres" {
				if pg0 == nil || pg1 == nil {
					b.Log("PostgreSQL's backends not found in /proc: its CPU is not reported")
				} else {
					pg := cpustat.Since(pg0, pg1)
					b.ReportMetric(float64(pg.Microseconds())/1000/n, "pg_cpu_ms/ballot")
					b.ReportMetric(float64(pg)/n/sm, "pg_SM/ballot")
				}
			}
			b.ReportMetric(res.CPU*1000/n, "loadgen_cpu_ms/ballot")
		})
	}
}

// loadSpec is what BenchmarkCast hands its load generator: where to cast,
// and each voter's ballot request body and token.
type loadSpec struct {
	URL    string
	Bodies [][]byte
	Tokens []string
	// URLs, if set, are several instances' URLs: voter i casts to
	// URLs[i mod len(URLs)] (BenchmarkCastInstances).
	URLs []string
}

// loadResult is what the load generator answers: each cast's latency (ns),
// how many failed, the wall and CPU seconds of the casts.
type loadResult struct {
	Latencies []int64
	Failures  int
	Seconds   float64
	CPU       float64
}

// TestCastLoadGenerator is BenchmarkCast's load generator, run in a child
// process (it does nothing unless EVOTE_CAST_LOAD names a loadSpec file):
// loadVoters concurrent voters cast every ballot of the spec.
func TestCastLoadGenerator(t *testing.T) {
	path := os.Getenv("EVOTE_CAST_LOAD")
	if path == "" {
		t.Skip("BenchmarkCast's load generator")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec loadSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	raw = nil
	n := len(spec.Bodies)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadVoters, MaxConnsPerHost: loadVoters}}
	res := loadResult{Latencies: make([]int64, n)}
	var next atomic.Int64
	var failures atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpustat.Process()
	start := time.Now()
	for range loadVoters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				url := spec.URL
				if len(spec.URLs) > 0 {
					url = spec.URLs[i%len(spec.URLs)]
				}
				req, _ := http.NewRequest("POST", url, bytes.NewReader(spec.Bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+spec.Tokens[i])
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					failures.Add(1)
				}
				res.Latencies[i] = int64(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.CPU = (cpustat.Process() - cpu0).Seconds()
	res.Failures = int(failures.Load())
	out, _ := json.Marshal(res)
	if err := os.WriteFile(path+".out", out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startCastProfile starts the -castprofile CPU profile (one file per store:
// the name gets the store's as a suffix) and returns its stop function.
func startCastProfile(b *testing.B, store string) func() {
	if *castProfile == "" {
		return func() {}
	}
	f, err := os.Create(*castProfile + "." + store)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// prepareLoad issues n voters' credentials and tokens and encrypts and
// signs their ballots, in parallel, as their devices would.
func prepareLoad(b *testing.B, f *boxtest.Fixture, n int) ([][]byte, []string) {
	ctx := context.Background()
	bodies, tokens := make([][]byte, n), make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	var next atomic.Int64
	for range runtime.GOMAXPROCS(0) * 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				v, err := f.NewVoter(ctx, [32]byte{}, "")
				if err == nil {
					var raw []byte
					if raw, _, err = f.Prepare(v, f.Selection(i, v.Style)); err == nil {
						bodies[i], _ = json.Marshal(map[string]string{"entry": base64.RawURLEncoding.EncodeToString(raw)})
						tokens[i] = v.Token
						continue
					}
				}
				select {
				case errs <- err:
				default:
				}
				return
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return bodies, tokens
}

// BenchmarkCastClientOnly runs BenchmarkCast's HTTP load in process
// against a stub that answers a receipt-sized 201 at once: what the
// clients and the HTTP stack alone cost, server and clients together
// (BenchmarkCast reports the box's CPU apart from its load generator's).
func BenchmarkCastClientOnly(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 3000)
	entry, _ := json.Marshal(map[string]string{"entry": base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 1400))})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	}))
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadVoters, MaxConnsPerHost: loadVoters}}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0 := cpustat.Process()
	for range loadVoters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= b.N {
				req, _ := http.NewRequest("POST", hs.URL, bytes.NewReader(entry))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+string(bytes.Repeat([]byte("t"), 700)))
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64((cpustat.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu_ms/ballot")
}
