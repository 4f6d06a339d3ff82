package idpstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

func ps(b byte) (p [32]byte) { p[0] = b; return p }

func addVoters(t *testing.T, s *Store, seq uint64, ops []ChangeOp) ChangeResult {
	t.Helper()
	res, _, err := s.ApplyChange(context.Background(), "e1", seq, 1, "lo-1", 100, ops, 0x0202, func(ChangeResult) ([]byte, error) { return []byte("entry"), nil })
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestVoterList(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		res := addVoters(t, s, 1, []ChangeOp{{Op: 1, Pseudonym: ps(1), BallotStyle: "A"}, {Op: 1, Pseudonym: ps(2), BallotStyle: "A"}, {Op: 1, Pseudonym: ps(3), BallotStyle: "B"}})
		if res.Added != 3 || res.Counts["A"] != 2 || res.Counts["B"] != 1 {
			t.Fatalf("result %+v", res)
		}
		// Wrong sequence, duplicate add, removing an absent voter: each fails whole.
		entry := func(ChangeResult) ([]byte, error) { return []byte("x"), nil }
		if _, _, err := s.ApplyChange(ctx, "e1", 1, 3, "lo", 1, []ChangeOp{{Op: 1, Pseudonym: ps(9), BallotStyle: "A"}}, 0x0202, entry); !errors.Is(err, ErrSequence) {
			t.Errorf("replayed sequence: %v", err)
		}
		if _, _, err := s.ApplyChange(ctx, "e1", 2, 3, "lo", 1, []ChangeOp{{Op: 1, Pseudonym: ps(9), BallotStyle: "A"}, {Op: 1, Pseudonym: ps(1), BallotStyle: "A"}}, 0x0202, entry); !errors.Is(err, ErrAlreadyOnList) {
			t.Errorf("duplicate add: %v", err)
		}
		if _, err := s.Voter(ctx, "e1", ps(9)); !errors.Is(err, ErrNotFound) {
			t.Errorf("failed change left voter 9 behind: %v", err)
		}
		if _, _, err := s.ApplyChange(ctx, "e1", 2, 4, "lo", 1, []ChangeOp{{Op: 2, Pseudonym: ps(8)}}, 0x0202, entry); !errors.Is(err, ErrNotOnList) {
			t.Errorf("remove absent: %v", err)
		}
		res = addVoters(t, s, 2, []ChangeOp{{Op: 2, Pseudonym: ps(2)}})
		if res.Removed != 1 || res.Counts["A"] != 1 {
			t.Errorf("after removal %+v", res)
		}
		res = addVoters(t, s, 3, []ChangeOp{{Op: 3, Pseudonym: ps(1), Phone: "+77011234567"}})
		v, err := s.Voter(ctx, "e1", ps(1))
		if err != nil || v.Phone != "+77011234567" || res.Updated != 1 {
			t.Errorf("phone update: %+v %v", v, err)
		}
		if err := s.SetNotifyPhone(ctx, "e1", ps(1), "+996700000001"); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.Voter(ctx, "e1", ps(1)); v.NotifyPhone != "+996700000001" {
			t.Errorf("notify phone %q", v.NotifyPhone)
		}
		if n, _ := s.LastSequence(ctx, "e1"); n != 3 {
			t.Errorf("last sequence %d", n)
		}
		// Re-adding a removed voter works.
		addVoters(t, s, 4, []ChangeOp{{Op: 1, Pseudonym: ps(2), BallotStyle: "B"}})
		if v, _ := s.Voter(ctx, "e1", ps(2)); v.Removed || v.BallotStyle != "B" {
			t.Errorf("re-added voter %+v", v)
		}
		pend, err := s.Pending(ctx, 100)
		if err != nil || len(pend) != 4 {
			t.Fatalf("outbox has %d entries, want 4 (one per applied change): %v", len(pend), err)
		}
		if err := s.MarkPosted(ctx, 200, Posted{ID: pend[0].ID, Index: 7}); err != nil {
			t.Fatal(err)
		}
		if pend, _ := s.Pending(ctx, 100); len(pend) != 3 {
			t.Errorf("after posting one: %d pending", len(pend))
		}
	})
}

func TestCredentialsAndMarks(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		addVoters(t, s, 1, []ChangeOp{{Op: 1, Pseudonym: ps(1), BallotStyle: "A"}, {Op: 1, Pseudonym: ps(2), BallotStyle: "A"}})
		c := &Credential{ElectionID: "e1", Pseudonym: ps(1), BallotStyle: "A", KeyID: "k", IssuedAt: 10, ExpiresAt: 20, NotifyPhone: "+996700000009", NotifyLang: "uz"}
		c.TokenID[0], c.DeviceKey[0] = 1, 1
		if v, _ := s.Voter(ctx, "e1", ps(1)); v.NotifyLang != "" {
			t.Errorf("notify language before any sign-in: %q", v.NotifyLang)
		}
		if _, err := s.IssueCredential(ctx, c, 0x0203, []byte("cred")); err != nil {
			t.Fatal(err)
		}
		// The notices' number and language are the sign-in's (an
		// in-person mark's notice has no sign-in of its own).
		if v, _ := s.Voter(ctx, "e1", ps(1)); v.NotifyPhone != "+996700000009" || v.NotifyLang != "uz" {
			t.Errorf("notify phone and language after a credential: %q %q", v.NotifyPhone, v.NotifyLang)
		}
		c2 := *c
		c2.TokenID[0], c2.Pseudonym = 2, ps(2)
		if _, err := s.IssueCredential(ctx, &c2, 0x0203, []byte("cred")); !errors.Is(err, ErrDeviceKeyBound) {
			t.Errorf("bound device key for another voter: %v", err)
		}
		c3 := *c
		c3.TokenID[0], c3.DeviceKey[0], c3.Pseudonym = 3, 3, ps(7)
		if _, err := s.IssueCredential(ctx, &c3, 0x0203, []byte("cred")); !errors.Is(err, ErrNotOnList) {
			t.Errorf("voter not on list: %v", err)
		}
		if cs, err := s.Credentials(ctx, "e1", ps(1)); err != nil || len(cs) != 1 || cs[0].DeviceKey != c.DeviceKey {
			t.Errorf("credentials %v %v", cs, err)
		}
		m := &Mark{ElectionID: "e1", Pseudonym: ps(2), StationID: "st", OfficialID: "po", MarkedAt: 30}
		if _, err := s.MarkInPerson(ctx, m, 0x0204, []byte("mark")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkInPerson(ctx, m, 0x0204, []byte("mark")); !errors.Is(err, ErrAlreadyMarked) {
			t.Errorf("double mark: %v", err)
		}
		c4 := *c
		c4.TokenID[0], c4.DeviceKey[0], c4.Pseudonym = 4, 4, ps(2)
		if _, err := s.IssueCredential(ctx, &c4, 0x0203, []byte("cred")); !errors.Is(err, ErrVotedInPerson) {
			t.Errorf("credential after in-person vote: %v", err)
		}
		marks, err := s.Marks(ctx, "e1")
		if err != nil || len(marks) != 1 || marks[0].Pseudonym != ps(2) {
			t.Errorf("marks %v %v", marks, err)
		}
		// A voter who holds a credential is not removed: the list's count
		// of a style never falls below the voters credentialed in it (spec
		// §8.8.4), and the board would refuse the change.
		entry := func(ChangeResult) ([]byte, error) { return []byte("x"), nil }
		if _, _, err := s.ApplyChange(ctx, "e1", 2, 4, "lo", 1, []ChangeOp{{Op: 2, Pseudonym: ps(1)}}, 0x0202, entry); !errors.Is(err, ErrHasCredential) {
			t.Errorf("removing a credentialed voter: %v", err)
		}
		if v, _ := s.Voter(ctx, "e1", ps(1)); v.Removed {
			t.Error("the refused removal removed the voter")
		}
	})
}

// TestRemovalRacesCredential: a removal and a credential racing for the
// same voter never both win, on both databases (the board would refuse a
// list counting fewer voters of a style than hold credentials).
func TestRemovalRacesCredential(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var ops []ChangeOp
		for i := byte(1); i <= 8; i++ {
			ops = append(ops, ChangeOp{Op: 1, Pseudonym: ps(i), BallotStyle: "A"})
		}
		addVoters(t, s, 1, ops)
		entry := func(ChangeResult) ([]byte, error) { return []byte("x"), nil }
		for i := byte(1); i <= 8; i++ {
			done := make(chan error, 2)
			go func() {
				c := &Credential{ElectionID: "e1", Pseudonym: ps(i), BallotStyle: "A", KeyID: "k", IssuedAt: 1, ExpiresAt: 2}
				c.TokenID[0], c.DeviceKey[0] = i, i
				_, err := s.IssueCredential(ctx, c, 0x0203, []byte("c"))
				done <- err
			}()
			go func() {
				_, _, err := s.ApplyChange(ctx, "e1", uint64(i)+1, 4, "lo", 1, []ChangeOp{{Op: 2, Pseudonym: ps(i)}}, 0x0202, entry)
				done <- err
			}()
			e1, e2 := <-done, <-done
			if e1 == nil && e2 == nil {
				t.Fatalf("voter %d both removed and credentialed", i)
			}
			v, _ := s.Voter(ctx, "e1", ps(i))
			cs, _ := s.Credentials(ctx, "e1", ps(i))
			if v.Removed && len(cs) > 0 {
				t.Fatalf("voter %d removed with %d credentials", i, len(cs))
			}
			if !v.Removed {
				// The credential won: the next sequence is still free.
				if _, _, err := s.ApplyChange(ctx, "e1", uint64(i)+1, 5, "lo", 1, []ChangeOp{{Op: 3, Pseudonym: ps(i)}}, 0x0202, entry); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// TestBudgets: a budget of 3 units, one more every 10 s, taken at
// chosen times, alone and with another; then 40 concurrent takes of two
// budgets on a fresh subject take exactly their sizes, on both databases.
func TestBudgets(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		b := Budget{Kind: "answers", Size: 3, Interval: 10}
		c := Budget{Kind: "codes", Size: 1, Interval: 100}
		take := func(at int64, want ...int64) {
			t.Helper()
			bs := []Budget{b, c}[:len(want)]
			got, err := s.Take(ctx, "subj", at, bs...)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("take at %d: waits %v, %v; want %v", at, got, err, want)
			}
		}
		take(100, 0)
		take(100, 0)
		take(100, 0)
		take(100, 10)
		take(104, 6)
		take(110, 0)
		take(111, 9)
		if err := s.GiveBack(ctx, "subj", b); err != nil {
			t.Fatal(err)
		}
		take(111, 0, 0)  // both taken
		take(112, 8, 99) // neither
		take(120, 0, 91) // the answer only: each budget on its own
		if got, _ := s.Take(ctx, "other", 120, b); got[0] != 0 {
			t.Error("subjects share a budget")
		}
		// Refilled by time alone: after 3 intervals idle, 3 units.
		for i := 0; i < 3; i++ {
			take(160, 0)
		}
		take(160, 10)
		for _, bad := range [][]Budget{{{Kind: "x"}}, {b, b}, {{Size: 1, Interval: 1}}} {
			if _, err := s.Take(ctx, "subj", 1, bad...); err == nil {
				t.Errorf("budgets %v accepted", bad)
			}
		}
		// Purge: the budgets full at 175 ("other"'s) go; "subj"'s stay.
		if n, err := s.PurgeBudgets(ctx, 175); err != nil || n != 1 {
			t.Errorf("purged %d budgets: %v", n, err)
		}
		take(160, 10)

		var wg sync.WaitGroup
		var answers, codes atomic.Int32
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := s.Take(ctx, "race", 1000, Budget{Kind: "answers", Size: 5, Interval: 900}, Budget{Kind: "codes", Size: 3, Interval: 900})
				if err != nil {
					t.Error(err)
					return
				}
				if w[0] == 0 {
					answers.Add(1)
				}
				if w[1] == 0 {
					codes.Add(1)
				}
			}()
		}
		wg.Wait()
		if answers.Load() != 5 || codes.Load() != 3 {
			t.Errorf("40 concurrent takes took %d of 5 answers and %d of 3 codes", answers.Load(), codes.Load())
		}
	})
}

func TestAccessLogKeys(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i := int64(0); i < 5; i++ {
			if err := s.LogAccess(ctx, AccessEvent{At: 100 + i, Client: "10.0.0.1", Subject: "s", Event: "start", Outcome: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := s.PurgeAccessLog(ctx, 103); n != 3 {
			t.Errorf("purged %d", n)
		}
		if ev, _ := s.AccessLog(ctx, 0, 10); len(ev) != 2 || ev[0].At != 103 {
			t.Errorf("remaining %v", ev)
		}

		s.AddKey(ctx, Key{KeyID: "idp-b", PublicKey: []byte{1}, ValidFrom: 10})
		s.AddKey(ctx, Key{KeyID: "idp-a", PublicKey: []byte{2}, ValidFrom: 20})
		s.AddKey(ctx, Key{KeyID: "idp-a", PublicKey: []byte{2}, ValidFrom: 30}) // restart: no-op
		ks, err := s.Keys(ctx)
		if err != nil || len(ks) != 2 || ks[0].KeyID != "idp-a" || ks[0].RetiredAt != 0 || ks[1].RetiredAt != 20 {
			t.Errorf("keys %+v %v", ks, err)
		}
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		if err := s.migrate(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTOTPEnrolment(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.TOTP(ctx, "e1", ps(1)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("absent: %v", err)
		}
		if err := s.PutTOTP(ctx, "e1", ps(1), []byte("sealed-1"), 10); err != nil {
			t.Fatal(err)
		}
		e, err := s.TOTP(ctx, "e1", ps(1))
		if err != nil || e.Active || string(e.Sealed) != "sealed-1" {
			t.Fatalf("pending: %+v %v", e, err)
		}
		if ok, err := s.UseTOTPStep(ctx, "e1", ps(1), 100); !ok || err != nil {
			t.Fatalf("first use: %v %v", ok, err)
		}
		if ok, _ := s.UseTOTPStep(ctx, "e1", ps(1), 100); ok {
			t.Error("replayed step accepted")
		}
		if ok, _ := s.UseTOTPStep(ctx, "e1", ps(1), 99); ok {
			t.Error("older step accepted")
		}
		if e, _ := s.TOTP(ctx, "e1", ps(1)); !e.Active || e.LastStep != 100 {
			t.Errorf("after use: %+v", e)
		}
		// Re-enrolment resets.
		s.PutTOTP(ctx, "e1", ps(1), []byte("sealed-2"), 20)
		if e, _ := s.TOTP(ctx, "e1", ps(1)); e.Active || e.LastStep != 0 || string(e.Sealed) != "sealed-2" {
			t.Errorf("re-enrolled: %+v", e)
		}
	})
}

// TestConcurrentConflicts: racing transactions on the same device key or
// the same list sequence number leave exactly one winner, on both
// databases.
func TestConcurrentConflicts(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		var ops []ChangeOp
		for i := byte(1); i <= 8; i++ {
			ops = append(ops, ChangeOp{Op: 1, Pseudonym: ps(i), BallotStyle: "A"})
		}
		addVoters(t, s, 1, ops)
		errs := make(chan error, 8)
		for i := byte(1); i <= 8; i++ {
			go func() {
				c := &Credential{ElectionID: "e1", Pseudonym: ps(i), BallotStyle: "A", KeyID: "k", IssuedAt: 1, ExpiresAt: 2}
				c.TokenID[0], c.DeviceKey[0] = i, 0xdd
				_, err := s.IssueCredential(ctx, c, 0x0203, []byte("c"))
				errs <- err
			}()
		}
		wins := 0
		for range 8 {
			err := <-errs
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrDeviceKeyBound):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Errorf("%d credentials bound the same device key", wins)
		}
		entry := func(ChangeResult) ([]byte, error) { return []byte("x"), nil }
		for i := byte(0); i < 6; i++ {
			go func() {
				_, _, err := s.ApplyChange(ctx, "e1", 2, 3, "lo", 1, []ChangeOp{{Op: 1, Pseudonym: ps(100 + i), BallotStyle: "B"}}, 0x0202, entry)
				errs <- err
			}()
		}
		wins = 0
		for range 6 {
			err := <-errs
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, ErrSequence):
				t.Errorf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Errorf("%d changes took sequence 2", wins)
		}
	})
}

func TestPollingKeys(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		k := func(role uint8, id string, b byte) PollingKey {
			return PollingKey{Role: role, ID: id, PublicKey: [32]byte{b}}
		}
		if _, err := s.RegisterPolling(ctx, "e1", []PollingKey{k(RoleStation, "st", 1), k(RoleOfficial, "po", 2)}, 10, 0x0205, []byte("reg")); err != nil {
			t.Fatal(err)
		}
		if got, err := s.PollingKeyOf(ctx, "e1", RoleStation, "st"); err != nil || got != [32]byte{1} {
			t.Errorf("station key %x %v", got, err)
		}
		if _, err := s.PollingKeyOf(ctx, "e1", RoleOfficial, "st"); !errors.Is(err, ErrNotFound) {
			t.Errorf("station id as an official: %v", err)
		}
		// An id again, or a key again, refuses the whole registration.
		for _, keys := range [][]PollingKey{{k(RoleStation, "st2", 3), k(RoleStation, "st", 4)}, {k(RoleOfficial, "po2", 1)}} {
			if _, err := s.RegisterPolling(ctx, "e1", keys, 11, 0x0205, []byte("reg")); !errors.Is(err, ErrRegistered) {
				t.Errorf("registered twice: %v", err)
			}
		}
		if _, err := s.PollingKeyOf(ctx, "e1", RoleStation, "st2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a refused registration left a key: %v", err)
		}
		// Once voting started (a credential or mark exists), no more.
		addVoters(t, s, 1, []ChangeOp{{Op: 1, Pseudonym: ps(1), BallotStyle: "A"}})
		if _, err := s.MarkInPerson(ctx, &Mark{ElectionID: "e1", Pseudonym: ps(1), StationID: "st", OfficialID: "po", MarkedAt: 20}, 0x0204, []byte("mark")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RegisterPolling(ctx, "e1", []PollingKey{k(RoleStation, "st3", 5)}, 30, 0x0205, []byte("reg")); !errors.Is(err, ErrVotingStarted) {
			t.Errorf("registration after a mark: %v", err)
		}
	})
}

// TestLogAccessConcurrent: concurrent events share transactions (more of
// them than one insert takes) and every one is written, in each store.
func TestLogAccessConcurrent(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		const n = 2*accessRows + 17
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.LogAccess(ctx, AccessEvent{At: int64(1000 + i), Client: fmt.Sprintf("c%d", i), Subject: "s", Event: "start", Outcome: "ok"})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.AccessLog(ctx, 0, 10*n)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range got {
			if e.Client != fmt.Sprintf("c%d", e.At-1000) || seen[e.Client] {
				t.Fatalf("event %+v wrong or twice", e)
			}
			seen[e.Client] = true
		}
		if len(seen) != n {
			t.Fatalf("%d events logged, want %d", len(seen), n)
		}
	})
}

// TestConnectionsBounded: a peak of concurrent statements (a sign-in peak
// makes hundreds) holds at most PostgresConns connections to PostgreSQL
// (unbounded, the peak exceeded the server's max_connections and
// sign-ins failed with "too many clients"), kept open between statements.
func TestConnectionsBounded(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		want := PostgresConns
		if s.dialect == SQLite {
			want = 1
		}
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 300)
		for i := range 300 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.DeviceKeyBound(ctx, ps(byte(i)))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		st := s.DB().Stats()
		if st.MaxOpenConnections != want || st.OpenConnections > want {
			t.Errorf("max %d, open %d connections, want at most %d", st.MaxOpenConnections, st.OpenConnections, want)
		}
		if s.dialect == Postgres && st.MaxIdleClosed > 0 {
			t.Errorf("%d connections closed for want of idle slots", st.MaxIdleClosed)
		}
	})
}

// TestMarkPostedMany: a round's marks (more than one statement holds) set
// each entry's own index, and marking an entry that is not in the outbox
// fails and marks nothing.
func TestMarkPostedMany(t *testing.T) {
	defer func(m int) { markRows = m }(markRows)
	markRows = 10
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		n := 2*markRows + 3
		var marks []Posted
		for i := range n {
			id, err := s.Enqueue(ctx, 0x0203, []byte{byte(i)}, 1)
			if err != nil {
				t.Fatal(err)
			}
			marks = append(marks, Posted{ID: id, Index: uint64(5000 + 3*i)})
		}
		if err := s.MarkPosted(ctx, 99, Posted{ID: marks[0].ID, Index: 1}, Posted{ID: 1 << 40, Index: 2}); err == nil {
			t.Fatal("an unknown outbox entry was marked")
		}
		if p, _ := s.Pending(ctx, 2*n); len(p) != n {
			t.Fatalf("a failed mark left %d of %d pending", len(p), n)
		}
		if err := s.MarkPosted(ctx, 99, marks...); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Pending(ctx, 2*n); len(p) != 0 {
			t.Fatalf("%d still pending", len(p))
		}
		for _, m := range []Posted{marks[0], marks[markRows], marks[n-1]} {
			var idx, at int64
			if err := s.DB().QueryRowContext(ctx, `SELECT board_index, posted_at FROM idp_outbox WHERE id = $1`, m.ID).Scan(&idx, &at); err != nil {
				t.Fatal(err)
			}
			if idx != int64(m.Index) || at != 99 {
				t.Errorf("entry %d: index %d at %d, want %d at 99", m.ID, idx, at, m.Index)
			}
		}
	})
}

// TestPaddingAndRoll: padding credentials for a listed voter of the
// style, at most max in all, also under concurrent requests; none for
// another style or an unlisted voter; the listed voters for the roll
// (spec §15.16.2, §15.7).
func TestPaddingAndRoll(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		addVoters(t, s, 1, []ChangeOp{{Op: 1, Pseudonym: ps(1), BallotStyle: "A"}, {Op: 1, Pseudonym: ps(2), BallotStyle: "B"}})
		key := func(b byte, i int) [32]byte { k := ps(b); k[1] = byte(i); return k }
		if err := s.IssuePadding(ctx, "e1", ps(1), "B", [][32]byte{key(9, 0)}, 3, 1); !errors.Is(err, ErrNotOnList) {
			t.Errorf("another style: %v", err)
		}
		if err := s.IssuePadding(ctx, "e1", ps(7), "A", [][32]byte{key(9, 1)}, 3, 1); !errors.Is(err, ErrNotOnList) {
			t.Errorf("unlisted voter: %v", err)
		}
		var wg sync.WaitGroup
		var ok atomic.Int32
		var issued atomic.Int32
		issued.Store(-1)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.IssuePadding(ctx, "e1", ps(1), "A", [][32]byte{key(1, i)}, 3, 1)
				if err == nil {
					ok.Add(1)
					issued.Store(int32(i))
				} else if !errors.Is(err, ErrPaddingExhausted) {
					t.Errorf("concurrent padding: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 3 {
			t.Errorf("%d padding credentials issued with a limit of 3", ok.Load())
		}
		if err := s.IssuePadding(ctx, "e1", ps(2), "B", [][32]byte{key(1, int(issued.Load()))}, 3, 1); err == nil {
			t.Error("a device key bound twice")
		}
		vs, err := s.ListedVoters(ctx, "e1")
		if err != nil || len(vs) != 2 {
			t.Fatalf("listed %+v, %v", vs, err)
		}
	})
}
