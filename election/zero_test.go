package election_test

import (
	"testing"

	"evote/bulletin"
	"evote/election"
	"evote/verify"
)

// TestZeroStateReplaysARecord (issue 20, defect 1): the zero State is an
// empty board, as its doc says: replaying the spec's example record into
// &election.State{} gives what NewState gives.
func TestZeroStateReplaysARecord(t *testing.T) {
	rec, err := verify.Load("../spec/vectors/record-example")
	if err != nil {
		t.Fatal(err)
	}
	zero, fresh := &election.State{}, election.NewState()
	for i, raw := range rec.Entries {
		e, err := bulletin.DecodeEntry(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := zero.Apply(e); err != nil {
			t.Fatalf("zero State, entry %d: %v", i, err)
		}
		if err := fresh.Apply(e); err != nil {
			t.Fatalf("NewState, entry %d: %v", i, err)
		}
	}
	if zero.Phase != fresh.Phase || zero.Size != fresh.Size || len(zero.Ballots) != len(fresh.Ballots) || zero.Result == nil {
		t.Fatalf("zero State ends in phase %s with %d ballots, NewState in %s with %d", zero.Phase, len(zero.Ballots), fresh.Phase, len(fresh.Ballots))
	}
}
