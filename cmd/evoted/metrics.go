package main

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// pgxPoolCollector exposes a pgx connection pool's statistics, the
// PostgreSQL counterpart of database/sql's go_sql_* (whose numbers, for the
// database/sql wrapper evoted makes over the same pool for the officials'
// service, would describe only that wrapper).
type pgxPoolCollector struct{ pool *pgxpool.Pool }

var (
	descPgxMax      = prometheus.NewDesc("evote_pgx_pool_max_connections", "Largest size of the PostgreSQL connection pool.", nil, nil)
	descPgxTotal    = prometheus.NewDesc("evote_pgx_pool_connections", "Connections in the PostgreSQL pool, by state.", []string{"state"}, nil)
	descPgxAcquire  = prometheus.NewDesc("evote_pgx_pool_acquires_total", "Connections acquired from the PostgreSQL pool.", nil, nil)
	descPgxWait     = prometheus.NewDesc("evote_pgx_pool_empty_acquires_total", "Acquisitions that waited for a connection because the pool was empty.", nil, nil)
	descPgxWaitTime = prometheus.NewDesc("evote_pgx_pool_acquire_wait_seconds_total", "Time spent waiting for a connection from the PostgreSQL pool.", nil, nil)
	descPgxCanceled = prometheus.NewDesc("evote_pgx_pool_canceled_acquires_total", "Acquisitions cancelled by their context.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c pgxPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPgxMax, descPgxTotal, descPgxAcquire, descPgxWait, descPgxWaitTime, descPgxCanceled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c pgxPoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(descPgxMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(descPgxTotal, prometheus.GaugeValue, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(descPgxTotal, prometheus.GaugeValue, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(descPgxTotal, prometheus.GaugeValue, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(descPgxAcquire, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(descPgxWait, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(descPgxWaitTime, prometheus.CounterValue, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(descPgxCanceled, prometheus.CounterValue, float64(s.CanceledAcquireCount()))
}
