package board

import (
	"context"
	"errors"
	"testing"

	"evote/bulletin"
)

// TestBaseFrozenIndices: a log opened from a Base answers lookups by entry
// hash and by IndexKey (whole and by prefix) from its frozen tables for
// the Base's entries and from its maps for the entries after them; a
// later entry repeating a hash or a shown prefix of the Base is refused;
// SnapshotBase gives back the same hashes; a Base whose entry hashes
// repeat is refused.
func TestBaseFrozenIndices(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/frozen", false)
	st := openSQLite(t)
	key := func(e *bulletin.Entry) ([32]byte, bool) {
		if len(e.Payload) != 32 {
			return [32]byte{}, false
		}
		return [32]byte(e.Payload), true
	}
	l, err := Open(ctx, Config{Key: k, Store: st, IndexKey: key})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(i int, p [32]byte) *bulletin.Entry {
		s := seededEd25519("voter")
		pl := p[:]
		if i%3 == 0 {
			pl = append(pl, 'x') // no IndexKey
		}
		e, err := bulletin.NewEntry(l.ID(), bulletin.TypeBallot, s.Public(), s, pl)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	const n = 300
	var es []*bulletin.Entry
	for i := range n {
		es = append(es, mk(i, [32]byte{byte(i), byte(i >> 8), 7}))
	}
	if _, err := l.Append(ctx, es...); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	base, err := l.SnapshotBase(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if p := es[i].Payload; len(p) == 32 {
			base.Keys = append(base.Keys, KeyAt{Key: [32]byte(p), Index: uint64(i)})
		}
	}
	l.Close()

	bad := &Base{Hashes: append([][32]byte(nil), base.Hashes...), Leaves: append([][32]byte(nil), base.Leaves...), Keys: base.Keys, Checkpoint: base.Checkpoint}
	bad.Hashes[200] = bad.Hashes[17]
	bad.Prepare() // as a caller may, before Open
	if _, err := Open(ctx, Config{Key: k, Store: st, IndexKey: key, Base: bad}); !errors.Is(err, ErrBaseRefused) {
		t.Fatalf("a Base repeating an entry hash: %v, want ErrBaseRefused", err)
	}
	l2, err := Open(ctx, Config{Key: k, Store: st, IndexKey: key, Base: base})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	more := []*bulletin.Entry{mk(1000, [32]byte{1, 2, 3}), mk(1001, [32]byte{4, 5, 6})}
	if _, err := l2.Append(ctx, more...); err != nil {
		t.Fatal(err)
	}
	all := append(es, more...)
	for i, e := range all {
		h := e.Hash()
		if j, ok := l2.IndexOf(h); !ok || j != uint64(i) {
			t.Fatalf("IndexOf(entry %d) = %d %v", i, j, ok)
		}
		if k, ok := key(e); ok {
			if j, ok := l2.LookupKey(k); !ok || j != uint64(i) {
				t.Fatalf("LookupKey(entry %d) = %d %v", i, j, ok)
			}
			full, j, ok := l2.LookupKeyPrefix([KeyPrefix]byte(k[:]))
			if !ok || j != uint64(i) || full != k {
				t.Fatalf("LookupKeyPrefix(entry %d) = %x %d %v", i, full, j, ok)
			}
			twin := k
			twin[31] ^= 1
			if _, ok := l2.LookupKey(twin); ok {
				t.Fatalf("LookupKey found a key sharing only entry %d's prefix", i)
			}
		}
	}
	if _, ok := l2.IndexOf([32]byte{9}); ok {
		t.Error("IndexOf found an absent hash")
	}
	if _, err := l2.Append(ctx, es[5]); !errors.Is(err, bulletin.ErrDuplicate) {
		t.Errorf("an entry of the Base again: %v, want bulletin.ErrDuplicate", err)
	}
	twin := [32]byte{2, 0, 7} // entry 2's shown prefix, another key
	twin[31] = 1
	if _, err := l2.Append(ctx, mk(1, twin)); !errors.Is(err, bulletin.ErrDuplicate) {
		t.Errorf("a Base entry's shown prefix again: %v, want bulletin.ErrDuplicate", err)
	}
	if _, err := l2.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	b2, err := l2.SnapshotBase(ctx, n+2)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		if b2.Hashes[i] != e.Hash() {
			t.Fatalf("SnapshotBase hash %d differs", i)
		}
	}
}
