package ballotbox_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/election"
	"evote/idp/token"
	"evote/record"
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
	shown := *p.Ballot // the prepared ballot sent along, repeating it too
	shown.Contests = append([]ballot.ContestBallot{}, p.Ballot.Contests...)
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
			sc := &shown.Contests[i]
			sc.Ciphertexts = append([]*elgamal.Ciphertext{}, sc.Ciphertexts...)
			sc.Ciphertexts[1] = sc.Ciphertexts[0]
			contest = id
		}
	}
	_, err = f.Box.Audit(ctx, v.Token, a.Encode(), shown.Encode())
	if !errors.Is(err, ballotbox.ErrAuditInvalid) || !errors.Is(err, ballot.ErrAuditMismatch) {
		t.Fatalf("audit repeating its own ciphertext: got %v, want the rules' audit refusal", err)
	}
	if !strings.Contains(err.Error(), "repeats") || !strings.Contains(err.Error(), "contest "+contest) {
		t.Errorf("error %q does not say which contest repeats a ciphertext", err)
	}
	if code := ballotbox.Code(err); code != "audit_invalid" {
		t.Errorf("answered %s, want audit_invalid", code)
	}
}

// TestRetiredTokenKey (finding 7): once the identity key set retires a
// token key, a token it signs afterwards is refused by the box, and so is
// the credential the identity service would post for it; the current key
// still works.
func TestRetiredTokenKey(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1798800000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, boxtest.Options{Now: clock})
	ctx := context.Background()
	t0 := uint64(now.Unix())
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	// The identity service rotated at t0+60: the fixture's key retired,
	// k2 current.
	k2 := ed25519.NewKeyFromSeed(make([]byte, 32))
	var ks record.IdentityKeySet
	f.Box.WithState(func(s *election.State) { ks = *s.IdentityKeys })
	k1 := ks.Keys[0]
	k1.RetiredAt = t0 + 60
	k2pub := [32]byte(k2.Public().(ed25519.PublicKey))
	ks.Keys = []record.IdentityKey{k1, {KeyID: record.IdentityKeyID(k2pub[:]), PublicKey: k2pub, ValidFrom: t0 + 60}}
	slices.SortFunc(ks.Keys, func(a, b record.IdentityKey) int { return strings.Compare(a.KeyID, b.KeyID) })
	if _, err := f.PostIdentity(ctx, bulletin.TypeIdentityKeySet, ks.Encode()); err != nil {
		t.Fatal(err)
	}
	// A token and credential signed now with the retired key.
	_, err := f.NewVoter(ctx, [32]byte{}, "")
	if !errors.Is(err, ballotbox.ErrEntryInvalid) || !errors.Is(err, election.ErrKeyWindow) {
		t.Errorf("credential under the retired key: got %v, want %v", err, election.ErrKeyWindow)
	}
	dev := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	var style string
	var ctxHash [32]byte
	f.Box.WithState(func(s *election.State) { style, ctxHash = s.Manifest.BallotStyles[0].ID, s.Context.ExtendedHash })
	tok, _, err := f.Issuer.Issue(token.Grant{ElectionID: f.ElectionID, ContextHash: ctxHash, Pseudonym: [32]byte{9}, BallotStyle: style, DeviceKey: dev.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := f.Prepare(&boxtest.Voter{Style: style, Device: dev}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Box.Cast(ctx, tok, raw)
	if !errors.Is(err, ballotbox.ErrTokenInvalid) || !errors.Is(err, token.ErrKeyWindow) {
		t.Errorf("cast with a token of the retired key: got %v, want %v", err, token.ErrKeyWindow)
	}
	// The current key issues tokens and credentials that work.
	if err := f.Issuer.AddKey(k2); err != nil {
		t.Fatal(err)
	}
	v := voter(t, f, [32]byte{})
	rawV, _ := prepare(t, f, v, 1)
	if _, err := f.Box.Cast(ctx, v.Token, rawV); err != nil {
		t.Errorf("cast under the current key: %v", err)
	}
}

// TestMarkNeedsRegisteredKeys (finding 6): the box refuses, by the rules, a
// mark signed with keys the identity service made up, and a registration of
// new keys once voting is open; the voter's ballot stays counted.
func TestMarkNeedsRegisteredKeys(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	raw, _ := prepare(t, f, v, 1)
	if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
		t.Fatal(err)
	}
	ext := f.Box.View().Context.ExtendedHash
	rogueStation, rogueOfficial := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	pk := func(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }
	m := &record.InPersonMark{ElectionID: f.ElectionID, ContextHash: ext, Pseudonym: v.Pseudonym, BallotStyle: v.Style,
		StationID: "station-1", StationKey: pk(rogueStation), OfficialID: "official-7", OfficialKey: pk(rogueOfficial), MarkedAt: uint64(f.Now().Unix())}
	m.Sign(rogueStation, rogueOfficial)
	_, err := f.PostIdentity(ctx, bulletin.TypeInPersonMark, m.Encode())
	if !errors.Is(err, ballotbox.ErrEntryInvalid) || !errors.Is(err, election.ErrUnregisteredStation) {
		t.Errorf("mark with made-up keys: got %v, want %v", err, election.ErrUnregisteredStation)
	}
	// Registering the made-up keys now is too late.
	r := &record.PollingRegistration{ElectionID: f.ElectionID, ContextHash: ext, OfficialID: "list-official-1", OfficialKey: pk(f.List),
		RegisteredAt: uint64(f.Now().Unix()), Stations: []record.PollingKey{{ID: "station-2", Key: pk(rogueStation)}}, Officials: []record.PollingKey{{ID: "official-8", Key: pk(rogueOfficial)}}}
	r.Sign(f.List)
	_, err = f.PostIdentity(ctx, bulletin.TypePollingRegistration, r.Encode())
	if !errors.Is(err, ballotbox.ErrEntryInvalid) || !errors.Is(err, election.ErrRegistrationLate) {
		t.Errorf("registration after opening: got %v, want %v", err, election.ErrRegistrationLate)
	}
	if _, ok := f.Box.Voter(v.Pseudonym); !ok {
		t.Fatal("voter unknown")
	}
	if e, _ := f.Box.Voter(v.Pseudonym); e.InPerson != nil {
		t.Error("the voter was marked as having voted in person")
	}
	// The registered station and official mark as before.
	if err := f.MarkInPerson(ctx, v); err != nil {
		t.Fatal(err)
	}
}
