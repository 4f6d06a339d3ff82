package sim

import (
	"testing"

	"evote/bulletin"
	"evote/election"
	"evote/internal/testrand"
)

func revoteConfig(seed string) Config {
	return Config{ElectionID: "kg-2027-revote", Trustees: 3, Threshold: 2, Voters: 12, RevoteEvery: 3, InPersonEvery: 5,
		SlotRows: 8, MaxBallots: 4, Rand: testrand.New(seed), Now: 1798800000}
}

// TestRevoteElection runs a whole election in deniable re-voting mode
// (spec chapter 15): slots with dummies, re-votes, in-person marks, the
// close's padding, depths and marks, the filter and roll call of each
// ballot style, and the tally of the kept rows. The result is what the
// voters meant (the last ballot counts, the mark wins), and the record
// replays through the rules from scratch.
func TestRevoteElection(t *testing.T) {
	e, err := RunRevote(revoteConfig("revote-election"), RevoteHooks{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.State.Result.Equal(e.Expected()) {
		t.Fatalf("result %+v, the voters meant %+v", e.State.Result, e.Expected())
	}
	s := election.NewState()
	for i, entry := range e.Entries {
		d, err := bulletin.DecodeEntry(entry.Encode())
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if err := d.Verify(); err != nil {
			t.Fatalf("entry %d signature: %v", i, err)
		}
		if err := s.Apply(d); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if s.Phase != election.PhaseTallied || len(s.Culprits) != 0 {
		t.Fatalf("phase %s, culprits %v", s.Phase, s.Culprits)
	}
	for _, f := range s.RevoteStyles() {
		t.Logf("style %s: %d slots of %d rows, %d board rows, %d filter rows, %d voters", f.Style, f.Slots, f.SlotRows, f.Board, len(f.Rows), f.Voters)
	}
}
