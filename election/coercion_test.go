package election_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
)

// TestCoercionManifest: the rules run an election with deniable re-voting
// (§15.1) under chapter 15's rules, multi-select contests included (their
// two rounds of decryption, §15.5 step 6); a manifest whose rows (S, C_id,
// C_f, ballot …) would exceed a list's width is refused rather than left
// to fail at the filter (§15.14.2 rule 1).
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
	multi := slices.IndexFunc(m.Contests, func(c ballot.Contest) bool { return c.Kind == ballot.MultiSelect })
	if multi < 0 {
		t.Fatal("the sample manifest has no multi-select contest")
	}
	if err := apply(&m); err != nil {
		t.Fatalf("coercion manifest with a multi-select contest: %v", err)
	}
	m.Contests = slices.Clone(m.Contests)
	c := &m.Contests[multi]
	c.Candidates = slices.Clone(c.Candidates)
	for k := len(c.Candidates); k < 62; k++ {
		id := fmt.Sprintf("option-%d", k)
		c.Candidates = append(c.Candidates, ballot.Candidate{ID: id, Name: ballot.Text{Ky: id, Ru: id, Uz: id, En: id}})
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := apply(&m); !errors.Is(err, election.ErrRefused) || !strings.Contains(err.Error(), "ciphertexts in coercion mode deniable-revoting (at most 64)") {
		t.Fatalf("coercion manifest with rows wider than a list: %v", err)
	}
	m.Coercion = ballot.Coercion{}
	if err := apply(&m); err != nil {
		t.Fatalf("the same contests without coercion resistance: %v", err)
	}
}
