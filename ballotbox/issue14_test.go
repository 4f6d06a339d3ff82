package ballotbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/election"
)

// Regression tests of issue 14 ("the record is the contract") at the
// ballot box.

// TestBallotInClear (case 5): the box refuses a ballot whose ciphertext
// has first component the identity (r = 0: the vote in clear), though its
// proofs verify, with the rules' error; the voter's honest ballot is then
// accepted.
func TestBallotInClear(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	_, p, err := f.Prepare(v, nil)
	if err != nil {
		t.Fatal(err)
	}
	var el *ballot.Election
	f.Box.WithState(func(s *election.State) { el = s.Election() })
	st, _ := el.Manifest.Style(v.Style)
	c, _ := el.Manifest.Contest(st.Contests[0])
	zero := group.NewScalar()
	ct := el.PublicKey.EncryptWithRandomness(new(group.Scalar).SetUint64(1), zero)
	proof, err := zkp.ProveRange(ballot.ContestContext(el.ExtendedHash, v.DeviceKey(), 0, c.ID),
		&zkp.RangeStatement{PK: el.PublicKey, Ciphertext: ct, Max: len(c.Candidates)}, 1, zero, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Ballot.Contests[0] = ballot.ContestBallot{Ciphertexts: []*elgamal.Ciphertext{ct}, Proof: proof.Bytes()}
	raw, err := f.SignBallot(v, p.Ballot.Encode())
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Box.Cast(ctx, v.Token, raw)
	if !errors.Is(err, ballotbox.ErrBallotInvalid) || !errors.Is(err, ballot.ErrClearCiphertext) {
		t.Fatalf("ballot in clear: got %v, want the rules' refusal", err)
	}
	if code := ballotbox.Code(err); code != "ballot_invalid" {
		t.Errorf("answered %s, want ballot_invalid", code)
	}
	honest, _ := prepare(t, f, v, 2)
	if _, err := f.Box.Cast(ctx, v.Token, honest); err != nil {
		t.Fatalf("honest ballot afterwards: %v", err)
	}
}

// TestCredentialsWithinTheList (case 1): the box refuses a credential for
// one voter more of a style than the voter list holds, with the rules'
// error, also when credentials race: those in flight count, so the log
// never holds one the rules refuse (which would halt the box).
func TestCredentialsWithinTheList(t *testing.T) {
	f := newFixture(t, boxtest.Options{Listed: 5})
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok []*boxtest.Voter
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := f.NewVoter(ctx, [32]byte{}, "")
			switch {
			case err == nil:
				mu.Lock()
				ok = append(ok, v)
				mu.Unlock()
			case !errors.Is(err, election.ErrListExceeded):
				t.Errorf("credential: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(ok) == 0 || len(ok) > 5 {
		t.Fatalf("%d credentials for a style listing 5 voters", len(ok))
	}
	for len(ok) < 5 {
		v, err := f.NewVoter(ctx, [32]byte{}, "")
		if err != nil {
			t.Fatal(err)
		}
		ok = append(ok, v)
	}
	if _, err := f.NewVoter(ctx, [32]byte{}, ""); !errors.Is(err, ballotbox.ErrEntryInvalid) || !errors.Is(err, election.ErrListExceeded) {
		t.Fatalf("a sixth voter: got %v, want the rules' refusal", err)
	}
	// A second device of a listed voter is one voter still; the box is
	// healthy: the voters cast.
	v2, err := f.NewVoter(ctx, ok[0].Pseudonym, ok[0].Style)
	if err != nil {
		t.Fatalf("second device: %v", err)
	}
	for i, v := range append(ok, v2) {
		raw, _ := prepare(t, f, v, i)
		if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
			t.Fatalf("cast %d: %v", i, err)
		}
	}
}
