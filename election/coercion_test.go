package election_test

import (
	"errors"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
)

// TestCoercionManifest: the rules run an election with deniable re-voting
// (§15.1) under chapter 15's rules, except one with a multi-select contest,
// whose flag decryption (§15.5 step 6) is not integrated yet: that
// manifest is refused rather than run under the wrong rules.
func TestCoercionManifest(t *testing.T) {
	e, err := sim.Setup(sim.Config{ElectionID: "coercion-refused", Trustees: 2, Threshold: 1, Rand: testrand.New("coercion"), Now: 1798800000})
	if err != nil {
		t.Fatal(err)
	}
	m := *e.State.Manifest
	apply := func(m *ballot.Manifest) error {
		return election.NewState().Apply(&bulletin.Entry{Type: bulletin.TypeManifest, Payload: m.Encode()})
	}
	if err := apply(&m); err != nil {
		t.Fatalf("plain manifest: %v", err)
	}
	m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 16, MaxBallots: 4}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	err = apply(&m)
	if !errors.Is(err, election.ErrRefused) || !strings.Contains(err.Error(), "multi-select contests in coercion mode deniable-revoting") {
		t.Fatalf("coercion manifest with a multi-select contest: %v", err)
	}
	var single []ballot.Contest
	for _, c := range m.Contests {
		if c.Kind == ballot.SingleChoice {
			single = append(single, c)
		}
	}
	m.Contests = append([]ballot.Contest{}, single...)
	m.BallotStyles = append([]ballot.BallotStyle{}, m.BallotStyles...)
	for i := range m.BallotStyles {
		m.BallotStyles[i].Contests = m.BallotStyles[i].Contests[:1]
	}
	if err := apply(&m); err != nil {
		t.Fatalf("coercion manifest with single-choice contests: %v", err)
	}
}
