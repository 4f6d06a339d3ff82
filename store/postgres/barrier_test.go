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

// TestBarrier: while one process (store A) holds a log's barrier, another
// process's append (store B) waits; A's own append, marked WithBarrier,
// goes through; once A releases, B's append runs after A's and finds the
// log moved (ErrConflict) instead of having slipped in between.
func TestBarrier(t *testing.T) {
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
	log[0] = 0xb1
	rec := func(s string) []store.Record {
		d := []byte(s)
		return []store.Record{{Hash: sha256.Sum256(d), Type: 1, Data: d}}
	}
	release, err := a.Barrier(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer release() // idempotent; a failing test must not keep the connection
	bDone := make(chan error, 1)
	go func() { bDone <- b.Append(ctx, log, 0, rec("from B")) }()
	// Wait until B's append waits for the barrier: the two-key advisory
	// lock (0xb1000000, 0) of this log, not granted.
	for waiting := false; !waiting; {
		if err := a.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 2 AND classid = 2969567232 AND objid = 0)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-bDone:
			t.Fatalf("B's append returned (%v) while A holds the barrier", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := a.Append(store.WithBarrier(ctx), log, 0, rec("from A")); err != nil {
		t.Fatalf("the holder's own append: %v", err)
	}
	release()
	if err := <-bDone; !errors.Is(err, store.ErrConflict) {
		t.Fatalf("B's append after the barrier: %v, want ErrConflict", err)
	}
	if n, err := b.Size(ctx, log); err != nil || n != 1 {
		t.Fatalf("size %d (%v), want 1", n, err)
	}
}

// TestCheckpointLock: while one process (store A) holds a log's checkpoint
// lock, another's (store B) appends, checkpoint stores and barrier go
// through — the lock stalls nothing but signing — and B's CheckpointLock
// waits until A releases it.
func TestCheckpointLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel() // a lock wrongly shared makes the test fail, not hang
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
	log[0], log[8] = 0xb2, 0xc1
	release, err := a.CheckpointLock(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer release() // idempotent
	d := []byte("from B")
	if err := b.Append(ctx, log, 0, []store.Record{{Hash: sha256.Sum256(d), Type: 1, Data: d}}); err != nil {
		t.Fatalf("an append while another process holds the checkpoint lock: %v", err)
	}
	if err := b.PutCheckpoint(ctx, log, store.Checkpoint{Size: 1, Note: []byte("note 1")}); err != nil {
		t.Fatalf("a checkpoint store while another process holds the checkpoint lock: %v", err)
	}
	bRelease, err := b.Barrier(ctx, log)
	if err != nil {
		t.Fatalf("the barrier while another process holds the checkpoint lock: %v", err)
	}
	bRelease()
	bDone := make(chan error, 1)
	go func() {
		r, err := b.CheckpointLock(ctx, log)
		if err == nil {
			r()
		}
		bDone <- err
	}()
	// Wait until B waits for the lock: the one-key advisory lock
	// 0xc100000000000000 of this log, not granted.
	for waiting := false; !waiting; {
		if err := a.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1 AND classid = 3238002688 AND objid = 0)`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-bDone:
			t.Fatalf("B's CheckpointLock returned (%v) while A holds it", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	release()
	if err := <-bDone; err != nil {
		t.Fatalf("B's CheckpointLock after A released it: %v", err)
	}
}
