package election

import (
	"crypto/sha256"
	"encoding/binary"
	"reflect"
	"testing"
)

// TestIndex32: a frozen index answers as the map it replaces: a repeated
// key is merged into its value or refuses the fill where it occurs; set
// changes a frozen key's value in place and puts other keys in the map
// beside it; thaw moves everything to the map; each visits every key
// once; the zero value is an empty index.
func TestIndex32(t *testing.T) {
	k := func(i int) [32]byte { return sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))) }
	const n = 500
	keys := make([][32]byte, n)
	for i := range keys {
		keys[i] = k(i % 400) // keys 0…99 twice
	}
	want := map[[32]byte][]uint64{}
	for i, key := range keys {
		want[key] = append(want[key], uint64(i))
	}
	x, stop := fillIndex32(n, func(i int) *[32]byte { return &keys[i] }, func(i int) []uint64 { return []uint64{uint64(i)} },
		func(i int, v *[]uint64) bool { *v = append(*v, uint64(i)); return true })
	if stop != -1 || len(x.keys) != 400 {
		t.Fatalf("fill: stop %d, %d keys", stop, len(x.keys))
	}
	got := map[[32]byte][]uint64{}
	x.each(func(key [32]byte, v []uint64) {
		if _, dup := got[key]; dup {
			t.Errorf("key %x visited twice", key[:4])
		}
		got[key] = v
	})
	if !reflect.DeepEqual(got, want) {
		t.Error("each does not give what was filled")
	}
	for key, v := range want {
		if g, ok := x.get(key); !ok || !reflect.DeepEqual(g, v) {
			t.Fatalf("get %x: %v %v, want %v", key[:4], g, ok, v)
		}
	}
	if _, ok := x.get(k(1000)); ok {
		t.Error("an absent key found")
	}
	x.set(keys[7], []uint64{42})
	x.set(k(1000), []uint64{43})
	if v, _ := x.get(keys[7]); len(x.later) != 1 || v[0] != 42 {
		t.Errorf("set: a frozen key's value %v, %d keys in the map, want 42 and 1", v, len(x.later))
	}
	x.thaw()
	if len(x.slots) != 0 || len(x.later) != 401 {
		t.Errorf("thaw: %d slots, %d keys in the map", len(x.slots), len(x.later))
	}
	if v, ok := x.get(k(1000)); !ok || v[0] != 43 {
		t.Error("a key set later lost by thaw")
	}
	// A repeat refused ends the fill where it occurs.
	_, stop = fillIndex32(n, func(i int) *[32]byte { return &keys[i] }, func(i int) int { return i }, func(int, *int) bool { return false })
	if stop != 400 {
		t.Errorf("a refused repeat stopped the fill at %d, want 400", stop)
	}
	var zero index32[[32]byte, int]
	if _, ok := zero.get(k(1)); ok {
		t.Error("the zero index holds a key")
	}
	zero.set(k(1), 5)
	if v, ok := zero.get(k(1)); !ok || v != 5 {
		t.Error("the zero index does not take a key")
	}
}
