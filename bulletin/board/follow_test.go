package board

import (
	"context"
	"testing"
	"time"

	"evote/bulletin"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// TestFollowAcrossProcesses: a read-only replica on its own connection pool
// follows the writer through PostgreSQL LISTEN/NOTIFY and serves the same
// tree, without polling.
func TestFollowAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	k := testLogKey("evote.example/follow", false)
	writer := openLog(t, open(), k)
	if _, err := writer.Append(ctx, testEntry(t, writer.ID(), bulletin.TypeBallot, "v", 0)); err != nil {
		t.Fatal(err)
	}
	replica := openLog(t, open(), k)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- replica.Follow(fctx) }()
	sub, err := replica.Subscribe(fctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := writer.Append(ctx, testEntry(t, writer.ID(), bulletin.TypeBallot, "v", i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(20 * time.Second)
	for replica.Size() < 21 {
		select {
		case <-sub:
		case <-deadline:
			t.Fatalf("replica stuck at size %d", replica.Size())
		}
	}
	wr, _ := writer.Tree().RootAt(21)
	rr, _ := replica.Tree().RootAt(21)
	if wr != rr {
		t.Fatal("replica's tree differs from the writer's")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not stop")
	}
}
