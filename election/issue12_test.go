package election_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
	"evote/record"
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

func seededKey(label string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("evote-test-key/" + label))
	return ed25519.NewKeyFromSeed(s[:])
}

// postCredential posts a credential for a new device under token key kid,
// issued at issuedAt.
func postCredential(e *sim.Election, pseudonym [32]byte, kid string, issuedAt uint64) error {
	dev := seededKey(fmt.Sprintf("device-%x-%d-%s", pseudonym[:4], issuedAt, kid))
	c := &record.CredentialIssued{
		ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, Pseudonym: pseudonym, BallotStyle: "style-ala-archa",
		DeviceKey: [32]byte(dev.Public().(ed25519.PublicKey)), KeyID: kid, IssuedAt: issuedAt, NotBefore: issuedAt, ExpiresAt: issuedAt + 900,
	}
	return e.Post(bulletin.TypeCredentialIssued, e.Keys.Identity, c.Encode())
}

// TestCredentialOutsideItsKeyWindow (finding 7): a credential whose
// issued-at lies outside the validity window of the token key it names
// (before the key was valid, after it was retired) is refused, and a later
// key set cannot reopen a retired key's window.
func TestCredentialOutsideItsKeyWindow(t *testing.T) {
	e := openElection(t, "key-window")
	now := e.Cfg.Now
	k1 := e.State.IdentityKeys.Keys[0]
	if k1.ValidFrom != now || k1.RetiredAt != 0 {
		t.Fatalf("fixture key %+v", k1)
	}
	if err := postCredential(e, [32]byte{1}, k1.KeyID, now-60); !errors.Is(err, election.ErrKeyWindow) {
		t.Errorf("credential issued before its key was valid: got %v, want %v", err, election.ErrKeyWindow)
	}
	// The identity service rotates: k1 retires at now+10, k2 is current.
	k2pub := [32]byte(seededKey("token-key-2").Public().(ed25519.PublicKey))
	k2 := record.IdentityKey{KeyID: record.IdentityKeyID(k2pub[:]), PublicKey: k2pub, ValidFrom: now + 10}
	k1.RetiredAt = now + 10
	ks := *e.State.IdentityKeys
	ks.Keys = sortedKeys(k1, k2)
	if err := e.Post(bulletin.TypeIdentityKeySet, e.Keys.Identity, ks.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := postCredential(e, [32]byte{2}, k1.KeyID, now+20); !errors.Is(err, election.ErrKeyWindow) {
		t.Errorf("credential under a retired key: got %v, want %v", err, election.ErrKeyWindow)
	}
	if err := postCredential(e, [32]byte{3}, k1.KeyID, now+10); err != nil {
		t.Errorf("credential under k1 at its retirement: %v", err)
	}
	if err := postCredential(e, [32]byte{4}, k2.KeyID, now+20); err != nil {
		t.Errorf("credential under the current key: %v", err)
	}
	// A later key set that reopens k1's window (or moves k2's start) is
	// refused: the key history only grows.
	k1.RetiredAt, k2.RetiredAt = 0, now+30
	ks.Keys = sortedKeys(k1, k2)
	if err := e.Post(bulletin.TypeIdentityKeySet, e.Keys.Identity, ks.Encode()); !errors.Is(err, election.ErrKeyHistory) {
		t.Errorf("key set reopening a retired key: got %v, want %v", err, election.ErrKeyHistory)
	}
	k1.RetiredAt, k2.RetiredAt, k2.ValidFrom = now+10, 0, now-100
	ks.Keys = sortedKeys(k1, k2)
	if err := e.Post(bulletin.TypeIdentityKeySet, e.Keys.Identity, ks.Encode()); !errors.Is(err, election.ErrKeyHistory) {
		t.Errorf("key set moving a key's start: got %v, want %v", err, election.ErrKeyHistory)
	}
	if err := postCredential(e, [32]byte{5}, k1.KeyID, now+20); !errors.Is(err, election.ErrKeyWindow) {
		t.Errorf("credential under the retired key after a refused rewrite: got %v", err)
	}
}

func sortedKeys(ks ...record.IdentityKey) []record.IdentityKey {
	slices.SortFunc(ks, func(a, b record.IdentityKey) int { return strings.Compare(a.KeyID, b.KeyID) })
	return ks
}
