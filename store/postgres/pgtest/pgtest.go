// Package pgtest gives tests a private PostgreSQL schema. The server comes
// from EVOTE_TEST_PG (default postgres://postgres@127.0.0.1:5432/test).
// When the server is unreachable a test is skipped locally but fails when
// CI=true, so CI can never pass without exercising PostgreSQL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultDSN is used when EVOTE_TEST_PG is unset.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test"

// BaseDSN returns the configured server DSN.
func BaseDSN() string {
	if d := os.Getenv("EVOTE_TEST_PG"); d != "" {
		return d
	}
	return DefaultDSN
}

// Schema creates a fresh schema with a unique name, drops it when the test
// ends, and returns a DSN whose search_path selects it.
func Schema(t testing.TB) string {
	t.Helper()
	base := BaseDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: PostgreSQL unreachable at %s under CI: %v", base, err)
		}
		t.Skipf("pgtest: PostgreSQL unreachable at %s: %v", base, err)
	}
	defer conn.Close(ctx)
	var b [8]byte
	rand.Read(b[:])
	schema := "evote_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath adds a search_path parameter to a URL or key=value DSN.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
