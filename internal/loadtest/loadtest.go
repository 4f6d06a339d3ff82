// Package loadtest measures a server under a bounded flood, for tests only:
// the process's resident memory, sampled from /proc/self/status (VmRSS)
// while the flood runs, and the latencies of reads made meanwhile. A flood
// test starts a Sampler and a Reader, has a child process (Spawn) send its
// bounded flood to the server on loopback, stops both, and asserts on the
// peak resident size and the read percentiles. The flood comes from
// another process, as it would from another machine: its buffers and its
// goroutines are not counted against the server, nor scheduled with it.
package loadtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"
)

// RSS returns the process's resident set size in bytes (VmRSS of
// /proc/self/status), or an error where that file does not exist.
func RSS() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("loadtest: VmRSS: %w", err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("loadtest: no VmRSS in /proc/self/status")
}

// MiB formats a byte count in MiB.
func MiB(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// A Sampler records the peak resident size between Start and Stop.
type Sampler struct {
	Base uint64 // resident size at Start, after returning free memory to the OS
	peak uint64
	stop chan struct{}
	done chan struct{}
}

// Start returns memory freed by earlier tests to the OS, then samples the
// resident size every interval until Stop.
func Start(interval time.Duration) (*Sampler, error) {
	debug.FreeOSMemory()
	base, err := RSS()
	if err != nil {
		return nil, err
	}
	s := &Sampler{Base: base, peak: base, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				if r, err := RSS(); err == nil && r > s.peak {
					s.peak = r
				}
			}
		}
	}()
	return s, nil
}

// Stop ends the sampling and returns the peak resident size.
func (s *Sampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	if r, err := RSS(); err == nil && r > s.peak {
		s.peak = r
	}
	return s.peak
}

// Reader makes one GET after another on URL, spaced by Gap, and records
// their latencies (and failures) until Stop.
type Reader struct {
	URL string
	Gap time.Duration

	mu    sync.Mutex
	lat   []time.Duration
	fails int
	stop  chan struct{}
	done  chan struct{}
}

// StartReader starts reading url every gap with its own client (its own
// connection, as a reader elsewhere on the network would have).
func StartReader(url string, gap time.Duration) *Reader {
	r := &Reader{URL: url, Gap: gap, stop: make(chan struct{}), done: make(chan struct{})}
	c := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	// A first read, not recorded, opens the connection.
	if resp, err := c.Get(url); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	go func() {
		defer close(r.done)
		defer c.CloseIdleConnections()
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(r.Gap):
			}
			t0 := time.Now()
			resp, err := c.Get(r.URL)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			d := time.Since(t0)
			r.mu.Lock()
			if ok {
				r.lat = append(r.lat, d)
			} else {
				r.fails++
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// Stop ends the reads and returns their latency statistics.
func (r *Reader) Stop() Latencies {
	close(r.stop)
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return NewLatencies(r.lat, r.fails)
}

// Latencies summarises a set of request latencies.
type Latencies struct {
	N, Failed     int
	P50, P99, Max time.Duration
}

// NewLatencies computes the percentiles of ds.
func NewLatencies(ds []time.Duration, failed int) Latencies {
	l := Latencies{N: len(ds), Failed: failed}
	if len(ds) == 0 {
		return l
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	l.P50, l.P99, l.Max = at(0.50), at(0.99), s[len(s)-1]
	return l
}

func (l Latencies) String() string {
	return fmt.Sprintf("%d reads (%d failed): p50 %v, p99 %v, max %v", l.N, l.Failed, l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond), l.Max.Round(time.Microsecond))
}

// Plan is a flood for a child process: Workers goroutines send the
// requests of Kind (which the test package builds from URL and Params),
// one after another, until Count requests in all or Duration.
type Plan struct {
	Kind     string
	URL      string
	Workers  int
	Count    int
	Duration time.Duration
	Params   map[string]string
}

const planEnv = "EVOTE_LOADTEST_PLAN"

// ChildPlan returns the plan when this process is a flood child (the test
// binary re-executed by Spawn). A test package that floods calls it
// first in TestMain, runs the plan with Run and exits.
func ChildPlan() (*Plan, bool) {
	v := os.Getenv(planEnv)
	if v == "" {
		return nil, false
	}
	var p Plan
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest: bad plan:", err)
		os.Exit(2)
	}
	return &p, true
}

// Run sends the plan's requests, made by next, and writes the count of
// answers by status (-1: no answer) to stdout for Spawn.
func (p *Plan) Run(next func(worker int) *http.Request) {
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		sent     int
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(p.Duration)
	tr := &http.Transport{MaxIdleConnsPerHost: p.Workers}
	c := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	for w := range p.Workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				mu.Lock()
				if sent >= p.Count {
					mu.Unlock()
					return
				}
				sent++
				mu.Unlock()
				resp, err := c.Do(next(w))
				st := -1
				if err == nil {
					st = resp.StatusCode
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(statuses)
}

// Spawn runs the plan in a child process (this test binary, whose
// TestMain runs ChildPlan) and returns the count of answers by status.
func Spawn(p Plan) (map[int]int, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), planEnv+"="+string(b))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("loadtest: flood child: %w", err)
	}
	statuses := map[int]int{}
	if err := json.Unmarshal(out.Bytes(), &statuses); err != nil {
		return nil, fmt.Errorf("loadtest: flood child answered %q: %w", out.String(), err)
	}
	return statuses, nil
}
