package shuffle

import (
	"bytes"
	"errors"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
)

// TestConcatSub checks Concat, Sub and Join against the same lists built with
// NewRows from the decoded ciphertexts.
func TestConcatSub(t *testing.T) {
	a, b := newFixture(t, 5, 3).in, newFixture(t, 2, 3).in
	cts := func(r *Rows) []*elgamal.Ciphertext {
		c, err := r.Ciphertexts()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	same := func(name string, got *Rows, w int, want []*elgamal.Ciphertext) {
		t.Helper()
		exp, err := NewRows(w, want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), exp.Bytes()) {
			t.Fatalf("%s: rows differ", name)
		}
	}
	ab, err := Concat(a, b)
	if err != nil {
		t.Fatal(err)
	}
	same("concat", ab, 3, append(cts(a), cts(b)...))
	all := cts(ab)
	col, err := ab.Sub(nil, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	var want []*elgamal.Ciphertext
	for i := range 7 {
		want = append(want, all[3*i+1])
	}
	same("column 1", col, 1, want)
	picked, err := ab.Sub([]uint32{6, 0, 3}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	same("rows 6, 0, 3 without column 0", picked, 2, []*elgamal.Ciphertext{all[19], all[20], all[1], all[2], all[10], all[11]})
	c0, err := ab.Sub(nil, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	c12, err := ab.Sub(nil, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	joined, err := Join(c0, c12)
	if err != nil {
		t.Fatal(err)
	}
	same("column 0 joined with columns 1-2", joined, 3, all)
	if _, err := Join(c0, picked); !errors.Is(err, ErrMalformed) {
		t.Fatalf("joining 7 rows and 3: %v", err)
	}
	if _, err := Concat(a, col); !errors.Is(err, ErrMalformed) {
		t.Fatalf("concatenating widths 3 and 1: %v", err)
	}
	for _, c := range [][2]int{{-1, 1}, {0, 4}, {2, 2}} {
		if _, err := ab.Sub(nil, c[0], c[1]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("columns %v: %v", c, err)
		}
	}
	if _, err := ab.Sub([]uint32{7}, 0, 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("row 7 of 7: %v", err)
	}
}

// TestMap checks Map against the same map done on decoded ciphertexts,
// over more than one chunk per core.
func TestMap(t *testing.T) {
	in := newFixture(t, 2*mapChunk+7, 2).in
	s := group.RandomScalar()
	f := func(l int, c *elgamal.Ciphertext) {
		c.A.ScalarMult(s, &c.A)
		c.B.Add(&c.B, new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(uint64(l))))
	}
	got := in.Map(f)
	cts, err := in.Ciphertexts()
	if err != nil {
		t.Fatal(err)
	}
	for l, c := range cts {
		f(l, c)
	}
	want, err := NewRows(2, cts)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatal("Map differs from the map of the decoded list")
	}
}
