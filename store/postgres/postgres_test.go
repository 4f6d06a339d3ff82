package postgres_test

import (
	"context"
	"testing"

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
