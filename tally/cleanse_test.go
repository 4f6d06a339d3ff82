package tally

import (
	"bytes"
	"slices"
	"testing"
)

func TestCleanse(t *testing.T) {
	a, b, c := [32]byte{1}, [32]byte{2}, [32]byte{3}
	ballots := []CastBallot{
		{Position: 10, Pseudonym: a},
		{Position: 12, Pseudonym: b},
		{Position: 15, Pseudonym: a}, // re-vote: replaces 10
		{Position: 17, Pseudonym: c},
		{Position: 20, Pseudonym: c}, // c voted in person: both cancelled
	}
	got, err := Cleanse(ballots, map[[32]byte]bool{c: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Counted, []uint64{12, 15}) || !slices.Equal(got.Cancelled, []uint64{17, 20}) {
		t.Fatalf("cleansing = %+v", got)
	}
	d, err := DecodeCleansing(got.Encode())
	if err != nil || !d.Equal(got) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := Cleanse(append(ballots, CastBallot{Position: 10, Pseudonym: b}), nil); err == nil {
		t.Error("repeated position accepted")
	}
	// In any order, the same cleansing; the caller's slice is not reordered.
	shuffled := []CastBallot{ballots[4], ballots[2], ballots[0], ballots[3], ballots[1]}
	kept := slices.Clone(shuffled)
	if got2, err := Cleanse(shuffled, map[[32]byte]bool{c: true}); err != nil || !got2.Equal(got) {
		t.Fatalf("unordered ballots: %+v, %v", got2, err)
	}
	if !slices.Equal(shuffled, kept) {
		t.Error("Cleanse reordered its input")
	}
	if _, err := Cleanse([]CastBallot{ballots[2], ballots[0], {Position: 15, Pseudonym: b}}, nil); err == nil {
		t.Error("repeated position accepted in unordered ballots")
	}
}

func TestDecodeCleansingStrict(t *testing.T) {
	good := (&Cleansing{Counted: []uint64{1, 5}, Cancelled: []uint64{3}}).Encode()
	bad := map[string][]byte{
		"trailing":      append(bytes.Clone(good), 0),
		"truncated":     good[:len(good)-1],
		"unsorted":      (&Cleansing{Counted: []uint64{5, 1}}).Encode(),
		"duplicate":     (&Cleansing{Counted: []uint64{5, 5}}).Encode(),
		"overlap":       (&Cleansing{Counted: []uint64{3}, Cancelled: []uint64{3}}).Encode(),
		"overlap later": (&Cleansing{Counted: []uint64{1, 4, 9}, Cancelled: []uint64{2, 9}}).Encode(),
		"wrong format":  append([]byte{2}, good[1:]...),
	}
	for name, b := range bad {
		if _, err := DecodeCleansing(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzDecodeCleansing(f *testing.F) {
	f.Add((&Cleansing{Counted: []uint64{1, 5}, Cancelled: []uint64{3}}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCleansing(b)
		if err == nil && !bytes.Equal(c.Encode(), b) {
			t.Fatal("accepted cleansing re-encodes differently")
		}
	})
}
