package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"evote/api"
	"evote/ballotbox"
	"evote/bulletin"
	"evote/bulletin/board"
)

// scrape fetches /metrics and parses it with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

// value returns the value of the family's series with exactly those labels
// (a counter's, a gauge's, or a histogram's count), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// failingCosigner fails while down is set (a witness that is down).
type failingCosigner struct {
	ballotbox.Cosigner
	down *atomic.Bool
}

func (f failingCosigner) Cosign(ctx context.Context, l *board.Log, cp *bulletin.SignedCheckpoint) (bulletin.NoteSignature, error) {
	if f.down.Load() {
		return bulletin.NoteSignature{}, errors.New("witness down")
	}
	return f.Cosigner.Cosign(ctx, l, cp)
}

// TestMetricsScrape casts over HTTP and scrapes /metrics with the
// Prometheus text parser: requests and latency by route pattern, cast
// outcomes, the board's size and its durable appends, the witness's lag
// (none while it cosigns; the entries since when it is down, with its
// failures counted), the database pool, the Go runtime and the process.
func TestMetricsScrape(t *testing.T) {
	met := api.NewMetrics()
	var down atomic.Bool
	e := newEnvWith(t, envOptions{metrics: met, witness: func(c ballotbox.Cosigner) ballotbox.Cosigner { return failingCosigner{c, &down} }})
	if err := met.Register(dbStats(e)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := e.f.ElectionID
	cast := func() {
		t.Helper()
		v, err := e.f.NewVoter(ctx, [32]byte{}, "")
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := e.f.Prepare(v, e.f.Selection(1, v.Style))
		if err != nil {
			t.Fatal(err)
		}
		if st, out := e.do(t, "POST", "/elections/"+id+"/ballots", v.Token, "application/json", jsonBody(map[string]string{"entry": b64(raw)})); st != http.StatusCreated {
			t.Fatalf("cast: %d %v", st, out)
		}
	}
	cast()
	st, refused := e.do(t, "POST", "/elections/"+id+"/ballots", "", "application/json", []byte(`{}`))
	if st != http.StatusBadRequest {
		t.Fatalf("empty cast: %d %v", st, refused)
	}
	refusal := refused["error"].(map[string]any)["code"].(string)
	e.do(t, "GET", "/elections/"+id, "", "", nil)
	e.do(t, "GET", "/no/such/route", "", "", nil)

	fams := scrape(t, e.srv.URL)
	route := "/api/v1/elections/:id/ballots"
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"evote_http_requests_total", map[string]string{"method": "POST", "route": route, "status": "201"}, 1},
		{"evote_http_requests_total", map[string]string{"method": "POST", "route": route, "status": "400"}, 1},
		{"evote_http_requests_total", map[string]string{"method": "GET", "route": "/api/v1/elections/:id", "status": "200"}, 1},
		{"evote_http_requests_total", map[string]string{"method": "GET", "route": "unmatched", "status": "404"}, 1},
		{"evote_http_request_duration_seconds", map[string]string{"method": "POST", "route": route}, 2},
		{"evote_casts_total", map[string]string{"outcome": "ok"}, 1},
		{"evote_casts_total", map[string]string{"outcome": refusal}, 1},
		{"evote_cast_duration_seconds", nil, 2},
		{"evote_board_entries", map[string]string{"election": id}, float64(e.f.Box.Log().Size())},
		{"evote_board_append_duration_seconds", nil, 1},
		{"evote_board_appended_records_total", nil, float64(e.f.Box.Log().Size())},
		{"evote_witness_cosign_duration_seconds", map[string]string{"witness": witnessName(e)}, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
		{"go_sql_open_connections", map[string]string{"db_name": "evote"}, 0}, // present
	} {
		v, ok := value(fams, c.name, c.labels)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (present %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	w := map[string]string{"election": id, "witness": witnessName(e)}
	if v, ok := value(fams, "evote_witness_lag_entries", w); !ok || v != 0 {
		t.Errorf("lag of a witness that cosigns: %v %v", v, ok)
	}
	if _, ok := value(fams, "evote_witness_last_cosign_timestamp_seconds", w); !ok {
		t.Error("no last cosignature time")
	}

	// The witness goes down: casting goes on, the lag grows by the
	// entries since its last cosignature, its failures are counted.
	down.Store(true)
	before := e.f.Box.Log().Size()
	cast()
	fams = scrape(t, e.srv.URL)
	lag, _ := value(fams, "evote_witness_lag_entries", w)
	if want := float64(e.f.Box.Log().Size() - before); lag < want || want == 0 {
		t.Errorf("lag of a witness that is down: %v, want at least %v", lag, want)
	}
	if v, ok := value(fams, "evote_witness_cosign_failures_total", map[string]string{"witness": witnessName(e)}); !ok || v < 1 {
		t.Errorf("failures of a witness that is down: %v %v", v, ok)
	}
	checkMonitoringFiles(t, fams)
}

// checkMonitoringFiles: the sample Grafana dashboard and the alert rules
// under deploy/monitoring name only metrics that exist (those scraped, and
// the PostgreSQL pool's that cmd/evoted registers), so they cannot drift
// from the code.
func checkMonitoringFiles(t *testing.T, fams map[string]*dto.MetricFamily) {
	known := map[string]bool{}
	for name := range fams {
		known[name] = true
	}
	src, err := os.ReadFile("../cmd/evoted/metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`"(evote_pgx_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[m[1]] = true
	}
	var exprs []string
	dash, err := os.ReadFile("../deploy/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(dash, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("dashboard: %v, %d panels", err, len(d.Panels))
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	rules, err := os.ReadFile("../deploy/monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\s+expr: (.+)$`).FindAllStringSubmatch(string(rules), -1) {
		exprs = append(exprs, m[1])
	}
	if len(exprs) < 10 {
		t.Fatalf("only %d expressions in the monitoring files", len(exprs))
	}
	name := regexp.MustCompile(`\b((?:evote|go|process)_[a-z_]+)`)
	for _, x := range exprs {
		for _, m := range name.FindAllString(x, -1) {
			base := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suf); ok && fams[b] != nil && fams[b].GetType() == dto.MetricType_HISTOGRAM {
					base = b
				}
			}
			if !known[base] {
				t.Errorf("monitoring files name %s, which /metrics does not expose (in %s)", m, x)
			}
		}
	}
}

// dbStats is the database pool's collector, as cmd/evoted registers it.
func dbStats(e *env) prometheus.Collector { return collectors.NewDBStatsCollector(e.db, "evote") }

func witnessName(e *env) string { return e.f.Box.Witnesses()[0].Name }
