package ballotbox_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"evote/api"
	"evote/ballotbox/boxtest"
	"evote/crypto/group"
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

// BenchmarkCast drives the cast path over HTTP on loopback with
// loadVoters concurrent voters, each ballot fully verified (token, entry
// signature, every proof, the rules), durably appended and answered with
// a receipt carrying a witness-cosigned checkpoint. Ballots are encrypted
// and signed before the timer starts (that is the voters' devices' cost).
// Reported: ballots/s and p50/p99 latency. Run with e.g.
//
//	go test -run '^$' -bench BenchmarkCast -benchtime 4000x ./ballotbox
func BenchmarkCast(b *testing.B) {
	for _, sk := range storeKinds {
		b.Run(sk.name, func(b *testing.B) {
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
			url := hs.URL + "/api/v1/elections/" + f.ElectionID + "/ballots"
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: loadVoters, MaxConnsPerHost: loadVoters}}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var failures atomic.Int64
			var wg sync.WaitGroup
			sm0 := scalarMultTime()
			stopProfile := startCastProfile(b, sk.name)
			b.ResetTimer()
			cpu0 := cpuTime()
			start := time.Now()
			for range loadVoters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						t0 := time.Now()
						req, _ := http.NewRequest("POST", url, bytes.NewReader(bodies[i]))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Authorization", "Bearer "+tokens[i])
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
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			cpu := cpuTime() - cpu0
			b.StopTimer()
			stopProfile()
			if n := failures.Load(); n > 0 {
				b.Fatalf("%d of %d casts failed", n, b.N)
			}
			if got := f.Box.View().Ballots; got != b.N {
				b.Fatalf("%d ballots on the board, want %d", got, b.N)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ballots/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
			// The machine may be shared: CPU time per ballot (server and
			// the in-process HTTP clients together) tells what dedicated
			// cores would sustain.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu_ms/ballot")
			// The same in scalar multiplications timed just before and
			// after: a figure that machines of different speed, or one
			// machine under a varying load, can compare.
			sm := (sm0 + scalarMultTime()) / 2
			b.ReportMetric(float64(cpu)/float64(b.N)/float64(sm), "SM/ballot")
		})
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

// scalarMultTime is the CPU time of one variable-base scalar
// multiplication, the unit the crypto benchmarks report in.
func scalarMultTime() time.Duration {
	const n = 400
	s, p := group.RandomScalar(), group.NewGeneratorElement()
	var q group.Element
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPUTime()
	for range n {
		q.ScalarMult(s, p)
	}
	return (threadCPUTime() - t0) / n
}

// threadCPUTime is the calling thread's CPU time so far.
func threadCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCastClientOnly runs the same HTTP load as BenchmarkCast against
// a stub that answers a receipt-sized 201 at once, to measure what the
// in-process clients and the HTTP stack cost: subtract its cpu_ms/ballot
// from BenchmarkCast's to estimate the ballot box's own.
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
	cpu0 := cpuTime()
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
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu_ms/ballot")
}
