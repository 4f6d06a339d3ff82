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

// TestCoercionManifestRefused: the rules are those of spec chapter 9; an
// election with deniable re-voting (§15.1) needs chapter 15's, which are
// not integrated yet (§15.13), so its manifest is refused rather than run
// under the wrong rules. The same manifest without the option is accepted.
func TestCoercionManifestRefused(t *testing.T) {
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
	if !errors.Is(err, election.ErrRefused) || !strings.Contains(err.Error(), "coercion mode deniable-revoting") {
		t.Fatalf("coercion manifest: %v", err)
	}
}
