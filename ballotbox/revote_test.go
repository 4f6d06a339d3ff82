package ballotbox_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/election"
	"evote/internal/testrand"
	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
)

// clock is a settable clock for the slot timer.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// votingStart is the sample manifest's voting start.
var votingStart = time.Unix(1798761600, 0)

// revoteFixture sets up an election in deniable re-voting mode (M = 3:
// two online ballots and the in-person vote) on st, the clock just before
// voting starts.
func revoteFixture(t *testing.T, st store.Store, clk *clock) *boxtest.Fixture {
	t.Helper()
	clk.set(votingStart.Add(-time.Hour))
	return newFixture(t, boxtest.Options{Store: st, Now: clk.now, Listed: 16,
		Coercion: ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 9, MaxBallots: 3}})
}

func revoteStores(t *testing.T) map[string]func(t *testing.T) store.Store {
	return map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st := openSQLite(t, t.TempDir())
			t.Cleanup(func() { st.Close() })
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			st, err := postgres.Open(context.Background(), pgtest.Schema(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
	}
}

// TestRevoteCastsAndSlots: in deniable re-voting mode the box accepts
// rows into its durable queue, refuses an online ballot beyond M − 1
// (revote_limit), loses no accepted row when it is closed and reopened
// before the slot, posts each style's slot of exactly B_st rows (casts
// and dummies) at the slot's end, and gives the receipt once the slot is
// on the board; a fresh election.State accepts every entry of the board
// (spec §15.16.3–§15.16.6).
func TestRevoteCastsAndSlots(t *testing.T) {
	for name, open := range revoteStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{}
			st := open(t)
			f := revoteFixture(t, st, clk)
			clk.set(votingStart.Add(time.Second))
			var style string
			var bst int
			f.Box.WithState(func(s *election.State) { style = s.Manifest.BallotStyles[0].ID; bst = s.SlotRows(style) })

			// Voter A casts, then re-votes from another sign-in; a third
			// online ballot is refused. Voter B casts once.
			var pa, pb [32]byte
			pa[0], pb[0] = 0xa, 0xb
			var hashes [][32]byte
			var firstToken string
			var firstRow []byte
			cast := func(p [32]byte, i int) (*ballotbox.RowAnswer, error) {
				v, err := f.SignInRevote(p, style)
				if err != nil {
					t.Fatal(err)
				}
				row, err := f.Row(v, f.Selection(i, style))
				if err != nil {
					t.Fatal(err)
				}
				a, err := f.Box.CastRow(ctx, v.Token, row)
				if err == nil {
					if a.RowHash != sha256.Sum256(row) || a.Published {
						t.Fatalf("answer %+v", a)
					}
					hashes = append(hashes, a.RowHash)
					if firstRow == nil {
						firstToken, firstRow = v.Token, row
					}
				}
				return a, err
			}
			// A row whose device signature is forged, and a row cast with
			// another voter's token, are refused before anything is stored.
			{
				v, _ := f.SignInRevote(pa, style)
				w, _ := f.SignInRevote(pb, style)
				row, err := f.Row(v, f.Selection(0, style))
				if err != nil {
					t.Fatal(err)
				}
				bad := append([]byte(nil), row...)
				bad[len(bad)-1] ^= 1
				if _, err := f.Box.CastRow(ctx, v.Token, bad); !errors.Is(err, ballotbox.ErrBallotInvalid) {
					t.Fatalf("forged device signature: %v", err)
				}
				if _, err := f.Box.CastRow(ctx, w.Token, row); !errors.Is(err, ballotbox.ErrWrongDeviceKey) {
					t.Fatalf("another voter's token: %v", err)
				}
			}
			for i, p := range [][32]byte{pa, pa, pb} {
				if _, err := cast(p, i); err != nil {
					t.Fatalf("cast %d: %v", i, err)
				}
			}
			if _, err := cast(pa, 7); !errors.Is(err, ballotbox.ErrRevoteLimit) || ballotbox.Code(err) != "revote_limit" {
				t.Fatalf("a third online ballot with M = 3: %v", err)
			}
			for _, h := range hashes {
				if a, err := f.Box.RowStatus(ctx, h); err != nil || a.Published {
					t.Fatalf("before the slot: %+v, %v", a, err)
				}
			}

			// Close and reopen the box between the accept and the slot.
			if err := f.Registry.Close(); err != nil {
				t.Fatal(err)
			}
			reg, box, err := f.Instance(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			f.Box = box
			if _, err := cast(pa, 8); !errors.Is(err, ballotbox.ErrRevoteLimit) {
				t.Fatalf("the limit after reopening: %v", err)
			}

			// Slots until every accepted row is on the board.
			for slot := 1; ; slot++ {
				clk.set(votingStart.Add(time.Duration(slot) * time.Minute))
				if err := box.PostDueSlots(ctx); err != nil {
					t.Fatal(err)
				}
				done := 0
				for _, h := range hashes {
					a, err := box.RowStatus(ctx, h)
					if err != nil {
						t.Fatal(err)
					}
					if a.Published {
						if !a.Witnessed || a.Style != style || a.Position >= bst || len(a.Checkpoint) == 0 {
							t.Fatalf("receipt %+v", a)
						}
						done++
					}
				}
				if done == len(hashes) {
					if want := (len(hashes) + bst - 1) / bst; slot != want {
						t.Errorf("published after %d slots, want %d (B_st = %d)", slot, want, bst)
					}
					break
				}
				if slot > 10 {
					t.Fatal("rows never published")
				}
			}
			// A retry of a published row gets its receipt.
			if a, err := box.CastRow(ctx, firstToken, firstRow); err != nil || !a.Replayed || !a.Published || a.RowHash != hashes[0] {
				t.Errorf("retry of a published row: %+v, %v", a, err)
			}
			var slots int
			box.WithState(func(s *election.State) {
				for _, rs := range s.RevoteStyles() {
					if rs.Rows.Len() != int(rs.Slots)*rs.SlotRows {
						t.Errorf("style %s: %d rows in %d slots of %d", rs.Style, rs.Rows.Len(), rs.Slots, rs.SlotRows)
					}
					slots += int(rs.Slots)
				}
			})
			if slots == 0 {
				t.Fatal("no slot posted")
			}
			// The close: one more slot per style, the padding, the depths
			// and the marks; the identity service's roll.
			if _, err := box.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
				t.Fatal(err)
			}
			if err := box.PostDueSlots(ctx); err != nil {
				t.Fatal(err)
			}
			box.WithState(func(s *election.State) {
				for _, rs := range s.RevoteStyles() {
					if !rs.Padded || !rs.HasDepths || !rs.HasMarks || rs.Rows.Len()%3 != 0 {
						t.Errorf("style %s after the close: %+v", rs.Style, rs)
					}
				}
			})
			if err := f.PostRoll(ctx, map[[32]byte]string{pa: style, pb: style}); err != nil {
				t.Fatal(err)
			}
			t.Logf("board of %d entries, %d slots of B_st = %d rows in the first style", box.Log().Size(), slots, bst)
			replayBoard(t, box)
		})
	}
}

// replayBoard applies every entry of the box's board to a fresh
// election.State, as a verifier does.
func replayBoard(t *testing.T, box *ballotbox.Box) {
	t.Helper()
	ctx := context.Background()
	s := election.NewState()
	size := box.Log().Size()
	for i := uint64(0); i < size; {
		recs, err := box.Log().Entries(ctx, i, min(size, i+256))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			e, err := bulletin.DecodeEntry(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(e); err != nil {
				t.Fatalf("entry %d (%s) refused by the rules: %v", r.Index, e.Type, err)
			}
		}
		i += uint64(len(recs))
	}
}

// TestRevoteTwoInstances: two ballot-box instances on one PostgreSQL
// database accept casts into the shared ledger and both run the slot
// timer: each slot is posted once, with the casts of both (spec
// §15.16.6).
func TestRevoteTwoInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	stA, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stA.Close() })
	clk := &clock{}
	f := revoteFixture(t, stA, clk)
	stB, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stB.Close() })
	regB, boxB, err := f.Instance(ctx, stB)
	if err != nil {
		t.Fatal(err)
	}
	defer regB.Close()
	clk.set(votingStart.Add(time.Second))
	var style string
	f.Box.WithState(func(s *election.State) { style = s.Manifest.BallotStyles[0].ID })
	var hashes [][32]byte
	for i, box := range []*ballotbox.Box{f.Box, boxB, boxB, f.Box} {
		var p [32]byte
		p[0] = byte(i + 1)
		v, err := f.SignInRevote(p, style)
		if err != nil {
			t.Fatal(err)
		}
		row, err := f.Row(v, f.Selection(i, style))
		if err != nil {
			t.Fatal(err)
		}
		a, err := box.CastRow(ctx, v.Token, row)
		if err != nil {
			t.Fatalf("cast %d: %v", i, err)
		}
		hashes = append(hashes, a.RowHash)
	}
	for slot := 1; slot <= 3; slot++ {
		clk.set(votingStart.Add(time.Duration(slot) * time.Minute))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, box := range []*ballotbox.Box{f.Box, boxB} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = box.PostDueSlots(ctx)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("slot %d, instance %d: %v", slot, i, err)
			}
		}
	}
	if err := boxB.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, box := range []*ballotbox.Box{f.Box, boxB} {
		for _, h := range hashes {
			if a, err := box.RowStatus(ctx, h); err != nil || !a.Published {
				t.Fatalf("row %x: %+v, %v", h[:4], a, err)
			}
		}
		box.WithState(func(s *election.State) {
			for _, rs := range s.RevoteStyles() {
				if rs.Slots != 3 {
					t.Errorf("style %s: %d slots after three slot ends", rs.Style, rs.Slots)
				}
			}
		})
	}
}

// failOnce is a SQLite store whose next append fails when armed: a crash
// between a slot's plan and its append, as the box sees it.
type failOnce struct {
	*sqlite.Store
	armed atomic.Bool
}

func (s *failOnce) Append(ctx context.Context, log store.LogID, first uint64, recs []store.Record) error {
	if s.armed.CompareAndSwap(true, false) {
		return errors.New("disk on fire")
	}
	return s.Store.Append(ctx, log, first, recs)
}

// TestRevoteSlotAppendFails: a slot whose append fails after its plan is
// stored is planned and posted again (the stale plan replaced); after a
// reopen the rows' receipts and the close's depths follow the board
// (spec §15.16.5).
func TestRevoteSlotAppendFails(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sq, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	st := &failOnce{Store: sq}
	t.Cleanup(func() { sq.Close() })
	clk := &clock{}
	f := revoteFixture(t, st, clk)
	clk.set(votingStart.Add(time.Second))
	var style string
	f.Box.WithState(func(s *election.State) { style = s.Manifest.BallotStyles[0].ID })
	var hashes [][32]byte
	for i := range 2 {
		var p [32]byte
		p[0] = byte(i + 1)
		v, err := f.SignInRevote(p, style)
		if err != nil {
			t.Fatal(err)
		}
		row, err := f.Row(v, f.Selection(i, style))
		if err != nil {
			t.Fatal(err)
		}
		a, err := f.Box.CastRow(ctx, v.Token, row)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, a.RowHash)
	}
	clk.set(votingStart.Add(time.Minute))
	st.armed.Store(true)
	// This call or the box's slot timer meets the failure; the next
	// attempt plans the slot again and posts it.
	err = f.Box.PostDueSlots(ctx)
	if err != nil {
		err = f.Box.PostDueSlots(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.armed.Load() {
		t.Fatal("no append failed")
	}
	if err := f.Registry.Close(); err != nil {
		t.Fatal(err)
	}
	reg, box, err := f.Instance(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	f.Box = box
	for _, h := range hashes {
		if a, err := box.RowStatus(ctx, h); err != nil || !a.Published || a.Slot != 0 {
			t.Fatalf("row after the failed append and a reopen: %+v, %v", a, err)
		}
	}
	if _, err := box.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	if err := box.PostDueSlots(ctx); err != nil {
		t.Fatal(err)
	}
	box.WithState(func(s *election.State) {
		for _, rs := range s.RevoteStyles() {
			if !rs.HasDepths || !rs.HasMarks {
				t.Errorf("style %s: the close did not finish", rs.Style)
			}
		}
	})
	replayBoard(t, box)
}

// TestRevoteCopiedCiphertext: a voter's second device casts a row whose
// ballot and flag ciphertexts are those of the voter's first row, still
// queued (its own ballot copied under a second credential: the proofs are
// made afresh for the second device key). Before, the box queued both, the
// rules refused the slot holding them (a ciphertext repeats one of another
// row), and the box planned that slot again and again: one voter stopped
// the publication of the style's rows. Now the copy is refused when cast,
// and the slot is posted.
func TestRevoteCopiedCiphertext(t *testing.T) {
	for name, open := range revoteStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{}
			f := revoteFixture(t, open(t), clk)
			clk.set(votingStart.Add(time.Second))
			var style string
			f.Box.WithState(func(s *election.State) { style = s.Manifest.BallotStyles[0].ID })
			var p [32]byte
			p[0] = 0xc
			v1, err := f.SignInRevote(p, style)
			if err != nil {
				t.Fatal(err)
			}
			v2, err := f.SignInRevote(p, style)
			if err != nil {
				t.Fatal(err)
			}
			r1, err := f.RowWith(v1, f.Selection(1, style), testrand.New("copied"))
			if err != nil {
				t.Fatal(err)
			}
			r2, err := f.RowWith(v2, f.Selection(1, style), testrand.New("copied"))
			if err != nil {
				t.Fatal(err)
			}
			a1, err := f.Box.CastRow(ctx, v1.Token, r1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Box.CastRow(ctx, v2.Token, r2); !errors.Is(err, ballotbox.ErrDuplicateCipher) {
				t.Fatalf("the copied row: %v", err)
			}
			clk.set(votingStart.Add(time.Minute))
			if err := f.Box.PostDueSlots(ctx); err != nil {
				t.Fatal(err)
			}
			if a, err := f.Box.RowStatus(ctx, a1.RowHash); err != nil || !a.Published {
				t.Fatalf("the first row after its slot: %+v, %v", a, err)
			}
			// Once on the board, the copy is refused by the board's check.
			if _, err := f.Box.CastRow(ctx, v2.Token, r2); !errors.Is(err, ballotbox.ErrBallotInvalid) && !errors.Is(err, ballotbox.ErrDuplicateCipher) {
				t.Fatalf("the copy after the slot: %v", err)
			}
		})
	}
}

// TestRevoteAudit: in deniable re-voting mode a voter's device audits a
// prepared row (spec §15.9): the audit opens the ballot and the row's flag
// (f = 1), waits in the pool like any audit, and is published before the
// close; the audited row can never be cast, a fresh one of the same
// credential can. An audit whose flag opens to 0 (a device that would not
// count its voter's ballot), one without the flag, or one of another
// row's flag is refused. The board replays through the rules.
func TestRevoteAudit(t *testing.T) {
	for name, open := range revoteStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{}
			f := revoteFixture(t, open(t), clk)
			clk.set(votingStart.Add(time.Second))
			var style string
			f.Box.WithState(func(s *election.State) { style = s.Manifest.BallotStyles[0].ID })
			var p [32]byte
			p[0] = 0xd
			v, err := f.SignInRevote(p, style)
			if err != nil {
				t.Fatal(err)
			}
			prep := func(flag uint64) *boxtest.PreparedRow {
				r, err := f.PrepareRow(v, f.Selection(2, style), flag, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			// A device that flags its voter's ballot 0, caught by the audit.
			zero := prep(0)
			if _, err := f.Box.Audit(ctx, v.Token, zero.Audit().Encode(), zero.Raw); !errors.Is(err, ballotbox.ErrAuditInvalid) {
				t.Fatalf("an audit whose flag opens to 0: %v", err)
			}
			pr := prep(1)
			if _, err := f.Box.Audit(ctx, v.Token, pr.Ballot.Audit().Encode(), pr.Raw); !errors.Is(err, ballotbox.ErrAuditInvalid) {
				t.Fatalf("an audit without the flag: %v", err)
			}
			other := prep(1)
			if _, err := f.Box.Audit(ctx, v.Token, pr.Ballot.Audit().WithFlag(other.Flag, other.FlagRand).Encode(), pr.Raw); !errors.Is(err, ballotbox.ErrAuditInvalid) {
				t.Fatalf("an audit of another row's flag: %v", err)
			}
			rc, err := f.Box.Audit(ctx, v.Token, pr.Audit().Encode(), pr.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if rc.Published {
				t.Fatalf("an audit published at once: %+v", rc)
			}
			if _, err := f.Box.CastRow(ctx, v.Token, pr.Raw); !errors.Is(err, ballotbox.ErrDuplicateCipher) {
				t.Fatalf("casting the audited row: %v", err)
			}
			fresh := prep(1)
			a, err := f.Box.CastRow(ctx, v.Token, fresh.Raw)
			if err != nil {
				t.Fatalf("a fresh row of the same credential: %v", err)
			}
			clk.set(votingStart.Add(time.Minute))
			if err := f.Box.PostDueSlots(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Box.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
				t.Fatal(err)
			}
			if err := f.Box.PostDueSlots(ctx); err != nil {
				t.Fatal(err)
			}
			if st, err := f.Box.RowStatus(ctx, a.RowHash); err != nil || !st.Published {
				t.Fatalf("the fresh row: %+v, %v", st, err)
			}
			f.Box.WithState(func(s *election.State) {
				if len(s.Audited) != 1 {
					t.Errorf("%d audits on the board, want 1", len(s.Audited))
				}
			})
			replayBoard(t, f.Box)
		})
	}
}
