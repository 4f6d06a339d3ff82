//go:build linux

package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// TestWritesWaitForTheSynchronousStandby: with the server's default at
// synchronous_commit = local (an operator tuning for speed), every write
// of the store still waits for the synchronous standby, so that what the
// store acknowledged is on the standby a failover promotes. With the
// standby stopped, each write must therefore not return before its
// deadline. Before, a checkpoint (signed, shown to witnesses and voters)
// was acknowledged without the standby: after a failover the log could
// sign another at its size.
func TestWritesWaitForTheSynchronousStandby(t *testing.T) {
	pair := pgtest.NewPair(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, pair.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var log store.LogID
	log[0] = 7
	data := []byte("entry 0")
	if err := s.Append(ctx, log, 0, []store.Record{{Hash: sha256.Sum256(data), Type: 1, Data: data}}); err != nil {
		t.Fatal(err)
	}
	audit := []byte("audited-ballot entry")
	if err := s.AddAudit(ctx, log, store.Audit{Code: [32]byte{1}, EntryHash: sha256.Sum256(audit), Entry: audit, Ballot: []byte("ballot")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `ALTER SYSTEM SET synchronous_commit = local`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pool().Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	pair.StopStandby(t)
	s.Pool().Reset() // new sessions, with the new default

	writes := map[string]func(context.Context) error{
		"append": func(ctx context.Context) error {
			d := []byte("entry 1")
			return s.Append(ctx, log, 1, []store.Record{{Hash: sha256.Sum256(d), Type: 1, Data: d}})
		},
		"checkpoint": func(ctx context.Context) error {
			return s.PutCheckpoint(ctx, log, store.Checkpoint{Size: 1, Note: []byte("note")})
		},
		"snapshot": func(ctx context.Context) error {
			return s.PutSnapshot(ctx, log, store.Snapshot{Size: 1, Data: []byte("snapshot")})
		},
		"mark audits published": func(ctx context.Context) error {
			return s.MarkAuditsPublished(ctx, log, [][32]byte{{1}})
		},
	}
	for name, write := range writes {
		wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := write(wctx)
		cancel()
		if err == nil {
			t.Errorf("%s acknowledged without the synchronous standby", name)
		} else if !errors.Is(err, context.DeadlineExceeded) && wctx.Err() == nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
