package ballot

import (
	"testing"

	"evote/crypto/zkp"
)

// Regression test of the 2026-11 review of the zero-knowledge proofs
// (spec/review-2026-11.md, finding F2).

// TestRefusedBallotLeavesBatchUntouched: a ballot refused by AddToBatch
// must add nothing to the batch. Before the fix, a ballot whose first
// contest's proof was well formed (but false) and whose second contest's
// proof was malformed left the first contest's weighted equations in the
// shared batch: the batch then failed for every honest ballot verified
// with it, and the box, the verifier and the trustees' replay re-checked
// each of them alone (one cheap bad ballot costing a whole batch of
// single verifications) and the batch error named a refused ballot.
func TestRefusedBallotLeavesBatchUntouched(t *testing.T) {
	e, _ := testElection(t)
	sel := Selection{"council-kara-suu": {2}, "priorities": {0, 3}}
	honest, err := e.Encrypt("style-kara-suu", credA, sel, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.Encrypt("style-kara-suu", credB, sel, nil)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := DecodeBallot(honest.Ballot.Encode())
	if err != nil {
		t.Fatal(err)
	}
	// Contest 0: credB's proof, well formed but bound to another voter.
	bad.Contests[0].Proof = other.Ballot.Contests[0].Proof
	// Contest 1: a proof one byte short.
	bad.Contests[1].Proof = bad.Contests[1].Proof[:len(bad.Contests[1].Proof)-1]

	batch := zkp.NewBatch()
	if err := e.AddToBatch(batch, bad, "bad"); err == nil {
		t.Fatal("malformed ballot accepted into the batch")
	}
	good, err := e.Encrypt("style-kara-suu", credA, sel, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.AddToBatch(batch, good.Ballot, "good"); err != nil {
		t.Fatal(err)
	}
	if err := batch.Verify(); err != nil {
		t.Errorf("batch holding one honest ballot fails after a refused one: %v", err)
	}
	if batch.Len() != 6 { // the honest ballot's range proof, and its sum proof's 4 items and total
		t.Errorf("batch has %d items, want the honest ballot's 6", batch.Len())
	}
}
