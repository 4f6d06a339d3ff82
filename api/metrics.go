package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"evote/ballotbox"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/internal/httpedge"
	"evote/store"
)

// Metrics is what /metrics exposes, through the Prometheus client library
// on a registry of the server's own (never the process-global one, so that
// several servers in one process, as in tests, do not collide):
//
//   - evote_http_requests_total{method,route,status} and
//     evote_http_request_duration_seconds{method,route}: every request, by
//     the route's pattern (never the raw path, whose ids would make the
//     series unbounded); "unmatched" for paths no route takes;
//   - evote_casts_total{outcome} ("ok" or the refusal's error code) and
//     evote_cast_duration_seconds;
//   - evote_board_entries{election}, and, through [Metrics.Store],
//     evote_board_append_duration_seconds and evote_board_appended_records_total
//     (one observation per durable batch the board commits);
//   - through [Metrics.Witnesses], per election and witness:
//     evote_witness_lag_entries (entries on the board that witness has not
//     cosigned yet), evote_witness_last_cosign_timestamp_seconds, and per
//     witness evote_witness_cosign_duration_seconds and
//     evote_witness_cosign_failures_total;
//   - the database pool (go_sql_* for database/sql, or whatever collector
//     the caller registers, e.g. cmd/evoted's for pgx);
//   - the Go runtime (go_*) and the process (process_*).
type Metrics struct {
	// Registry holds every collector; Register adds more.
	Registry *prometheus.Registry

	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	casts          *prometheus.CounterVec
	castLatency    prometheus.Histogram
	appendLatency  prometheus.Histogram
	appended       prometheus.Counter
	cosignLatency  *prometheus.HistogramVec
	cosignFailures *prometheus.CounterVec

	mu       sync.Mutex
	cosigned map[witnessLog]witnessState
}

// witnessLog names one witness of one log.
type witnessLog struct {
	log     bulletin.LogID
	witness string
}

// witnessState is the latest size a witness cosigned on a log and when.
type witnessState struct {
	size uint64
	at   time.Time
}

// latencyBuckets are the bounds, in seconds, of every latency histogram:
// from a fast read (1 ms) to a slow cosignature round (10 s).
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewMetrics returns the metrics of one server, with the Go runtime and
// process collectors registered.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evote_http_requests_total", Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "evote_http_request_duration_seconds", Help: "Time to answer an HTTP request, by method and route pattern.", Buckets: latencyBuckets,
		}, []string{"method", "route"}),
		casts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evote_casts_total", Help: "Cast requests by outcome (ok, or the refusal's error code).",
		}, []string{"outcome"}),
		castLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "evote_cast_duration_seconds", Help: "Time to answer a cast request, receipt included.", Buckets: latencyBuckets,
		}),
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "evote_board_append_duration_seconds", Help: "Time to store one batch of board records durably.", Buckets: latencyBuckets,
		}),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "evote_board_appended_records_total", Help: "Board records stored durably.",
		}),
		cosignLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "evote_witness_cosign_duration_seconds", Help: "Time a witness took to cosign a checkpoint (answered or not).", Buckets: latencyBuckets,
		}, []string{"witness"}),
		cosignFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evote_witness_cosign_failures_total", Help: "Cosignature requests a witness did not answer with a cosignature.",
		}, []string{"witness"}),
		cosigned: map[witnessLog]witnessState{},
	}
	m.Registry.MustRegister(m.requests, m.latency, m.casts, m.castLatency, m.appendLatency, m.appended, m.cosignLatency, m.cosignFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds collectors (a database pool's, say) to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.Registry.Register(c); err != nil {
			return fmt.Errorf("api: metrics: %w", err)
		}
	}
	return nil
}

func (m *Metrics) middleware(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := c.Request.Method
	m.requests.WithLabelValues(method, route, fmt.Sprint(c.Writer.Status())).Inc()
	m.latency.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
}

// cast records the outcome and latency of one cast.
func (m *Metrics) cast(outcome string, d time.Duration) {
	m.casts.WithLabelValues(outcome).Inc()
	m.castLatency.Observe(d.Seconds())
}

// Store returns st with its appends timed (the board's durable commits).
func (m *Metrics) Store(st store.Store) store.Store { return timedStore{st, m} }

type timedStore struct {
	store.Store
	m *Metrics
}

// Append implements store.Store.
func (t timedStore) Append(ctx context.Context, log store.LogID, first uint64, recs []store.Record) error {
	start := time.Now()
	err := t.Store.Append(ctx, log, first, recs)
	t.m.appendLatency.Observe(time.Since(start).Seconds())
	if err == nil {
		t.m.appended.Add(float64(len(recs)))
	}
	return err
}

// Witnesses returns f with every cosigner it returns watched: the size of
// each cosignature it gives (for the lag), its latency and its failures.
func (m *Metrics) Witnesses(f func(bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error)) func(bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) {
	if f == nil {
		return nil
	}
	return func(v bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) {
		ws, q, err := f(v)
		out := make([]ballotbox.Cosigner, len(ws))
		for i, w := range ws {
			out[i] = m.Cosigner(w)
		}
		return out, q, err
	}
}

// Cosigner returns c watched as Witnesses watches each of its cosigners.
func (m *Metrics) Cosigner(c ballotbox.Cosigner) ballotbox.Cosigner { return watchedCosigner{c, m} }

type watchedCosigner struct {
	ballotbox.Cosigner
	m *Metrics
}

// Cosign implements ballotbox.Cosigner.
func (w watchedCosigner) Cosign(ctx context.Context, l *board.Log, cp *bulletin.SignedCheckpoint) (bulletin.NoteSignature, error) {
	name := w.Key().Name
	k := witnessLog{l.ID(), name}
	w.m.mu.Lock()
	if _, ok := w.m.cosigned[k]; !ok {
		w.m.cosigned[k] = witnessState{} // asked, nothing cosigned yet: lags by the whole log
	}
	w.m.mu.Unlock()
	start := time.Now()
	s, err := w.Cosigner.Cosign(ctx, l, cp)
	w.m.cosignLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		w.m.cosignFailures.WithLabelValues(name).Inc()
		return s, err
	}
	w.m.mu.Lock()
	if st := w.m.cosigned[k]; cp.Size >= st.size {
		w.m.cosigned[k] = witnessState{size: cp.Size, at: time.Now()}
	}
	w.m.mu.Unlock()
	return s, nil
}

// boardCollector reports, at each scrape, the size of every election's
// board and how far behind it each witness asked to cosign it is.
type boardCollector struct{ s *Server }

var (
	descBoardEntries = prometheus.NewDesc("evote_board_entries", "Entries on each election's board.", []string{"election"}, nil)
	descWitnessLag   = prometheus.NewDesc("evote_witness_lag_entries",
		"Entries on an election's board beyond the largest checkpoint the witness has cosigned.", []string{"election", "witness"}, nil)
	descWitnessLast = prometheus.NewDesc("evote_witness_last_cosign_timestamp_seconds",
		"When the witness last cosigned a checkpoint of the election's board (Unix time; absent before the first).", []string{"election", "witness"}, nil)
)

// Describe implements prometheus.Collector.
func (b boardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBoardEntries
	ch <- descWitnessLag
	ch <- descWitnessLast
}

// Collect implements prometheus.Collector.
func (b boardCollector) Collect(ch chan<- prometheus.Metric) {
	reg, m := b.s.Registry, b.s.met
	if reg == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range reg.IDs() {
		bx, err := reg.Get(id)
		if err != nil {
			continue
		}
		l := bx.Log()
		size := l.Size()
		ch <- prometheus.MustNewConstMetric(descBoardEntries, prometheus.GaugeValue, float64(size), id)
		for k, st := range m.cosigned {
			if k.log != l.ID() {
				continue
			}
			lag := uint64(0)
			if size > st.size {
				lag = size - st.size
			}
			ch <- prometheus.MustNewConstMetric(descWitnessLag, prometheus.GaugeValue, float64(lag), id, k.witness)
			if !st.at.IsZero() {
				ch <- prometheus.MustNewConstMetric(descWitnessLast, prometheus.GaugeValue, float64(st.at.UnixNano())/1e9, id, k.witness)
			}
		}
	}
}

// SetMetrics makes m the server's metrics (m's Store and Witnesses
// wrappers then feed the server's /metrics); call it before the server's
// first use.
func (s *Server) SetMetrics(m *Metrics) { s.met = m }

// Metrics returns the server's metrics, made on first use.
func (s *Server) Metrics() *Metrics {
	s.metOnce.Do(func() {
		if s.met == nil {
			s.met = NewMetrics()
		}
		s.met.Registry.MustRegister(boardCollector{s})
	})
	return s.met
}

func (s *Server) metricsHandler() gin.HandlerFunc {
	h := promhttp.HandlerFor(s.Metrics().Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		h.ServeHTTP(c.Writer, c.Request)
	}
}

func (s *Server) readyz(c *gin.Context) {
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			httpedge.Fail(c, http.StatusServiceUnavailable, "unavailable", "not ready")
			return
		}
	}
	if s.Registry != nil {
		for _, id := range s.Registry.IDs() {
			bx, err := s.Registry.Get(id)
			if err != nil || bx.Healthy() != nil {
				httpedge.Fail(c, http.StatusServiceUnavailable, "unavailable", "election "+id+" is not serving")
				return
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}
