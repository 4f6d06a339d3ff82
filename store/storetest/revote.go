package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	"evote/store"
)

func revoteCast(voter byte, i int, mark bool) store.RevoteCast {
	row := fmt.Appendf(nil, "row %d of voter %d", i, voter)
	return store.RevoteCast{RowHash: sha256.Sum256(row), Style: "st-1", Voter: [32]byte{voter}, Mark: mark, Row: row, Extra: fmt.Appendf(nil, "extra %d", i)}
}

// testRevoteLedger: the box's ledger of deniable re-voting (spec
// §15.16.5): casts in acceptance order, durable across a reopen, never
// changed; a duplicate row, a voter's online row beyond the limit and any
// row after a mark refused, also under concurrent casts of one voter;
// plans replaced per slot.
func testRevoteLedger(t *testing.T, h Harness) {
	ctx := context.Background()
	openFn := h.Fresh(t)
	s := openFn()
	l, ok := s.(store.RevoteLedger)
	if !ok {
		t.Fatal("the store does not implement store.RevoteLedger")
	}
	log, other := logID("revote"), logID("revote-other")
	var seqs []uint64
	for i := range 3 {
		seq, err := l.AddRevoteCast(ctx, log, revoteCast(1, i, false), 3)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	if !(seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
		t.Errorf("seqs %v not increasing", seqs)
	}
	if _, err := l.AddRevoteCast(ctx, log, revoteCast(1, 3, false), 3); !errors.Is(err, store.ErrRevoteLimit) {
		t.Errorf("fourth online row with a limit of 3: %v", err)
	}
	if _, err := l.AddRevoteCast(ctx, log, revoteCast(1, 0, false), 5); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("the same row again: %v", err)
	}
	// Another log's casts are apart.
	if _, err := l.AddRevoteCast(ctx, other, revoteCast(1, 0, false), 3); err != nil {
		t.Errorf("the same row in another log: %v", err)
	}
	// The mark fits whatever the count; nothing after it.
	if _, err := l.AddRevoteCast(ctx, log, revoteCast(1, 9, true), 3); err != nil {
		t.Fatalf("mark: %v", err)
	}
	if _, err := l.AddRevoteCast(ctx, log, revoteCast(1, 10, true), 3); !errors.Is(err, store.ErrRevoteMarked) {
		t.Errorf("a second mark: %v", err)
	}
	bad := revoteCast(2, 0, false)
	bad.Row = []byte("changed")
	if _, err := l.AddRevoteCast(ctx, log, bad, 3); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("row hash mismatch: %v", err)
	}
	// Concurrent casts of one voter: exactly the limit pass.
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.AddRevoteCast(ctx, log, revoteCast(3, i, false), 2)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				passed++
			} else if !errors.Is(err, store.ErrRevoteLimit) {
				t.Errorf("concurrent cast: %v", err)
			}
		}()
	}
	wg.Wait()
	if passed != 2 {
		t.Errorf("%d concurrent casts passed a limit of 2", passed)
	}
	for _, p := range []store.RevotePlan{{Style: "st-1", Slot: 0, Plan: []byte("a")}, {Style: "st-1", Slot: 1, Plan: []byte("b")}, {Style: "st-1", Slot: 1, Plan: []byte("c")}, {Style: "st-0", Slot: 4, Plan: []byte("d")}} {
		if err := l.PutRevotePlan(ctx, log, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{"DELETE FROM ballotbox_revote_casts", "UPDATE ballotbox_revote_casts SET row = extra"} {
		if err := h.Exec(s, q); err == nil {
			t.Errorf("database accepted %q", q)
		}
	}
	s.Close()
	s = openFn()
	defer s.Close()
	l = s.(store.RevoteLedger)
	all, err := l.RevoteCasts(ctx, log, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("%d casts after reopening, want 6", len(all))
	}
	for i, c := range all {
		if i > 0 && c.Seq <= all[i-1].Seq {
			t.Errorf("casts not in seq order")
		}
	}
	first := revoteCast(1, 0, false)
	if c := all[0]; c.Seq != seqs[0] || c.RowHash != first.RowHash || !bytes.Equal(c.Row, first.Row) || !bytes.Equal(c.Extra, first.Extra) || c.Voter != first.Voter || c.Style != "st-1" || c.Mark {
		t.Errorf("cast read back %+v", c)
	}
	if !all[3].Mark {
		t.Error("mark read back as a ballot")
	}
	after, err := l.RevoteCasts(ctx, log, seqs[1])
	if err != nil || len(after) != 4 || after[0].Seq != seqs[2] {
		t.Errorf("casts after %d: %d, %v", seqs[1], len(after), err)
	}
	plans, err := l.RevotePlans(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.RevotePlan{{Style: "st-0", Slot: 4, Plan: []byte("d")}, {Style: "st-1", Slot: 0, Plan: []byte("a")}, {Style: "st-1", Slot: 1, Plan: []byte("c")}}
	if len(plans) != len(want) {
		t.Fatalf("plans %+v", plans)
	}
	for i := range want {
		if plans[i].Style != want[i].Style || plans[i].Slot != want[i].Slot || !bytes.Equal(plans[i].Plan, want[i].Plan) {
			t.Errorf("plan %d: %+v, want %+v", i, plans[i], want[i])
		}
		one, err := l.RevotePlan(ctx, log, want[i].Style, want[i].Slot)
		if err != nil || !bytes.Equal(one.Plan, want[i].Plan) {
			t.Errorf("plan of slot %d of %s: %+v, %v", want[i].Slot, want[i].Style, one, err)
		}
	}
	if _, err := l.RevotePlan(ctx, log, "st-1", 7); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a plan never stored: %v", err)
	}
}

// testRevoteCastsFollowed: a reader that follows the ledger as the box
// does (RevoteCasts after the highest Seq it has seen) while many voters
// cast concurrently sees every cast: a cast never appears with a Seq
// below one already returned (on PostgreSQL a sequence hands out Seqs
// before the inserts commit, in any order, which lost the casts of the
// demo's concurrent voters).
func testRevoteCastsFollowed(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Fresh(t)()
	l := s.(store.RevoteLedger)
	log := logID("revote-followed")
	const writers, each = 16, 12
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// Each cast by its own voter: no per-voter lock orders them.
				if _, err := l.AddRevoteCast(ctx, log, revoteCast(byte(w), w*each+i, false), 1<<20); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	seen := map[[32]byte]bool{}
	var last uint64
	follow := func() {
		cs, err := l.RevoteCasts(ctx, log, last)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			seen[c.RowHash] = true
			last = max(last, c.Seq)
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		follow()
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	follow()
	all, err := l.RevoteCasts(ctx, log, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each {
		t.Fatalf("the ledger holds %d casts, want %d", len(all), writers*each)
	}
	missed := 0
	for _, c := range all {
		if !seen[c.RowHash] {
			missed++
		}
	}
	if missed > 0 {
		t.Fatalf("a reader following the ledger by Seq missed %d of %d casts", missed, len(all))
	}
}
