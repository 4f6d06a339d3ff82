package ballotbox_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/internal/testrand"
	"evote/record"
	"evote/store"
)

// linkAudits is the attacker of issue 12, finding 5: reading only the
// public board in order, it links each audited-ballot entry to the
// pseudonym of the nearest preceding credential or ballot entry. It
// returns the guesses, keyed by the hash of the audit's first ciphertext.
func linkAudits(t *testing.T, entries []*bulletin.Entry) map[[32]byte][32]byte {
	t.Helper()
	byDevice := map[[32]byte][32]byte{}
	var last [32]byte
	guesses := map[[32]byte][32]byte{}
	for _, e := range entries {
		switch e.Type {
		case bulletin.TypeCredentialIssued:
			c, err := record.DecodeCredentialIssued(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			byDevice[c.DeviceKey] = c.Pseudonym
			last = c.Pseudonym
		case bulletin.TypeBallot:
			last = byDevice[e.Author]
		case bulletin.TypeAuditedBallot:
			a, err := ballot.DecodeAuditedBallot(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			guesses[sha256.Sum256(a.Contests[0].Ciphertexts[0].Bytes())] = last
		}
	}
	return guesses
}

func boardEntries(t *testing.T, f *boxtest.Fixture) []*bulletin.Entry {
	t.Helper()
	l := f.Box.Log()
	recs, err := l.Entries(context.Background(), 0, l.Size())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*bulletin.Entry, len(recs))
	for i, r := range recs {
		if out[i], err = bulletin.DecodeEntry(r.Data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// auditKey names an audit by the hash of its first ciphertext.
func auditKey(p *ballot.PreparedBallot) [32]byte {
	return sha256.Sum256(p.Ballot.Contests[0].Ciphertexts[0].Bytes())
}

// waitPublished waits until the box's pool is empty.
func waitPublished(t *testing.T, f *boxtest.Fixture) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.Box.PendingAudits() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d audits still pending", f.Box.PendingAudits())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// auditBatch is what a test sees of audits on the board.
type auditBatch struct {
	positions []uint64   // of the audited-ballot entries, ascending
	keys      [][32]byte // auditKey of each, in board order
}

func auditsOnBoard(t *testing.T, entries []*bulletin.Entry) auditBatch {
	t.Helper()
	var out auditBatch
	for i, e := range entries {
		if e.Type != bulletin.TypeAuditedBallot {
			continue
		}
		a, err := ballot.DecodeAuditedBallot(e.Payload)
		if err != nil {
			t.Fatal(err)
		}
		out.positions = append(out.positions, uint64(i))
		out.keys = append(out.keys, sha256.Sum256(a.Contests[0].Ciphertexts[0].Bytes()))
	}
	return out
}

// TestAuditLinkingAttack reproduces issue 12, finding 5: k voters sign in
// (credential entries, pseudonyms in the clear), each audits a ballot and
// then casts. An attacker reading only the public board links each audit
// to the pseudonym of the nearest preceding credential or ballot entry.
// When the box appended each audit at the next position, this linked 6
// audits of 6. Now the audits are published as one batch after all the
// batch's voters' entries, at consecutive positions, in the order of the
// injected shuffle of their codes (not of their arrival), so the attacker
// links at most one audit of the batch (chance: k guesses at 1/k each).
func TestAuditLinkingAttack(t *testing.T) {
	const k = 6
	f := newFixture(t, boxtest.Options{AuditEvery: 1, AuditMinBatch: k})
	ballotbox.SetAuditRand(f.Box, testrand.New("audit-batch"))
	ctx := context.Background()
	truth := map[[32]byte][32]byte{}
	codes := map[[32]byte]ballot.TrackingCode{}
	var lastVoterEntry uint64
	for i := range k {
		v := voter(t, f, [32]byte{})
		_, p := prepare(t, f, v, 100+i)
		r, err := f.Audit(ctx, v, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Published {
			t.Fatal("an audit was published at once")
		}
		truth[auditKey(p)], codes[auditKey(p)] = v.Pseudonym, p.Ballot.TrackingCode()
		raw, _ := prepare(t, f, v, i)
		rc, err := f.Box.Cast(ctx, v.Token, raw)
		if err != nil {
			t.Fatal(err)
		}
		lastVoterEntry = rc.Index
	}
	waitPublished(t, f)
	entries := boardEntries(t, f)
	guesses := linkAudits(t, entries)
	right := 0
	for ct, p := range truth {
		if g, ok := guesses[ct]; ok && g == p {
			right++
		}
	}
	t.Logf("the attacker linked %d of %d audits to their voter (chance: 1 expected)", right, k)
	if right > 1 {
		t.Fatalf("the attacker linked %d of %d audits to their voter from board positions alone", right, k)
	}
	// One batch, at consecutive positions, after every entry of its voters.
	ab := auditsOnBoard(t, entries)
	if len(ab.positions) != k {
		t.Fatalf("%d audits on the board, want %d", len(ab.positions), k)
	}
	for i, p := range ab.positions {
		if p != ab.positions[0]+uint64(i) || p <= lastVoterEntry {
			t.Fatalf("audit positions %v, last voter entry at %d: not one batch after the voters", ab.positions, lastVoterEntry)
		}
	}
	// The order is the injected shuffle of the code order: it depends on
	// the randomness and the codes (hashes), not on who audited when.
	var want [][32]byte
	for key := range truth {
		want = append(want, key)
	}
	slices.SortFunc(want, func(x, y [32]byte) int { a, b := codes[x], codes[y]; return bytes.Compare(a[:], b[:]) })
	if err := ballotbox.Shuffle(testrand.New("audit-batch"), len(want), func(i, j int) { want[i], want[j] = want[j], want[i] }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ab.keys, want) {
		t.Fatal("the batch is not in the order of the shuffle of its codes")
	}
}

// TestAuditShuffleUniform: the batches' shuffle is uniform, so the
// position of an audit within its batch says nothing about which of the
// batch's voters made it. With a seeded source (deterministic, not
// flaky), each of the 24 orders of 4 audits appears about equally often,
// and an attacker who assumes the published order is the arrival order
// is right for about 1/4 of the audits, which is chance.
func TestAuditShuffleUniform(t *testing.T) {
	const n, trials = 4, 24000
	r := testrand.New("audit-shuffle")
	counts := map[[n]int]int{}
	right := 0
	for range trials {
		perm := [n]int{0, 1, 2, 3}
		if err := ballotbox.Shuffle(r, n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] }); err != nil {
			t.Fatal(err)
		}
		counts[perm]++
		for i, arrival := range perm {
			if i == arrival {
				right++
			}
		}
	}
	if len(counts) != 24 {
		t.Fatalf("%d of 24 orders appear", len(counts))
	}
	for perm, c := range counts {
		if c < 850 || c > 1150 { // expected 1000, standard deviation 31
			t.Errorf("order %v appears %d times in %d, expected about 1000", perm, c, trials)
		}
	}
	rate := float64(right) / (n * trials)
	t.Logf("arrival-order attacker: %.4f of audits linked (chance 0.25)", rate)
	if rate < 0.24 || rate > 0.26 {
		t.Errorf("arrival-order attacker links %.4f of audits, chance is 0.25", rate)
	}
}

// TestAuditPendingThenClose: audits fewer than the minimum batch wait in
// the pool, are served by tracking code at once (pending), block their
// ciphertexts from being cast, and are all published in one batch right
// before the close entry; their lookup then carries the inclusion proof.
func TestAuditPendingThenClose(t *testing.T) {
	f := newFixture(t, boxtest.Options{AuditEvery: 1, AuditMinBatch: 8, Witnesses: 1})
	ctx := context.Background()
	var preps []*ballot.PreparedBallot
	var voters []*boxtest.Voter
	for i := range 3 {
		v := voter(t, f, [32]byte{})
		raw, p := prepare(t, f, v, i)
		r, err := f.Audit(ctx, v, p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Published || r.PublishAfter != f.Box.Log().Size()+1 || r.MinBatch != 8 {
			t.Fatalf("receipt %+v at size %d", r, f.Box.Log().Size())
		}
		// A retry gets the same answer.
		r2, err := f.Audit(ctx, v, p)
		if err != nil || !r2.Replayed || r2.EntryHash != r.EntryHash {
			t.Fatalf("retry: %+v %v", r2, err)
		}
		// The audited ballot cannot be cast while pending.
		_, err = f.Box.Cast(ctx, v.Token, raw)
		wantErr(t, err, ballotbox.ErrDuplicateCipher)
		// Served by its code as shown, marked pending, with what the
		// second device checks: the ballot with that code, and the entry.
		av, err := f.Box.AuditByCode(ctx, p.Ballot.TrackingCode().Shown())
		if err != nil || av.Published || !bytes.Equal(av.Ballot, p.Ballot.Encode()) || av.EntryHash != r.EntryHash {
			t.Fatalf("lookup: %+v %v", av, err)
		}
		e, err := bulletin.DecodeEntry(av.Entry)
		if err != nil || e.Verify() != nil || e.Author != f.Box.AuthorityKey() {
			t.Fatalf("pending entry: %v", err)
		}
		a, err := ballot.DecodeAuditedBallot(e.Payload)
		if err != nil || !a.Opens(p.Ballot) {
			t.Fatalf("pending entry does not open the ballot: %v", err)
		}
		preps, voters = append(preps, p), append(voters, v)
		if _, err := f.Box.Cast(ctx, v.Token, mustPrepare(t, f, v, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(auditsOnBoard(t, boardEntries(t, f)).positions); n != 0 || f.Box.PendingAudits() != 3 {
		t.Fatalf("%d audits on the board, %d pending, before the minimum batch", n, f.Box.PendingAudits())
	}
	_, err := f.Box.AuditByCode(ctx, ballot.ShownCode{1})
	wantErr(t, err, ballotbox.ErrUnknownAudit)
	cl, err := f.Box.Act(ctx, ballotbox.ActionClose, "o")
	if err != nil {
		t.Fatal(err)
	}
	ab := auditsOnBoard(t, boardEntries(t, f))
	if len(ab.positions) != 3 || ab.positions[0] != cl.Index-3 || ab.positions[2] != cl.Index-1 {
		t.Fatalf("audits at %v, close at %d", ab.positions, cl.Index)
	}
	for _, p := range preps {
		av, err := f.Box.AuditByCode(ctx, p.Ballot.TrackingCode().Shown())
		if err != nil || !av.Published {
			t.Fatalf("after close: %+v %v", av, err)
		}
		cp, _, err := bulletin.VerifyCheckpoint(av.Checkpoint, f.Box.Log().Verifier())
		if err != nil {
			t.Fatal(err)
		}
		if err := bulletin.VerifyInclusion(av.Index, cp.Size, bulletin.LeafHash(av.Entry), av.InclusionProof, cp.Root); err != nil {
			t.Fatal(err)
		}
	}
	// After the close, audits are refused.
	_, p := prepare(t, f, voters[0], 50)
	_, err = f.Audit(ctx, voters[0], p)
	wantErr(t, err, ballotbox.ErrNotOpen)
}

func mustPrepare(t *testing.T, f *boxtest.Fixture, v *boxtest.Voter, i int) []byte {
	raw, _ := prepare(t, f, v, i)
	return raw
}

// TestAuditRefusals: the opening must be of the prepared ballot, the
// prepared ballot of the token's device, and its ciphertexts new.
func TestAuditRefusals(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	a, b := voter(t, f, [32]byte{}), voter(t, f, [32]byte{})
	_, pA := prepare(t, f, a, 1)
	_, pA2 := prepare(t, f, a, 2)
	_, err := f.Box.Audit(ctx, a.Token, pA.Audit().Encode(), pA2.Ballot.Encode())
	wantErr(t, err, ballotbox.ErrAuditInvalid)
	_, err = f.Box.Audit(ctx, b.Token, pA.Audit().Encode(), pA.Ballot.Encode())
	wantErr(t, err, ballotbox.ErrWrongDeviceKey)
	_, err = f.Box.Audit(ctx, a.Token, pA.Audit().Encode(), []byte{1, 2})
	wantErr(t, err, ballotbox.ErrAuditInvalid)
	_, err = f.Box.Audit(ctx, "", pA.Audit().Encode(), pA.Ballot.Encode())
	wantErr(t, err, ballotbox.ErrTokenInvalid)
	// A cast ballot cannot be audited afterwards.
	raw, pC := prepare(t, f, a, 3)
	if _, err := f.Box.Cast(ctx, a.Token, raw); err != nil {
		t.Fatal(err)
	}
	_, err = f.Audit(ctx, a, pC)
	wantErr(t, err, ballotbox.ErrDuplicateCipher)
	if f.Box.PendingAudits() != 0 {
		t.Fatalf("%d audits pending after refusals", f.Box.PendingAudits())
	}
}

// TestAuditRestartAndRetriedFlush: the pool is durable. Audits accepted
// before a restart are reloaded (still served, still blocking their
// ciphertexts) and published in a later batch; a flush whose entries
// reached the board but whose marking was lost (a crash in between) is
// only marked at the next start, never published twice; concurrent
// flushes publish each audit once.
func TestAuditRestartAndRetriedFlush(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, dir)
	defer st.Close()
	ctx := context.Background()
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat, AuditEvery: 1 << 20, AuditMinBatch: 100})
	var preps []*ballot.PreparedBallot
	var raws [][]byte
	vs := make([]*boxtest.Voter, 4)
	for i := range vs {
		vs[i] = voter(t, f, [32]byte{})
		raw, p := prepare(t, f, vs[i], i)
		if _, err := f.Audit(ctx, vs[i], p); err != nil {
			t.Fatal(err)
		}
		preps, raws = append(preps, p), append(raws, raw)
	}
	reopen := func() {
		t.Helper()
		f.Registry.Close()
		reg, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board", LogKey: f.Server.LogKey,
			Authority: f.Server.Authority, Audience: boxtest.Audience, AuditEvery: 1 << 20, AuditMinBatch: 100})
		if err != nil {
			t.Fatal(err)
		}
		f.Registry = reg
		if f.Box, err = reg.Get(f.ElectionID); err != nil {
			t.Fatal(err)
		}
	}
	reopen()
	if f.Box.PendingAudits() != 4 {
		t.Fatalf("%d audits pending after a restart, want 4", f.Box.PendingAudits())
	}
	_, err := f.Box.Cast(ctx, vs[0].Token, raws[0])
	wantErr(t, err, ballotbox.ErrDuplicateCipher)
	if av, err := f.Box.AuditByCode(ctx, preps[1].Ballot.TrackingCode().Shown()); err != nil || av.Published {
		t.Fatalf("lookup after restart: %+v %v", av, err)
	}
	// A crash after a flush's append, before its marking: the pending
	// entries are on the board, the pool still lists them.
	pending, err := st.Audits(ctx, store.LogID(f.Box.Log().ID()), true)
	if err != nil || len(pending) != 4 {
		t.Fatalf("pending in the store: %d, %v", len(pending), err)
	}
	f.Registry.Close()
	lk, _ := f.Server.LogKey(f.Box.Log().Origin())
	l, err := board.Open(ctx, board.Config{Key: lk, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendEncoded(ctx, pending[0].Entry, pending[2].Entry); err != nil {
		t.Fatal(err)
	}
	l.Close()
	reopen()
	if f.Box.PendingAudits() != 2 {
		t.Fatalf("%d audits pending after a restart with two on the board, want 2", f.Box.PendingAudits())
	}
	if left, _ := st.Audits(ctx, store.LogID(f.Box.Log().ID()), true); len(left) != 2 {
		t.Fatalf("%d audits pending in the store, want 2", len(left))
	}
	// Two flushers at once, then the close: every audit once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ballotbox.PublishBatch(f.Box); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := f.Box.Act(ctx, ballotbox.ActionClose, "o"); err != nil {
		t.Fatal(err)
	}
	seen := map[[32]byte]int{}
	for _, k := range auditsOnBoard(t, boardEntries(t, f)).keys {
		seen[k]++
	}
	for _, p := range preps {
		if seen[auditKey(p)] != 1 {
			t.Fatalf("audit published %d times", seen[auditKey(p)])
		}
	}
	if left, _ := st.Audits(ctx, store.LogID(f.Box.Log().ID()), true); len(left) != 0 || f.Box.PendingAudits() != 0 {
		t.Fatalf("%d audits still pending in the store, %d in the box", len(left), f.Box.PendingAudits())
	}
}
