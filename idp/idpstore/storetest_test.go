package idpstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// stores returns a fresh SQLite store and, when PostgreSQL is reachable, a
// fresh PostgreSQL store in a schema of its own that is dropped afterwards.
// Under CI=true an unreachable PostgreSQL fails the test instead of skipping.
func stores(t *testing.T) map[string]*Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*Store{}
	lite, err := Open(ctx, "sqlite", "file:"+filepath.Join(t.TempDir(), "idp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lite.Close() })
	out["sqlite"] = lite

	dsn := os.Getenv("EVOTE_TEST_PG")
	if dsn == "" {
		dsn = "postgres://postgres@127.0.0.1:5432/test"
	}
	admin, err := sql.Open("pgx", dsn)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = admin.PingContext(pctx)
		cancel()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at EVOTE_TEST_PG unreachable under CI: %v", err)
		}
		t.Logf("PostgreSQL unreachable, testing SQLite only: %v", err)
		return out
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "idp_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	pg, err := Open(ctx, "pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	out["postgres"] = pg
	return out
}

// forEach runs f as a subtest against every available store.
func forEach(t *testing.T, f func(t *testing.T, s *Store)) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { f(t, s) })
	}
}
