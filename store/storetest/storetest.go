// Package storetest is the conformance suite every store.Store backend
// must pass. A backend's test calls Run with a Harness.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"evote/store"
)

// Harness adapts a backend to the suite.
type Harness struct {
	// Fresh prepares a new, empty database for one test and returns a
	// function that opens it (called several times to test reopening). The
	// harness cleans up through t.Cleanup.
	Fresh func(t *testing.T) (open func() store.Store)
	// Exec runs raw SQL against the store's database, to check that the
	// database itself refuses to change or delete log rows.
	Exec func(s store.Store, sql string) error
}

func rec(i int, tag string) store.Record {
	data := fmt.Appendf(nil, "record %s %d", tag, i)
	return store.Record{Hash: sha256.Sum256(data), Type: uint16(i % 7), Data: data}
}

func recs(from, n int, tag string) []store.Record {
	out := make([]store.Record, n)
	for i := range out {
		out[i] = rec(from+i, tag)
	}
	return out
}

func logID(s string) store.LogID { return sha256.Sum256([]byte(s)) }

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"Empty", testEmpty},
		{"AppendRead", testAppendRead},
		{"Conflict", testConflict},
		{"Duplicates", testDuplicates},
		{"Invalid", testInvalid},
		{"LargeRecord", testLargeRecord},
		{"Checkpoints", testCheckpoints},
		{"Subscribe", testSubscribe},
		{"Race", testRace},
		{"Reopen", testReopen},
		{"AppendOnly", testAppendOnly},
		{"Audits", testAudits},
		{"AuditsKept", testAuditsKept},
		{"AuditFlushRace", testAuditFlushRace},
		{"Snapshots", testSnapshots},
		{"RevoteLedger", testRevoteLedger},
		{"RevoteCastsFollowed", testRevoteCastsFollowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func open(t *testing.T, h Harness) store.Store {
	s := h.Fresh(t)()
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t *testing.T, s store.Store, log store.LogID, first uint64, rs []store.Record) {
	t.Helper()
	if err := s.Append(context.Background(), log, first, rs); err != nil {
		t.Fatalf("append at %d: %v", first, err)
	}
}

func wantSize(t *testing.T, s store.Store, log store.LogID, want uint64) {
	t.Helper()
	got, err := s.Size(context.Background(), log)
	if err != nil || got != want {
		t.Fatalf("size = %d, %v; want %d", got, err, want)
	}
}

func testEmpty(t *testing.T, h Harness) {
	s, ctx, log := open(t, h), context.Background(), logID("empty")
	wantSize(t, s, log, 0)
	if rs, err := s.Range(ctx, log, 0, 10); err != nil || len(rs) != 0 {
		t.Errorf("range of empty log: %v, %v", rs, err)
	}
	if _, err := s.ByHash(ctx, log, [32]byte{1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("by hash: %v, want ErrNotFound", err)
	}
	if _, err := s.LatestCheckpoint(ctx, log); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("latest checkpoint: %v, want ErrNotFound", err)
	}
}

func testAppendRead(t *testing.T, h Harness) {
	s, ctx, log := open(t, h), context.Background(), logID("read")
	all := recs(0, 25, "r")
	big := bytes.Repeat([]byte{0xab}, 1<<20)
	all = append(all, store.Record{Hash: sha256.Sum256(big), Type: 65535, Data: big})
	mustAppend(t, s, log, 0, all[:10])
	mustAppend(t, s, log, 10, all[10:11])
	mustAppend(t, s, log, 11, all[11:])
	wantSize(t, s, log, uint64(len(all)))
	got, err := s.Range(ctx, log, 0, 100)
	if err != nil || len(got) != len(all) {
		t.Fatalf("range: %d records, %v", len(got), err)
	}
	for i, r := range got {
		if r.Index != uint64(i) || r.Hash != all[i].Hash || r.Type != all[i].Type || !bytes.Equal(r.Data, all[i].Data) {
			t.Fatalf("record %d differs", i)
		}
	}
	if sz, ok := s.(store.Sizer); ok {
		got, err := sz.Sizes(ctx, log, 20, 100)
		if err != nil || len(got) != len(all)-20 {
			t.Fatalf("sizes 20..100: %d sizes, %v", len(got), err)
		}
		for i, n := range got {
			if n != uint64(len(all[20+i].Data)) {
				t.Fatalf("size of record %d: %d, want %d", 20+i, n, len(all[20+i].Data))
			}
		}
		if got, err := sz.Sizes(ctx, log, 40, 50); err != nil || len(got) != 0 {
			t.Errorf("sizes beyond end: %v, %v", got, err)
		}
	}
	if got, _ := s.Range(ctx, log, 5, 8); len(got) != 3 || got[0].Index != 5 {
		t.Errorf("range 5..8: %d records", len(got))
	}
	if got, _ := s.Range(ctx, log, 40, 50); len(got) != 0 {
		t.Errorf("range beyond end: %d records", len(got))
	}
	r, err := s.ByHash(ctx, log, all[17].Hash)
	if err != nil || r.Index != 17 || !bytes.Equal(r.Data, all[17].Data) {
		t.Errorf("by hash: %+v, %v", r.Index, err)
	}
	if _, err := s.ByHash(ctx, logID("other"), all[17].Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("by hash in another log: %v", err)
	}
	// Logs are independent.
	other := logID("other")
	mustAppend(t, s, other, 0, recs(0, 3, "other"))
	wantSize(t, s, other, 3)
	wantSize(t, s, log, uint64(len(all)))
}

func testConflict(t *testing.T, h Harness) {
	s, log := open(t, h), logID("conflict")
	mustAppend(t, s, log, 0, recs(0, 3, "c"))
	for _, first := range []uint64{0, 2, 4, 1 << 40} {
		if err := s.Append(context.Background(), log, first, recs(10, 2, "c")); !errors.Is(err, store.ErrConflict) {
			t.Errorf("append at %d of a 3-entry log: %v, want ErrConflict", first, err)
		}
	}
	wantSize(t, s, log, 3)
}

func testDuplicates(t *testing.T, h Harness) {
	s, ctx, log := open(t, h), context.Background(), logID("dup")
	rs := recs(0, 4, "d")
	mustAppend(t, s, log, 0, rs)
	fresh := rec(100, "d")
	// One fresh record and one already stored: nothing is stored.
	if err := s.Append(ctx, log, 4, []store.Record{fresh, rs[2]}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("append with stored hash: %v, want ErrDuplicate", err)
	}
	if err := s.Append(ctx, log, 4, []store.Record{fresh, fresh}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("append with repeated hash: %v, want ErrDuplicate", err)
	}
	// Hashes are unique across logs too (an entry names its log).
	if err := s.Append(ctx, logID("dup2"), 0, []store.Record{rs[0]}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("append of a hash stored in another log: %v, want ErrDuplicate", err)
	}
	wantSize(t, s, log, 4)
	wantSize(t, s, logID("dup2"), 0)
	if _, err := s.ByHash(ctx, log, fresh.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused record is visible: %v", err)
	}
	mustAppend(t, s, log, 4, []store.Record{fresh})
}

func testInvalid(t *testing.T, h Harness) {
	s, ctx, log := open(t, h), context.Background(), logID("invalid")
	if err := s.Append(ctx, log, 0, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty append: %v", err)
	}
	if err := s.Append(ctx, log, 0, []store.Record{{Hash: [32]byte{1}}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty record: %v", err)
	}
	if _, err := s.Range(ctx, log, 5, 4); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("reversed range: %v", err)
	}
	if _, err := s.Range(ctx, log, 0, store.MaxRange+1); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("oversized range: %v", err)
	}
	if err := s.PutCheckpoint(ctx, log, store.Checkpoint{Size: 0}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty checkpoint note: %v", err)
	}
	wantSize(t, s, log, 0)
}

// testLargeRecord appends and reads back a record of 96 MiB, larger than
// the 64 MiB the stores once bounded records by, as a mix of 400,000 rows
// is (the board takes entries of up to 256 MiB); one byte more than
// MaxRecordSize is refused.
func testLargeRecord(t *testing.T, h Harness) {
	s, ctx, log := open(t, h), context.Background(), logID("large")
	big := bytes.Repeat([]byte{0x5a, 0xa5, 0x3c}, 32<<20)
	big[len(big)-1] = 1
	r := store.Record{Hash: sha256.Sum256(big), Type: 0x0401, Data: big}
	mustAppend(t, s, log, 0, []store.Record{r})
	got, err := s.Range(ctx, log, 0, 1)
	if err != nil || len(got) != 1 || got[0].Hash != r.Hash || !bytes.Equal(got[0].Data, big) {
		t.Fatalf("a %d-byte record read back: %d records, %v", len(big), len(got), err)
	}
	got = nil
	tooBig := store.Record{Hash: [32]byte{2}, Type: 0x0401, Data: make([]byte, store.MaxRecordSize+1)}
	if err := s.Append(ctx, log, 1, []store.Record{tooBig}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("a record of MaxRecordSize+1 bytes: %v, want ErrInvalid", err)
	}
	wantSize(t, s, log, 1)
}

func testCheckpoints(t *testing.T, h Harness) {
	s, ctx, log := open(t, h), context.Background(), logID("cp")
	mustAppend(t, s, log, 0, recs(0, 5, "cp"))
	put := func(size uint64) error {
		return s.PutCheckpoint(ctx, log, store.Checkpoint{Size: size, Note: fmt.Appendf(nil, "note %d\n", size)})
	}
	if err := put(0); err != nil {
		t.Fatalf("checkpoint 0: %v", err)
	}
	if err := put(3); err != nil {
		t.Fatalf("checkpoint 3: %v", err)
	}
	for _, bad := range []uint64{3, 2, 0} {
		if err := put(bad); !errors.Is(err, store.ErrCheckpointOrder) {
			t.Errorf("checkpoint %d after 3: %v, want ErrCheckpointOrder", bad, err)
		}
	}
	if err := put(6); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("checkpoint beyond the log: %v, want ErrInvalid", err)
	}
	if err := put(5); err != nil {
		t.Fatal(err)
	}
	cp, err := s.LatestCheckpoint(ctx, log)
	if err != nil || cp.Size != 5 || string(cp.Note) != "note 5\n" {
		t.Errorf("latest: %+v, %v", cp, err)
	}
	cp, err = s.CheckpointAt(ctx, log, 3)
	if err != nil || cp.Size != 3 || string(cp.Note) != "note 3\n" {
		t.Errorf("at 3: %+v, %v", cp, err)
	}
	if _, err := s.CheckpointAt(ctx, log, 4); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("at 4: %v", err)
	}
	if _, err := s.LatestCheckpoint(ctx, logID("nocp")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other log: %v", err)
	}
}

func testSubscribe(t *testing.T, h Harness) {
	s, log := open(t, h), logID("sub")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := s.Subscribe(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	otherCh, err := s.Subscribe(ctx, logID("sub-other"))
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, log, 0, recs(0, 2, "s"))
	mustAppend(t, s, log, 2, recs(2, 3, "s"))
	deadline := time.After(10 * time.Second)
	for last := uint64(0); last != 5; {
		select {
		case n := <-ch:
			if n < last || n > 5 {
				t.Fatalf("notification %d after %d", n, last)
			}
			last = n
		case <-deadline:
			t.Fatalf("no notification of size 5 (last %d)", last)
		}
	}
	select {
	case n := <-otherCh:
		t.Errorf("notification %d for another log", n)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case _, ok := <-ch:
		for ok {
			_, ok = <-ch
		}
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}

func testRace(t *testing.T, h Harness) {
	s, log := open(t, h), logID("race")
	mustAppend(t, s, log, 0, recs(0, 1, "race"))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = s.Append(context.Background(), log, 1, recs(100*(w+1), 3, "race"))
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
		default:
			t.Errorf("racing append: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d racing appends at the same index succeeded, want 1", ok)
	}
	wantSize(t, s, log, 4)
}

func testReopen(t *testing.T, h Harness) {
	openFn := h.Fresh(t)
	log := logID("reopen")
	s := openFn()
	rs := recs(0, 7, "re")
	mustAppend(t, s, log, 0, rs)
	if err := s.PutCheckpoint(context.Background(), log, store.Checkpoint{Size: 7, Note: []byte("n\n")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openFn()
	defer s.Close()
	wantSize(t, s, log, 7)
	got, err := s.Range(context.Background(), log, 0, 7)
	if err != nil || len(got) != 7 || got[6].Hash != rs[6].Hash {
		t.Fatalf("after reopen: %d records, %v", len(got), err)
	}
	if cp, err := s.LatestCheckpoint(context.Background(), log); err != nil || cp.Size != 7 {
		t.Errorf("checkpoint after reopen: %+v %v", cp, err)
	}
	mustAppend(t, s, log, 7, recs(7, 1, "re"))
}

func testAppendOnly(t *testing.T, h Harness) {
	s, log := open(t, h), logID("append-only")
	mustAppend(t, s, log, 0, recs(0, 3, "ao"))
	if err := s.PutCheckpoint(context.Background(), log, store.Checkpoint{Size: 3, Note: []byte("n\n")}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"UPDATE bulletin_entries SET type = 9",
		"DELETE FROM bulletin_entries",
		"UPDATE bulletin_checkpoints SET size = 1",
		"DELETE FROM bulletin_checkpoints",
	} {
		if err := h.Exec(s, q); err == nil {
			t.Errorf("database accepted %q", q)
		}
	}
	wantSize(t, s, log, 3)
	got, _ := s.Range(context.Background(), log, 0, 3)
	for i, r := range got {
		if r.Type != uint16(i%7) {
			t.Errorf("record %d modified", i)
		}
	}
}

func audit(tag string, i int) store.Audit {
	entry := fmt.Appendf(nil, "audited entry %s %d", tag, i)
	return store.Audit{Code: sha256.Sum256(fmt.Appendf(nil, "code %s %d", tag, i)), EntryHash: sha256.Sum256(entry),
		Entry: entry, Ballot: fmt.Appendf(nil, "ballot %s %d", tag, i)}
}

func wantPending(t *testing.T, s store.Store, log store.LogID, want ...store.Audit) {
	t.Helper()
	got, err := s.Audits(context.Background(), log, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d pending audits, want %d", len(got), len(want))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g.Code == w.Code && g.EntryHash == w.EntryHash && bytes.Equal(g.Entry, w.Entry) && bytes.Equal(g.Ballot, w.Ballot) && !g.Published
		}
		if !found {
			t.Fatalf("pending audit %x missing or altered", w.Code[:4])
		}
	}
	for i := 1; i < len(got); i++ {
		if bytes.Compare(got[i-1].Code[:], got[i].Code[:]) >= 0 {
			t.Fatal("audits not ordered by code")
		}
	}
}

// testAudits: the pending pool of the ballot box (spec §9.4): audits are
// added once, listed while pending, marked published idempotently, found
// by code, kept per log, and survive a reopen.
func testAudits(t *testing.T, h Harness) {
	ctx := context.Background()
	openFn := h.Fresh(t)
	s := openFn()
	log, other := logID("audits"), logID("audits-other")
	a, b, c := audit("a", 1), audit("a", 2), audit("a", 3)
	for _, x := range []store.Audit{a, b, c} {
		if err := s.AddAudit(ctx, log, x); err != nil {
			t.Fatal(err)
		}
	}
	// The same code again, or the same entry under another code or log.
	dupCode := audit("dup", 1)
	dupCode.Code = a.Code
	dupEntry := b
	dupEntry.Code = sha256.Sum256([]byte("another code"))
	for name, x := range map[string]struct {
		log store.LogID
		a   store.Audit
	}{"same code": {log, dupCode}, "same entry": {log, dupEntry}, "same entry, other log": {other, dupEntry}} {
		if err := s.AddAudit(ctx, x.log, x.a); !errors.Is(err, store.ErrDuplicate) {
			t.Errorf("%s: got %v, want ErrDuplicate", name, err)
		}
	}
	bad := audit("bad", 1)
	bad.EntryHash[0] ^= 1
	if err := s.AddAudit(ctx, log, bad); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("wrong entry hash: got %v, want ErrInvalid", err)
	}
	empty := audit("empty", 1)
	empty.Ballot = nil
	if err := s.AddAudit(ctx, log, empty); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty ballot: got %v, want ErrInvalid", err)
	}
	wantPending(t, s, log, a, b, c)
	wantPending(t, s, other)
	// Marking is idempotent and per log; unknown codes are ignored.
	for range 2 {
		if err := s.MarkAuditsPublished(ctx, log, [][32]byte{a.Code, c.Code, audit("x", 9).Code}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkAuditsPublished(ctx, other, [][32]byte{b.Code}); err != nil {
		t.Fatal(err)
	}
	wantPending(t, s, log, b)
	all, err := s.Audits(ctx, log, false)
	if err != nil || len(all) != 3 {
		t.Fatalf("all audits: %d, %v", len(all), err)
	}
	got, err := s.AuditByCode(ctx, log, a.Code)
	if err != nil || !got.Published || !bytes.Equal(got.Entry, a.Entry) || !bytes.Equal(got.Ballot, a.Ballot) || got.EntryHash != a.EntryHash {
		t.Fatalf("audit by code: %+v %v", got, err)
	}
	if _, err := s.AuditByCode(ctx, other, a.Code); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("audit of another log: %v, want ErrNotFound", err)
	}
	s.Close()
	s = openFn()
	defer s.Close()
	wantPending(t, s, log, b)
	if got, err := s.AuditByCode(ctx, log, c.Code); err != nil || !got.Published {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
	// Concurrent markers (two flushers) both succeed.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.MarkAuditsPublished(ctx, log, [][32]byte{b.Code})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantPending(t, s, log)
}

// testAuditsKept: the database itself refuses to delete an accepted audit,
// to change what it holds or to mark it unpublished.
func testAuditsKept(t *testing.T, h Harness) {
	ctx := context.Background()
	s, log := open(t, h), logID("audits-kept")
	a, b := audit("k", 1), audit("k", 2)
	for _, x := range []store.Audit{a, b} {
		if err := s.AddAudit(ctx, log, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MarkAuditsPublished(ctx, log, [][32]byte{a.Code}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DELETE FROM ballotbox_audits",
		"UPDATE ballotbox_audits SET entry = ballot",
		"UPDATE ballotbox_audits SET ballot = entry",
		"UPDATE ballotbox_audits SET code = entry_hash",
		"UPDATE ballotbox_audits SET published = (1 = 0)",
	} {
		if err := h.Exec(s, q); err == nil {
			t.Errorf("database accepted %q", q)
		}
	}
	wantPending(t, s, log, b)
	if got, err := s.AuditByCode(ctx, log, a.Code); err != nil || !got.Published || !bytes.Equal(got.Entry, a.Entry) {
		t.Fatalf("published audit altered: %+v %v", got, err)
	}
	// Publishing is the one change allowed.
	if err := h.Exec(s, "UPDATE ballotbox_audits SET published = (1 = 1)"); err != nil {
		t.Fatalf("publishing refused: %v", err)
	}
	wantPending(t, s, log)
}

// testAuditFlushRace: two flushers sharing the store (two ballot boxes)
// read the same pending audits and append them as batches in different
// orders. One append wins; the other is refused whole, at the same start
// (ErrConflict) or, retried at the new end, because its entries are stored
// (ErrDuplicate): no audit is ever published twice.
func testAuditFlushRace(t *testing.T, h Harness) {
	ctx := context.Background()
	s, log := open(t, h), logID("audit-flush")
	mustAppend(t, s, log, 0, recs(0, 2, "flush"))
	for i := range 4 {
		if err := s.AddAudit(ctx, log, audit("f", i)); err != nil {
			t.Fatal(err)
		}
	}
	pending, err := s.Audits(ctx, log, true)
	if err != nil || len(pending) != 4 {
		t.Fatalf("pending: %d, %v", len(pending), err)
	}
	batch := func(order ...int) []store.Record {
		var out []store.Record
		for _, i := range order {
			out = append(out, store.Record{Hash: pending[i].EntryHash, Type: 0x0403, Data: pending[i].Entry})
		}
		return out
	}
	orders := [][]int{{0, 1, 2, 3}, {3, 1, 0, 2}}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Append(ctx, log, 2, batch(orders[i]...))
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicate):
			// The loser retries at the new end: refused as duplicates.
			if err := s.Append(ctx, log, 6, batch(orders[i]...)); !errors.Is(err, store.ErrDuplicate) {
				t.Errorf("retried flush: got %v, want ErrDuplicate", err)
			}
		default:
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d flushes appended, want 1", won)
	}
	wantSize(t, s, log, 6)
}

// testSnapshots checks PutSnapshot and LatestSnapshot: none at first; one
// beyond the log's size or empty is refused; a snapshot larger than a part
// comes back whole; a new one replaces the old (even at a smaller size,
// so a planted snapshot can always be overwritten); logs are separate; and
// a snapshot survives reopening the store.
func testSnapshots(t *testing.T, h Harness) {
	ctx := context.Background()
	openFn := h.Fresh(t)
	s := openFn()
	log, other := logID("snapshots"), logID("snapshots-other")
	if _, err := s.LatestSnapshot(ctx, log); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("no snapshot: %v, want ErrNotFound", err)
	}
	mustAppend(t, s, log, 0, recs(0, 5, "snap"))
	for _, bad := range []store.Snapshot{{Size: 6, Data: []byte("x")}, {Size: 3}} {
		if err := s.PutSnapshot(ctx, log, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("snapshot at %d of %d bytes: %v, want ErrInvalid", bad.Size, len(bad.Data), err)
		}
	}
	big := make([]byte, 2*store.SnapshotPart+12345)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	if err := s.PutSnapshot(ctx, log, store.Snapshot{Size: 5, Data: big}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestSnapshot(ctx, log)
	if err != nil || got.Size != 5 || !bytes.Equal(got.Data, big) {
		t.Fatalf("multi-part snapshot: size %d, %d bytes, equal %v, %v", got.Size, len(got.Data), bytes.Equal(got.Data, big), err)
	}
	if _, err := s.LatestSnapshot(ctx, other); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another log's snapshot: %v, want ErrNotFound", err)
	}
	if err := s.PutSnapshot(ctx, log, store.Snapshot{Size: 2, Data: []byte("small")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openFn()
	defer s.Close()
	got, err = s.LatestSnapshot(ctx, log)
	if err != nil || got.Size != 2 || string(got.Data) != "small" {
		t.Fatalf("replaced snapshot after reopen: size %d, %q, %v", got.Size, got.Data[:min(len(got.Data), 16)], err)
	}
}
