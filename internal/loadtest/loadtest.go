// Package loadtest measures a server under a bounded flood, for tests only
// (spec/10-api.md §10.9): the process's resident memory, sampled from
// /proc/self/status (VmRSS) while the flood runs, and the latencies of
// reads made meanwhile. A flood test starts a Sampler and a Reader, sends
// its bounded flood to a loopback server, stops both, and asserts on the
// peak resident size and the read percentiles.
package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
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
