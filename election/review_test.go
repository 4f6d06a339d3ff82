package election_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"evote/bulletin"
	"evote/crypto/threshold"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
)

// Regression tests of the 2026-11 review of the zero-knowledge proofs
// (spec/review-2026-11.md, finding F1).

// replayUntil applies the setup entries of a simulated election to a fresh
// state, stopping before the first entry for which stop is true, and
// returns the state and that entry's index.
func replayUntil(t *testing.T, e *sim.Election, stop func(*bulletin.Entry) bool) (*election.State, int) {
	t.Helper()
	s := election.NewState()
	for i, en := range e.Entries {
		if stop(en) {
			return s, i
		}
		if err := s.Apply(en); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	t.Fatal("stop entry not found")
	return nil, 0
}

func signedEntry(t *testing.T, e *sim.Election, typ bulletin.Type, k ed25519.PrivateKey, payload []byte) *bulletin.Entry {
	t.Helper()
	en, err := bulletin.NewEntry(e.Log, typ, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), payload)
	if err != nil {
		t.Fatal(err)
	}
	return en
}

// TestLatePhaseOneMessagesRefused: once the authority has published QUAL
// (spec §5.5) and the qualified dealers have revealed g^{a_i0} (§5.6), a
// phase-1 message must no longer count. Otherwise a single corrupt trustee
// posts, after seeing the extraction commitments (hence the joint key), a
// complaint against an honest dealer, who has stopped answering (trustee
// tool: answers only until QUAL is posted); the recomputed QUAL then
// disqualifies that dealer, differs from the published one, and the
// election context can never be accepted. That is an abort decided after
// seeing the key (the very power GJKR removes from Joint-Feldman) and
// breaks the robustness claimed in §5.7 for n ≥ 2t−1. A dealer that
// withheld its phase-1 messages can do the same by posting them late.
func TestLatePhaseOneMessagesRefused(t *testing.T) {
	e, err := sim.Setup(sim.Config{ElectionID: "review-late-complaint", Trustees: 3, Threshold: 2, Rand: testrand.New("review-late-complaint"), Now: 1798800000})
	if err != nil {
		t.Fatal(err)
	}
	s, ctxAt := replayUntil(t, e, func(en *bulletin.Entry) bool { return en.Type == bulletin.TypeElectionContext })
	base, err := s.Manifest.BaseHash()
	if err != nil {
		t.Fatal(err)
	}
	if s.Keygen().Qualified == nil || len(s.Keygen().Extraction) == 0 {
		t.Fatal("fixture: qualified set and extraction commitments expected on the board")
	}
	// Trustee 2 complains against trustee 1 after QUAL and the extraction.
	late := signedEntry(t, e, bulletin.TypeKeygenComplaint, e.Keys.Trustees[1],
		(&threshold.Complaint{BaseHash: base, Complainer: 2, Accused: 1}).Bytes())
	if err := s.Apply(late); !errors.Is(err, election.ErrRefused) {
		t.Errorf("complaint posted after the qualified set: got %v, want refusal", err)
	}
	// The honest context must still be accepted.
	if err := s.Apply(e.Entries[ctxAt]); err != nil {
		t.Errorf("context after a late complaint: %v", err)
	}
}

// TestExtractionBeforeQualifiedRefused: extraction-phase messages (kinds
// 6–8) before the qualified set are out of order (spec §5.6: "only after
// QUAL is fixed").
func TestExtractionBeforeQualifiedRefused(t *testing.T) {
	e, err := sim.Setup(sim.Config{ElectionID: "review-early-extraction", Trustees: 3, Threshold: 2, Rand: testrand.New("review-early-extraction"), Now: 1798800000})
	if err != nil {
		t.Fatal(err)
	}
	var extraction *bulletin.Entry
	for _, en := range e.Entries {
		if en.Type == bulletin.TypeKeygenExtraction && extraction == nil {
			extraction = en
		}
	}
	s, _ := replayUntil(t, e, func(en *bulletin.Entry) bool { return en.Type == bulletin.TypeKeygenQualified })
	if err := s.Apply(extraction); !errors.Is(err, election.ErrRefused) {
		t.Errorf("extraction commitments before the qualified set: got %v, want refusal", err)
	}
}
