package ballotbox_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/election"
	"evote/store"
)

// reopen opens the fixture's elections again from the store alone, as a
// restart after a crash does (the fixture's registry is not closed), with
// snapshots used or not.
func reopen(t *testing.T, f *boxtest.Fixture, st store.Store, cat ballotbox.Catalog, snapshots bool) *ballotbox.Box {
	t.Helper()
	r, err := ballotbox.OpenRegistry(context.Background(), ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board",
		LogKey: f.Server.LogKey, Authority: f.Server.Authority, Audience: boxtest.Audience, NoSnapshots: !snapshots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	b, err := r.Get(f.ElectionID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameBoard checks that two boxes index every entry of the board alike.
func sameBoard(t *testing.T, a, b *ballotbox.Box) {
	t.Helper()
	recs, err := a.Log().Entries(context.Background(), 0, a.Log().Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ia, oka := a.Log().IndexOf(r.Hash)
		ib, okb := b.Log().IndexOf(r.Hash)
		if !oka || !okb || ia != ib || ia != r.Index {
			t.Fatalf("entry %d indexed at %d/%v and %d/%v", r.Index, ia, oka, ib, okb)
		}
		if r.Type == uint16(bulletin.TypeBallot) {
			e, _ := bulletin.DecodeEntry(r.Data)
			code := [32]byte(ballotCode(e))
			ka, _ := a.Log().LookupKey(code)
			kb, okk := b.Log().LookupKey(code)
			if !okk || ka != kb {
				t.Fatalf("ballot %d: tracking code key %d/%d", r.Index, ka, kb)
			}
		}
	}
}

func ballotCode(e *bulletin.Entry) [32]byte { return ballot.TrackingCodeOf(e.Payload) }

// macWith makes a snapshot MAC with a key that is not the server's.
func macWith(key []byte, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data[:len(data)-32])
	return m.Sum(nil)
}

// castSome casts n ballots of fresh voters, and for every third a second
// ballot from a second device (a re-vote).
func castSome(t *testing.T, f *boxtest.Fixture, n, seed int) []*boxtest.Voter {
	t.Helper()
	ctx := context.Background()
	var vs []*boxtest.Voter
	for i := range n {
		v := voter(t, f, [32]byte{byte(seed), byte(i), 7})
		raw, _ := prepare(t, f, v, seed*100+i)
		if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			v2 := voter(t, f, v.Pseudonym)
			raw2, _ := prepare(t, f, v2, seed*100+i+50)
			if _, err := f.Box.Cast(ctx, v2.Token, raw2); err != nil {
				t.Fatal(err)
			}
		}
		vs = append(vs, v)
	}
	return vs
}

// TestSnapshotReopenEqualsReplay (issue 16, finding 5): on both stores, a
// box reopened from a snapshot with entries after it (not closed first,
// as after a crash) has the same state, indices and board, field by
// field, as one that replays the whole board; so has one reopened from a
// snapshot taken after the close and the cleansing (entries of every kind
// in the snapshot), and from one taken on a clean shutdown.
func TestSnapshotReopenEqualsReplay(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st := sk.open(t, dir)
			t.Cleanup(func() { st.Close() })
			cat := &ballotbox.MemoryCatalog{}
			f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat, AuditEvery: 4, AuditMinBatch: 1})
			vs := castSome(t, f, 6, 1)
			if err := f.MarkInPerson(ctx, vs[1]); err != nil {
				t.Fatal(err)
			}
			a := voter(t, f, [32]byte{9, 9})
			_, pa := prepare(t, f, a, 900)
			if _, err := f.Audit(ctx, a, pa); err != nil {
				t.Fatal(err)
			}
			castSome(t, f, 3, 2) // the audit is published along the way
			n, err := f.Box.Snapshot(ctx)
			if err != nil || n != f.Box.Log().Size() {
				t.Fatalf("snapshot at %d of %d: %v", n, f.Box.Log().Size(), err)
			}
			castSome(t, f, 4, 3) // after the snapshot: replayed
			if err := f.MarkInPerson(ctx, vs[2]); err != nil {
				t.Fatal(err)
			}
			full := reopen(t, f, st, cat, false)
			snap := reopen(t, f, st, cat, true)
			if full.RestoredFrom() != 0 || snap.RestoredFrom() != n {
				t.Fatalf("restored from %d and %d, want 0 and %d", full.RestoredFrom(), snap.RestoredFrom(), n)
			}
			if d := ballotbox.DiffBoxes(full, snap); len(d) != 0 {
				t.Fatalf("reopened from a snapshot, differs from the full replay in %v", d)
			}
			// The running box schedules audits from where it started
			// (Open computes the next check from the size alone).
			if d := slices.DeleteFunc(ballotbox.DiffBoxes(f.Box, snap), func(s string) bool { return s == "nextAuditCheck" }); len(d) != 0 {
				t.Fatalf("reopened from a snapshot, differs from the running box in %v", d)
			}
			sameBoard(t, full, snap)
			// The restored box works: a retry gets its receipt, a new
			// voter casts.
			v := voter(t, f, [32]byte{5, 5})
			raw, _ := prepare(t, f, v, 555)
			if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
				t.Fatal(err)
			}

			// Close and cleanse, snapshot again: every kind of entry.
			if _, err := f.Box.Act(ctx, ballotbox.ActionClose, "o"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Box.Act(ctx, ballotbox.ActionCleanse, "o"); err != nil {
				t.Fatal(err)
			}
			n2, err := f.Box.Snapshot(ctx)
			if err != nil || n2 <= n {
				t.Fatalf("second snapshot at %d: %v", n2, err)
			}
			full = reopen(t, f, st, cat, false)
			snap = reopen(t, f, st, cat, true)
			if snap.RestoredFrom() != n2 {
				t.Fatalf("restored from %d, want %d", snap.RestoredFrom(), n2)
			}
			if d := ballotbox.DiffBoxes(full, snap); len(d) != 0 {
				t.Fatalf("after the cleansing: differs from the full replay in %v", d)
			}
			var cleansed bool
			snap.WithState(func(s *election.State) { cleansed = s.Cleansing != nil && len(s.Cleansing.Counted) > 0 })
			if !cleansed {
				t.Fatal("restored state lacks the cleansing")
			}
		})
	}
}

// TestSnapshotMostlyCredentials: a snapshot whose board is mostly
// credentials (voters signed in, few ballots yet: the morning of an
// election) is used, not refused. The decoder used to bound the count of
// credentials by 124 bytes each, 8 more than their encoding, and refused
// such a snapshot as truncated; the box then replayed the whole board
// (TestBoxCrash saw it).
func TestSnapshotMostlyCredentials(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openSQLite(t, dir)
	t.Cleanup(func() { st.Close() })
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	for i := range 60 {
		voter(t, f, [32]byte{byte(i), 0xc7})
	}
	n, err := f.Box.Snapshot(ctx)
	if err != nil || n != f.Box.Log().Size() {
		t.Fatalf("snapshot at %d of %d: %v", n, f.Box.Log().Size(), err)
	}
	b := reopen(t, f, st, cat, true)
	if b.RestoredFrom() != n {
		t.Fatalf("restored from %d, want the snapshot at %d", b.RestoredFrom(), n)
	}
	if d := ballotbox.DiffBoxes(reopen(t, f, st, cat, false), b); len(d) != 0 {
		t.Fatalf("differs from the full replay in %v", d)
	}
}

// TestSnapshotOnClose: a clean shutdown leaves a snapshot of the final
// state; periodic snapshots follow SnapshotEvery.
func TestSnapshotOnClose(t *testing.T) {
	ctx := context.Background()
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
	sn, err := st.LatestSnapshot(ctx, store.LogID(f.Box.Log().ID()))
	if err != nil || sn.Size != size {
		t.Fatalf("snapshot after a clean shutdown: size %d of %d, %v", sn.Size, size, err)
	}
	b := reopen(t, f, st, cat, true)
	if b.RestoredFrom() != size || b.View().Size != size {
		t.Fatalf("restored from %d, size %d, want %d", b.RestoredFrom(), b.View().Size, size)
	}
}

// TestSnapshotTampered: each way a snapshot can be wrong — altered bytes,
// bound to another checkpoint, a checkpoint that is not in the store, a
// forged or stale MAC, truncated, taken of another election, leaves that
// do not give the signed root, an entry hash that is not the store's
// entry, a repeated ciphertext, device key or tracking code — is refused, and the box falls back to the full replay with the
// right state. The cases with a valid MAC (resealed with the server's own
// key) check what the checks beyond the MAC catch.
func TestSnapshotTampered(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openSQLite(t, dir)
	t.Cleanup(func() { st.Close() })
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	castSome(t, f, 3, 1)
	if _, err := f.Box.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	lid := store.LogID(f.Box.Log().ID())
	old, err := st.LatestSnapshot(ctx, lid)
	if err != nil {
		t.Fatal(err)
	}
	castSome(t, f, 2, 2)
	if _, err := f.Box.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	good, err := st.LatestSnapshot(ctx, lid)
	if err != nil {
		t.Fatal(err)
	}
	castSome(t, f, 1, 3)
	want := reopen(t, f, st, cat, false)

	// A second election on the same server, same keys.
	st2 := openSQLite(t, t.TempDir())
	t.Cleanup(func() { st2.Close() })
	f2 := newFixture(t, boxtest.Options{ElectionID: "other-election", Store: st2})
	castSome(t, f2, 2, 4)
	if _, err := f2.Box.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	otherSnap, err := st2.LatestSnapshot(ctx, store.LogID(f2.Box.Log().ID()))
	if err != nil {
		t.Fatal(err)
	}

	const hdr = len("evote-box-snapshot") + 1 // then log id, size, note hash, manifest hash
	n := int(good.Size)
	strTable := func(d []byte) int { // offset of the entry hashes
		off := hdr + 32 + 8 + 64
		k := int(binary.BigEndian.Uint32(d[off:]))
		off += 4
		for range k {
			off += 2 + int(binary.BigEndian.Uint16(d[off:]))
		}
		return off
	}
	flip := func(d []byte, at int) []byte {
		d = bytes.Clone(d)
		d[at] ^= 1
		return d
	}
	otherKey := make([]byte, 32)
	rand.Read(otherKey)
	cases := []struct {
		name string
		snap store.Snapshot
	}{
		{"altered ballot byte", store.Snapshot{Size: good.Size, Data: flip(good.Data, len(good.Data)-40)}},
		{"altered leaf, MAC resealed", store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, flip(good.Data, strTable(good.Data)+32*n+5))}},
		{"altered entry hash of the manifest, MAC resealed", func() store.Snapshot {
			d := bytes.Clone(good.Data)
			at := strTable(d)
			d[at] ^= 1
			d[hdr+32+8+32] ^= 1 // the manifest hash it names, to match
			return store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, d)}
		}()},
		{"bound to another checkpoint, MAC resealed", store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, flip(good.Data, hdr+32+8+3))}},
		{"size without a checkpoint, MAC resealed", func() store.Snapshot {
			d := bytes.Clone(good.Data)
			binary.BigEndian.PutUint64(d[hdr+32:], good.Size-1)
			return store.Snapshot{Size: good.Size - 1, Data: ballotbox.ResealSnapshot(f.Box, d)}
		}()},
		{"another version (0), MAC resealed", func() store.Snapshot {
			d := bytes.Clone(good.Data)
			d[hdr-1] = 0
			return store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, d)}
		}()},
		{"forged MAC (another key)", store.Snapshot{Size: good.Size, Data: append(bytes.Clone(good.Data[:len(good.Data)-32]), macWith(otherKey, good.Data)...)}},
		{"stale MAC (of the previous snapshot)", store.Snapshot{Size: good.Size, Data: append(bytes.Clone(good.Data[:len(good.Data)-32]), old.Data[len(old.Data)-32:]...)}},
		{"truncated", store.Snapshot{Size: good.Size, Data: good.Data[:len(good.Data)/2]}},
		{"truncated, MAC resealed", store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, append(bytes.Clone(good.Data[:len(good.Data)-100]), make([]byte, 32)...))}},
		{"a ballot's ciphertexts copied into another's, MAC resealed", func() store.Snapshot {
			d := bytes.Clone(good.Data)
			off := strTable(d) + 64*n
			for _, size := range []int{8, 116, 40} { // replayed, credentials, marks
				off += 4 + size*int(binary.BigEndian.Uint32(d[off:]))
			}
			off += 4
			var encs [][]byte // each ballot's ciphertext encoding
			for len(encs) < 2 {
				off += 8 + 2 + 32 + 32
				l := int(binary.BigEndian.Uint32(d[off:]))
				encs = append(encs, d[off+4:off+4+l])
				off += 4 + l
			}
			if len(encs[0]) != len(encs[1]) {
				t.Fatal("ballots of different shapes")
			}
			copy(encs[1], encs[0])
			return store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, d)}
		}()},
		{"a credential's device key copied into another's, MAC resealed", func() store.Snapshot {
			d := bytes.Clone(good.Data)
			off := strTable(d) + 64*n
			off += 4 + 8*int(binary.BigEndian.Uint32(d[off:])) // replayed
			if binary.BigEndian.Uint32(d[off:]) < 2 {
				t.Fatal("fewer than two credentials")
			}
			off += 4
			const key = 8 + 32 // position, pseudonym
			copy(d[off+116+key:off+116+key+32], d[off+key:off+key+32])
			return store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, d)}
		}()},
		{"a ballot's tracking code copied into another's, MAC resealed", func() store.Snapshot {
			d := bytes.Clone(good.Data)
			off := strTable(d) + 64*n
			for _, size := range []int{8, 116, 40} { // replayed, credentials, marks
				off += 4 + size*int(binary.BigEndian.Uint32(d[off:]))
			}
			off += 4
			first := off + 8 + 2
			off += 8 + 2 + 32 + 32
			off += 4 + int(binary.BigEndian.Uint32(d[off:]))
			copy(d[off+8+2:off+8+2+32], d[first:first+32])
			return store.Snapshot{Size: good.Size, Data: ballotbox.ResealSnapshot(f.Box, d)}
		}()},
		{"another election's", otherSnap},
		{"another election's, size adjusted", store.Snapshot{Size: good.Size, Data: otherSnap.Data}},
		{"another election's, MAC resealed", store.Snapshot{Size: otherSnap.Size, Data: ballotbox.ResealSnapshot(f.Box, otherSnap.Data)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.PutSnapshot(ctx, lid, tc.snap); err != nil {
				t.Fatal(err)
			}
			b := reopen(t, f, st, cat, true)
			if b.RestoredFrom() != 0 {
				t.Fatalf("tampered snapshot used (restored from %d)", b.RestoredFrom())
			}
			if d := ballotbox.DiffBoxes(want, b); len(d) != 0 {
				t.Fatalf("fallback state differs from the full replay in %v", d)
			}
		})
	}
	// The older genuine snapshot is still a correct starting point.
	if err := st.PutSnapshot(ctx, lid, old); err != nil {
		t.Fatal(err)
	}
	b := reopen(t, f, st, cat, true)
	if b.RestoredFrom() != old.Size {
		t.Fatalf("older genuine snapshot: restored from %d, want %d", b.RestoredFrom(), old.Size)
	}
	if d := ballotbox.DiffBoxes(want, b); len(d) != 0 {
		t.Fatalf("from the older snapshot, differs in %v", d)
	}
}

// partsStore hands out the stored snapshot in parts of the given size
// (store.SnapshotStreamer), failing after failAfter parts if it is set.
type partsStore struct {
	store.Store
	size, failAfter int
}

func (p partsStore) StreamSnapshot(ctx context.Context, log store.LogID, begin func(uint64, int64) error, part func([]byte) error) error {
	sn, err := p.Store.LatestSnapshot(ctx, log)
	if err != nil {
		return err
	}
	if err := begin(sn.Size, int64(len(sn.Data))); err != nil {
		return err
	}
	for i, d := 0, sn.Data; len(d) > 0; i++ {
		if p.failAfter > 0 && i == p.failAfter {
			return errors.New("connection reset")
		}
		n := min(p.size, len(d))
		if err := part(bytes.Clone(d[:n])); err != nil {
			return err
		}
		d = d[n:]
	}
	return nil
}

// noStream hides the store's StreamSnapshot: the box reads the snapshot
// whole.
type noStream struct{ store.Store }

// TestSnapshotStreamed: the box reads, authenticates and parses the
// snapshot part by part as the store hands it out, whatever the parts'
// sizes (items and hashes split across parts), or whole from a store that
// cannot stream; a read that fails midway refuses the snapshot (the box
// replays the whole board).
func TestSnapshotStreamed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openSQLite(t, dir)
	t.Cleanup(func() { st.Close() })
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	castSome(t, f, 5, 1)
	n, err := f.Box.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lid := store.LogID(f.Box.Log().ID())
	sn, err := st.LatestSnapshot(ctx, lid)
	if err != nil {
		t.Fatal(err)
	}
	castSome(t, f, 2, 2)
	full := reopen(t, f, st, cat, false)
	for _, tc := range []struct {
		name string
		st   store.Store
		from uint64
	}{
		{"parts of 1 byte", partsStore{Store: st, size: 1}, n},
		{"parts of 7 bytes", partsStore{Store: st, size: 7}, n},
		{"parts of 4099 bytes", partsStore{Store: st, size: 4099}, n},
		{"whole", noStream{st}, n},
		{"the read fails after 3 parts", partsStore{Store: st, size: 512, failAfter: 3}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.PutSnapshot(ctx, lid, sn); err != nil { // the last reopen's close took one
				t.Fatal(err)
			}
			b := reopen(t, f, tc.st, cat, true)
			if b.RestoredFrom() != tc.from {
				t.Fatalf("restored from %d, want %d", b.RestoredFrom(), tc.from)
			}
			if d := ballotbox.DiffBoxes(full, b); len(d) != 0 {
				t.Fatalf("differs from the full replay in %v", d)
			}
		})
	}
}
