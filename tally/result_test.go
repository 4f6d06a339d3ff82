package tally

import (
	"bytes"
	"testing"
)

func TestResultEncoding(t *testing.T) {
	r := &Result{ElectionID: "kg-2027", Contests: []ContestResult{
		{ContestID: "council-a", Ballots: 5, Counts: []uint64{1, 2, 0, 2}},
		{ContestID: "council-b", Ballots: 2, Withheld: true},
	}}
	d, err := DecodeResult(r.Encode())
	if err != nil || !d.Equal(r) {
		t.Fatalf("round trip: %v", err)
	}
	o := *d
	o.Contests = append([]ContestResult{}, d.Contests...)
	o.Contests[0].Counts = []uint64{1, 2, 0, 3}
	if o.Equal(r) {
		t.Error("results differing by one vote compare equal")
	}
	bad := r.Encode()
	if _, err := DecodeResult(append(bytes.Clone(bad), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
	w := &Result{ElectionID: "x", Contests: []ContestResult{{ContestID: "c", Withheld: true, Counts: []uint64{1}}}}
	if _, err := DecodeResult(w.Encode()); err == nil {
		t.Error("withheld contest with counts accepted")
	}
}

func TestCountChoices(t *testing.T) {
	c, err := CountChoices([]uint64{0, 3, 3, 1}, 3)
	if err != nil || c[0] != 1 || c[1] != 1 || c[2] != 0 || c[3] != 2 {
		t.Fatalf("counts %v, %v", c, err)
	}
	if _, err := CountChoices([]uint64{4}, 3); err == nil {
		t.Error("value above k counted")
	}
}

func FuzzDecodeResult(f *testing.F) {
	f.Add((&Result{ElectionID: "e", Contests: []ContestResult{{ContestID: "c", Ballots: 1, Counts: []uint64{1, 0}}}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err == nil && !bytes.Equal(r.Encode(), b) {
			t.Fatal("accepted result re-encodes differently")
		}
	})
}
