package ballotbox_test

import (
	"context"
	"testing"
	"time"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
)

// TestRestartServesWitnessedCheckpoint: right after a restart, before
// anything new is appended, the board serves a checkpoint of its whole
// log that the witness quorum cosigned (issue 19: it served none until the
// next entry, since cosignatures are kept in memory only, and a record
// fetched then did not verify).
func TestRestartServesWitnessedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, dir)
	t.Cleanup(func() { st.Close() })
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	castSome(t, f, 3, 1)
	size := f.Box.Log().Size()
	if err := f.Registry.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := ballotbox.OpenRegistry(context.Background(), ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board",
		LogKey: f.Server.LogKey, Authority: f.Server.Authority, Audience: boxtest.Audience, Witnesses: boxtest.LocalWitnesses(dir, f.Server.Witnesses)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	b, err := r.Get(f.ElectionID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp := b.Log().LatestCosigned()
		if cp != nil && cp.Checkpoint.Size == size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart: latest cosigned checkpoint %+v, want one of size %d", cp, size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
