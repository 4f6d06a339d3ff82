package election_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/election"
	"evote/election/sim"
)

// Regression tests of issue 14 ("the record is the contract"): records an
// independent verifier written from the spec refuses, which the rules
// accepted.

// clearBallot returns a ballot of voter v whose first (single-choice)
// ciphertext is encrypted with randomness 0, every proof valid.
func clearBallot(t *testing.T, el *ballot.Election, v *sim.Voter, choice uint64) *ballot.EncryptedBallot {
	t.Helper()
	p, err := el.Encrypt(v.Style, [32]byte(v.Device.Public().(ed25519.PublicKey)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := el.Manifest.Style(v.Style)
	c, _ := el.Manifest.Contest(st.Contests[0])
	zero := group.NewScalar()
	ct := el.PublicKey.EncryptWithRandomness(new(group.Scalar).SetUint64(choice), zero)
	ctx := ballot.ContestContext(el.ExtendedHash, p.Ballot.CredentialKey, 0, c.ID)
	proof, err := zkp.ProveRange(ctx, &zkp.RangeStatement{PK: el.PublicKey, Ciphertext: ct, Max: len(c.Candidates)}, choice, zero, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Ballot.Contests[0] = ballot.ContestBallot{Ciphertexts: []*elgamal.Ciphertext{ct}, Proof: proof.Bytes()}
	return p.Ballot
}

// TestBallotInClearRefused (case 5): a ballot whose ciphertext is (1, g^m)
// puts the vote on the public board; its proofs verify, but the rules
// refuse it, so the box and the verifier alike.
func TestBallotInClearRefused(t *testing.T) {
	e := openElection(t, "clear")
	v, err := e.Credential([32]byte{1}, "style-ala-archa")
	if err != nil {
		t.Fatal(err)
	}
	b := clearBallot(t, e.State.Election(), v, 2)
	if err := e.State.Election().Verify(b); !errors.Is(err, ballot.ErrClearCiphertext) {
		t.Fatalf("Verify = %v", err)
	}
	err = e.Post(bulletin.TypeBallot, v.Device, b.Encode())
	if !errors.Is(err, election.ErrRefused) || !errors.Is(err, ballot.ErrClearCiphertext) {
		t.Fatalf("ballot in clear: got %v, want a refusal for a ciphertext in clear", err)
	}
	if _, err := e.Cast(v, e.Selection(1, v.Style)); err != nil {
		t.Fatalf("the voter's honest ballot afterwards: %v", err)
	}
}
