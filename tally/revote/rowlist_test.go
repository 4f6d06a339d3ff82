package revote

import (
	"bytes"
	"errors"
	mrand "math/rand/v2"
	"testing"

	"evote/crypto/elgamal"
	"evote/internal/testrand"
)

// TestRowList: rows held encoded, appended in parts of any size, give the
// lists Lists gives from the decoded rows, and each row's flag; a row of
// another width and a missing depth are refused.
func TestRowList(t *testing.T) {
	rnd := testrand.New("row list")
	e := newTestElection(t, rnd, 3)
	s, err := newScenario(mrand.New(mrand.NewPCG(5, 5)), 40, 12, 5, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.rows(t, s, rnd)
	var l RowList
	for lo, size := 0, 1; lo < len(rows); lo, size = lo+size, size+3 {
		if err := l.Append(rows[lo:min(lo+size, len(rows))]...); err != nil {
			t.Fatal(err)
		}
	}
	if l.Len() != len(rows) {
		t.Fatalf("%d rows of %d", l.Len(), len(rows))
	}
	if _, _, err := l.Lists(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("lists without depths: %v", err)
	}
	for i := range rows {
		l.SetDepth(i, rows[i].Depth)
	}
	x, y, err := l.Lists()
	if err != nil {
		t.Fatal(err)
	}
	wx, wy, err := Lists(rows)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x.Bytes(), wx.Bytes()) || !bytes.Equal(y.Bytes(), wy.Bytes()) {
		t.Fatal("the lists of the encoded rows differ from Lists'")
	}
	for i := range rows {
		f, err := l.Flag(i)
		if err != nil || !f.Equal(rows[i].Flag) {
			t.Fatalf("flag of row %d: %v", i, err)
		}
	}
	wide := rows[0]
	wide.Ballot = append([]*elgamal.Ciphertext{wide.Flag}, wide.Ballot...)
	if err := l.Append(wide); !errors.Is(err, ErrMalformed) || l.Len() != len(rows) {
		t.Fatalf("a row of width 2 after rows of 1: %v, %d rows", err, l.Len())
	}
	if (*RowList)(nil).Len() != 0 {
		t.Fatal("a nil list has rows")
	}
}
