package ballotbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/election"
)

// Regression tests of issue 12 (findings 6, 7 and 8) at the ballot box.

// TestAuditRepeatingItsOwnCiphertext (finding 8): the box refuses an audit
// that repeats one of its own ciphertexts with the error of the rules'
// audit check (ballot.AuditedBallot.Verify), naming the contest, not as a
// duplicate of some entry on the board.
func TestAuditRepeatingItsOwnCiphertext(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	_, p, err := f.Prepare(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Audit()
	var m *ballot.Manifest
	f.Box.WithState(func(s *election.State) { m = s.Manifest })
	st, _ := m.Style(a.Style)
	contest := ""
	for i, id := range st.Contests {
		if c, _ := m.Contest(id); c.Kind == ballot.MultiSelect {
			ac := &a.Contests[i]
			ac.Ciphertexts = append([]*elgamal.Ciphertext{}, ac.Ciphertexts...)
			ac.Plaintexts = append([]uint32{}, ac.Plaintexts...)
			ac.Randomness = append([]*group.Scalar{}, ac.Randomness...)
			ac.Ciphertexts[1], ac.Plaintexts[1], ac.Randomness[1] = ac.Ciphertexts[0], ac.Plaintexts[0], ac.Randomness[0]
			contest = id
		}
	}
	_, _, err = f.Box.Audit(ctx, v.Token, a.Encode())
	if !errors.Is(err, ballotbox.ErrAuditInvalid) || !errors.Is(err, ballot.ErrAuditMismatch) {
		t.Fatalf("audit repeating its own ciphertext: got %v, want the rules' audit refusal", err)
	}
	if !strings.Contains(err.Error(), "repeats") || !strings.Contains(err.Error(), "contest "+contest) {
		t.Errorf("error %q does not say which contest repeats a ciphertext", err)
	}
	if code, status := ballotbox.Code(err); code != "audit_invalid" || status != 422 {
		t.Errorf("answered %s %d, want audit_invalid 422", code, status)
	}
}
