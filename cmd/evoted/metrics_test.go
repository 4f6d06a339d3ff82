package main

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// TestPgxPoolCollector: on PostgreSQL, /metrics has the pool's size,
// connections by state and acquisitions (what go_sql_* gives on SQLite).
func TestPgxPoolCollector(t *testing.T) {
	pg, err := postgres.Open(context.Background(), pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	reg := prometheus.NewRegistry()
	if err := reg.Register(pgxPoolCollector{pg.Pool()}); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	states := map[string]bool{}
	for _, f := range fams {
		for _, m := range f.Metric {
			switch {
			case m.Gauge != nil:
				got[f.GetName()] += m.Gauge.GetValue()
			case m.Counter != nil:
				got[f.GetName()] += m.Counter.GetValue()
			}
			for _, l := range m.Label {
				states[l.GetValue()] = true
			}
		}
	}
	if got["evote_pgx_pool_max_connections"] < 1 || got["evote_pgx_pool_acquires_total"] < 1 || got["evote_pgx_pool_connections"] < 1 {
		t.Fatalf("pool metrics: %v", got)
	}
	for _, s := range []string{"acquired", "idle", "constructing"} {
		if !states[s] {
			t.Errorf("no %s connections series", s)
		}
	}
	for _, name := range []string{"evote_pgx_pool_empty_acquires_total", "evote_pgx_pool_acquire_wait_seconds_total", "evote_pgx_pool_canceled_acquires_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}
