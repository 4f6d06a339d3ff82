package election_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
)

// Regression tests of issue 12 (findings 6, 7 and 8): attacks by insiders
// who hold the identity service's or the authority's keys and post validly
// signed entries that the rules used to accept.

// openElection returns a simulated election that is open for voting.
func openElection(t *testing.T, seed string) *sim.Election {
	t.Helper()
	e, err := sim.Setup(sim.Config{ElectionID: "issue12-" + seed, Trustees: 3, Threshold: 2, Rand: testrand.New("issue12/" + seed), Now: 1798800000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	return e
}

// repeatCiphertext makes audit a repeat, in its multi-select contest, its
// own first ciphertext (with the same opening, so the opening still
// verifies) and returns that contest's id.
func repeatCiphertext(t *testing.T, m *ballot.Manifest, a *ballot.AuditedBallot) string {
	t.Helper()
	st, _ := m.Style(a.Style)
	for i, id := range st.Contests {
		c, _ := m.Contest(id)
		if c.Kind != ballot.MultiSelect {
			continue
		}
		ac := &a.Contests[i]
		if ac.Plaintexts[0] != 0 {
			t.Fatal("the audited selection must leave the multi-select contest blank")
		}
		ac.Ciphertexts = append([]*elgamal.Ciphertext{}, ac.Ciphertexts...)
		ac.Plaintexts = append([]uint32{}, ac.Plaintexts...)
		ac.Randomness = append([]*group.Scalar{}, ac.Randomness...)
		ac.Ciphertexts[1], ac.Plaintexts[1], ac.Randomness[1] = ac.Ciphertexts[0], ac.Plaintexts[0], ac.Randomness[0]
		return id
	}
	t.Fatal("no multi-select contest on the style")
	return ""
}

// TestAuditRepeatingItsOwnCiphertext (finding 8): an audited ballot that
// repeats one of its own ciphertexts is refused by the rules, with an error
// that names the contest, as the ballot box refuses it.
func TestAuditRepeatingItsOwnCiphertext(t *testing.T) {
	e := openElection(t, "audit-repeat")
	v, err := e.Credential([32]byte{1}, "style-ala-archa")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.State.Election().Encrypt(v.Style, [32]byte(v.Device.Public().(ed25519.PublicKey)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Audit()
	contest := repeatCiphertext(t, e.State.Manifest, a)
	err = e.Post(bulletin.TypeAuditedBallot, e.Keys.Authority, a.Encode())
	if !errors.Is(err, election.ErrRefused) || !errors.Is(err, ballot.ErrAuditMismatch) {
		t.Fatalf("audit repeating its own ciphertext: got %v, want a refused audit", err)
	}
	if !strings.Contains(err.Error(), "repeats") || !strings.Contains(err.Error(), "contest "+contest) {
		t.Errorf("error %q does not say which contest repeats a ciphertext", err)
	}
}
