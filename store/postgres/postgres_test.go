package postgres_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Fresh: func(t *testing.T) func() store.Store {
			dsn := pgtest.Schema(t)
			return func() store.Store {
				s, err := postgres.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		},
		Exec: func(s store.Store, q string) error {
			_, err := s.(*postgres.Store).Pool().Exec(context.Background(), q)
			return err
		},
	})
}

// TestMigrationsIdempotent: opening twice applies nothing the second time
// and records every version once.
func TestMigrationsIdempotent(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	for range 2 {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n < 1 {
			t.Fatalf("schema_migrations: %d rows, %v", n, err)
		}
		if _, err := s.Pool().Exec(ctx, `TRUNCATE bulletin_entries`); err == nil {
			t.Error("TRUNCATE accepted")
		}
		s.Close()
	}
}

// TestListenerReconnectRepublishes (issue 20, defect 6): an append made
// while the store's LISTEN connection is down (its NOTIFY is lost) still
// reaches the followers once the listener is back.
func TestListenerReconnectRepublishes(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log := store.LogID(sha256.Sum256([]byte("reconnect")))
	ch, err := s.Subscribe(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	rec := func(i uint64) store.Record {
		d := []byte(fmt.Sprintf("entry %d", i))
		return store.Record{Index: i, Hash: sha256.Sum256(d), Type: 1, Data: d}
	}
	if err := s.Append(ctx, log, 0, []store.Record{rec(0)}); err != nil {
		t.Fatal(err)
	}
	if got := <-ch; got != 1 {
		t.Fatalf("size %d", got)
	}
	// Drop the listener's connection, and append while it reconnects.
	var killed int
	if err := s.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&killed); err != nil || killed == 0 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := s.Append(ctx, log, 1, []store.Record{rec(1)}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-ch:
		if got != 2 {
			t.Fatalf("size %d after the reconnect, want 2", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the append made while the listener was down never reached the follower")
	}
}
