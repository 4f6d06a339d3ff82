package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
)

// metrics are the few counters /metrics exposes in the Prometheus text
// exposition format (version 0.0.4), written by hand: requests by route and
// status, cast outcomes, a cast latency histogram, board sizes.
type metrics struct {
	mu       sync.Mutex
	requests map[[3]string]uint64 // method, route, status
	casts    map[string]uint64    // outcome code ("ok" for success)
	buckets  []float64            // latency bounds, seconds
	counts   []atomic.Uint64      // per bucket (cumulative at export)
	sum      atomic.Int64         // nanoseconds
	total    atomic.Uint64
}

func newMetrics() *metrics {
	b := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	return &metrics{requests: map[[3]string]uint64{}, casts: map[string]uint64{}, buckets: b, counts: make([]atomic.Uint64, len(b))}
}

func (m *metrics) middleware(c *gin.Context) {
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	m.mu.Lock()
	m.requests[[3]string{c.Request.Method, route, fmt.Sprint(c.Writer.Status())}]++
	m.mu.Unlock()
}

// cast records the outcome and latency of one cast.
func (m *metrics) cast(outcome string, d time.Duration) {
	m.mu.Lock()
	m.casts[outcome]++
	m.mu.Unlock()
	s := d.Seconds()
	for i, b := range m.buckets {
		if s <= b {
			m.counts[i].Add(1)
			break
		}
	}
	m.sum.Add(int64(d))
	m.total.Add(1)
}

func escLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func (s *Server) metrics(c *gin.Context) {
	m := s.met
	var b strings.Builder
	m.mu.Lock()
	b.WriteString("# HELP evote_http_requests_total HTTP requests by method, route and status.\n# TYPE evote_http_requests_total counter\n")
	keys := make([][3]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return strings.Join(keys[i][:], " ") < strings.Join(keys[j][:], " ") })
	for _, k := range keys {
		fmt.Fprintf(&b, "evote_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %d\n", escLabel(k[0]), escLabel(k[1]), k[2], m.requests[k])
	}
	b.WriteString("# HELP evote_casts_total Cast requests by outcome (error code, or ok).\n# TYPE evote_casts_total counter\n")
	outs := make([]string, 0, len(m.casts))
	for k := range m.casts {
		outs = append(outs, k)
	}
	sort.Strings(outs)
	for _, k := range outs {
		fmt.Fprintf(&b, "evote_casts_total{outcome=\"%s\"} %d\n", escLabel(k), m.casts[k])
	}
	m.mu.Unlock()
	b.WriteString("# HELP evote_cast_duration_seconds Time to answer a cast request.\n# TYPE evote_cast_duration_seconds histogram\n")
	var cum uint64
	for i, bound := range m.buckets {
		cum += m.counts[i].Load()
		fmt.Fprintf(&b, "evote_cast_duration_seconds_bucket{le=\"%g\"} %d\n", bound, cum)
	}
	total := m.total.Load()
	fmt.Fprintf(&b, "evote_cast_duration_seconds_bucket{le=\"+Inf\"} %d\n", total)
	fmt.Fprintf(&b, "evote_cast_duration_seconds_sum %g\n", time.Duration(m.sum.Load()).Seconds())
	fmt.Fprintf(&b, "evote_cast_duration_seconds_count %d\n", total)
	b.WriteString("# HELP evote_board_entries Entries on each election's board.\n# TYPE evote_board_entries gauge\n")
	if s.Registry != nil {
		for _, id := range s.Registry.IDs() {
			if bx, err := s.Registry.Get(id); err == nil {
				fmt.Fprintf(&b, "evote_board_entries{election=\"%s\"} %d\n", escLabel(id), bx.Log().Size())
			}
		}
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}

func (s *Server) readyz(c *gin.Context) {
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			fail(c, http.StatusServiceUnavailable, "unavailable", "not ready")
			return
		}
	}
	if s.Registry != nil {
		for _, id := range s.Registry.IDs() {
			bx, err := s.Registry.Get(id)
			if err != nil || bx.Healthy() != nil {
				fail(c, http.StatusServiceUnavailable, "unavailable", "election "+id+" is not serving")
				return
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
