package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// TestAuditFence: an append fenced at the number of audits the pool held
// when its entries were checked commits while the pool still holds that
// many and is refused with ErrAuditFence, storing nothing, once another
// process has added an audit; an unfenced append is not concerned.
func TestAuditFence(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.Schema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var log store.LogID
	log[0] = 0xfe
	rec := func(d string) []store.Record {
		return []store.Record{{Hash: sha256.Sum256([]byte(d)), Type: 1, Data: []byte(d)}}
	}
	if n, err := s.AuditCount(ctx, log); err != nil || n != 0 {
		t.Fatalf("audit count %d, %v", n, err)
	}
	if err := s.Append(store.WithAuditFence(ctx, 0), log, 0, rec("a")); err != nil {
		t.Fatal(err)
	}
	entry := []byte("audit entry")
	if err := s.AddAudit(ctx, log, store.Audit{Code: [32]byte{1}, EntryHash: sha256.Sum256(entry), Entry: entry, Ballot: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	err = s.Append(store.WithAuditFence(ctx, 0), log, 1, rec("b"))
	if !errors.Is(err, store.ErrAuditFence) {
		t.Fatalf("append fenced at 0 audits, the pool holding 1: %v", err)
	}
	if n, _ := s.Size(ctx, log); n != 1 {
		t.Fatalf("the refused append stored something: size %d", n)
	}
	if err := s.Append(store.WithBarrier(store.WithAuditFence(ctx, 0)), log, 1, rec("b")); !errors.Is(err, store.ErrAuditFence) {
		t.Fatalf("the barrier holder's append fenced at 0: %v", err)
	}
	if n, err := s.AuditCount(ctx, log); err != nil || n != 1 {
		t.Fatalf("audit count %d, %v", n, err)
	}
	if err := s.Append(store.WithAuditFence(ctx, 1), log, 1, rec("b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, log, 2, rec("c")); err != nil {
		t.Fatal(err)
	}
}

// TestClaimCheckpoint: the first body claimed at a size is the one every
// later claim at that size returns, from any process.
func TestClaimCheckpoint(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var log store.LogID
	log[0] = 0xc1
	got, err := a.ClaimCheckpoint(ctx, log, 5, []byte("first"))
	if err != nil || !bytes.Equal(got, []byte("first")) {
		t.Fatalf("first claim: %q, %v", got, err)
	}
	got, err = b.ClaimCheckpoint(ctx, log, 5, []byte("second"))
	if err != nil || !bytes.Equal(got, []byte("first")) {
		t.Fatalf("second claim at the size: %q, %v", got, err)
	}
	got, err = b.ClaimCheckpoint(ctx, log, 6, []byte("second"))
	if err != nil || !bytes.Equal(got, []byte("second")) {
		t.Fatalf("claim at the next size: %q, %v", got, err)
	}
	if _, err := a.Pool().Exec(ctx, `UPDATE bulletin_checkpoint_claims SET body = 'x'`); err == nil {
		t.Fatal("a claim was changed")
	}
}
