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

// signedMark returns a mark for the voter signed by the station and official
// keys it names.
func signedMark(e *sim.Election, pseudonym [32]byte, style, stationID string, station ed25519.PrivateKey, officialID string, official ed25519.PrivateKey) *record.InPersonMark {
	m := &record.InPersonMark{
		ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, Pseudonym: pseudonym, BallotStyle: style,
		StationID: stationID, StationKey: [32]byte(station.Public().(ed25519.PublicKey)),
		OfficialID: officialID, OfficialKey: [32]byte(official.Public().(ed25519.PublicKey)), MarkedAt: e.Cfg.Now,
	}
	m.Sign(station, official)
	return m
}

// TestInPersonMarkBinding (finding 6): an identity-service insider cannot
// cancel a chosen voter's ballots with a mark made with keys of its own, a
// mark of another election or a mark of another ballot style: the rules
// refuse each, so the box and the verifier alike.
func TestInPersonMarkBinding(t *testing.T) {
	e := openElection(t, "marks")
	v, err := e.Credential([32]byte{1}, "style-ala-archa")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cast(v, e.Selection(1, v.Style)); err != nil {
		t.Fatal(err)
	}
	station, official := e.Keys.Station, e.Keys.Official // registered as station-bishkek-1 and official-7
	rogue := seededKey("rogue")
	post := func(m *record.InPersonMark) error {
		return e.Post(bulletin.TypeInPersonMark, e.Keys.Identity, m.Encode())
	}
	other := signedMark(e, v.Pseudonym, v.Style, "station-bishkek-1", station, "official-7", official)
	other.ContextHash[0] ^= 1
	other.Sign(station, official)
	for _, tc := range []struct {
		name string
		m    *record.InPersonMark
		want error
	}{
		{"station key made up", signedMark(e, v.Pseudonym, v.Style, "station-bishkek-1", rogue, "official-7", official), election.ErrUnregisteredStation},
		{"station made up", signedMark(e, v.Pseudonym, v.Style, "station-nowhere", rogue, "official-7", official), election.ErrUnregisteredStation},
		{"registered key under another station id", signedMark(e, v.Pseudonym, v.Style, "station-osh", station, "official-7", official), election.ErrUnregisteredStation},
		{"official key made up", signedMark(e, v.Pseudonym, v.Style, "station-bishkek-1", station, "official-7", rogue), election.ErrUnregisteredOfficial},
		{"station's key as the official's", signedMark(e, v.Pseudonym, v.Style, "station-bishkek-1", station, "official-7", station), election.ErrUnregisteredOfficial},
		{"another election's context hash", other, election.ErrWrongContext},
		{"another ballot style than the credential's", signedMark(e, v.Pseudonym, "style-kara-suu", "station-bishkek-1", station, "official-7", official), election.ErrMarkStyle},
		{"unknown ballot style", signedMark(e, [32]byte{2}, "style-nowhere", "station-bishkek-1", station, "official-7", official), election.ErrMarkStyle},
	} {
		if err := post(tc.m); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if e.State.VotedInPerson(v.Pseudonym) {
		t.Fatal("a refused mark cancelled the voter's ballot")
	}
	// The registered station and official, this context, the voter's style.
	if err := post(signedMark(e, v.Pseudonym, v.Style, "station-bishkek-1", station, "official-7", official)); err != nil {
		t.Fatalf("valid mark: %v", err)
	}
	// A voter with no credential may be marked with any style of the manifest.
	if err := post(signedMark(e, [32]byte{3}, "style-tash-dobo", "station-bishkek-1", station, "official-7", official)); err != nil {
		t.Fatalf("valid mark of a voter who never voted online: %v", err)
	}
}

// registration returns a polling registration of the election, signed by a
// list official.
func registration(e *sim.Election, stations, officials []record.PollingKey) *record.PollingRegistration {
	list := seededKey("list-official-2")
	r := &record.PollingRegistration{
		ElectionID: e.Cfg.ElectionID, ContextHash: e.State.Context.ExtendedHash, OfficialID: "list-official-2",
		OfficialKey: [32]byte(list.Public().(ed25519.PublicKey)), RegisteredAt: e.Cfg.Now, Stations: stations, Officials: officials,
	}
	r.Sign(list)
	return r
}

// TestPollingRegistrationRules (finding 6): stations and officials are
// registered by the identity service, with a list official's signature,
// for this election's context, before voting opens, each once.
func TestPollingRegistrationRules(t *testing.T) {
	e, err := sim.Setup(sim.Config{ElectionID: "issue12-registration", Trustees: 3, Threshold: 2, Rand: testrand.New("issue12/registration"), Now: 1798800000})
	if err != nil {
		t.Fatal(err)
	}
	osh := seededKey("station-osh")
	oshKey := []record.PollingKey{{ID: "station-osh", Key: [32]byte(osh.Public().(ed25519.PublicKey))}}
	post := func(k ed25519.PrivateKey, r *record.PollingRegistration) error {
		return e.Post(bulletin.TypePollingRegistration, k, r.Encode())
	}
	byAuthority := registration(e, oshKey, nil)
	if err := post(e.Keys.Authority, byAuthority); !errors.Is(err, election.ErrWrongAuthor) {
		t.Errorf("registration signed by the authority, not the identity service: got %v, want %v", err, election.ErrWrongAuthor)
	}
	forged := registration(e, oshKey, nil)
	forged.Sign(seededKey("rogue")) // not the list official's key it names
	if err := post(e.Keys.Identity, forged); !errors.Is(err, election.ErrSignature) {
		t.Errorf("registration not signed by its list official: got %v, want %v", err, election.ErrSignature)
	}
	otherCtx := registration(e, oshKey, nil)
	otherCtx.ContextHash[5] ^= 1
	otherCtx.Sign(seededKey("list-official-2"))
	if err := post(e.Keys.Identity, otherCtx); !errors.Is(err, election.ErrWrongContext) {
		t.Errorf("registration for another context: got %v, want %v", err, election.ErrWrongContext)
	}
	again := registration(e, []record.PollingKey{{ID: "station-bishkek-1", Key: [32]byte(osh.Public().(ed25519.PublicKey))}}, nil)
	if err := post(e.Keys.Identity, again); !errors.Is(err, election.ErrRefused) {
		t.Errorf("station registered a second time with another key: %v", err)
	}
	reused := registration(e, oshKey[:0], []record.PollingKey{{ID: "official-9", Key: [32]byte(e.Keys.Station.Public().(ed25519.PublicKey))}})
	if err := post(e.Keys.Identity, reused); !errors.Is(err, election.ErrRefused) {
		t.Errorf("a registered station's key registered for an official: %v", err)
	}
	if err := post(e.Keys.Identity, registration(e, oshKey, nil)); err != nil {
		t.Fatalf("second registration before opening: %v", err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	late := registration(e, []record.PollingKey{{ID: "station-naryn", Key: [32]byte(seededKey("station-naryn").Public().(ed25519.PublicKey))}}, nil)
	if err := post(e.Keys.Identity, late); !errors.Is(err, election.ErrRegistrationLate) {
		t.Errorf("registration after voting opened: got %v, want %v", err, election.ErrRegistrationLate)
	}
	// The station registered second marks as the first does.
	v, err := e.Credential([32]byte{1}, "style-ala-archa")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Post(bulletin.TypeInPersonMark, e.Keys.Identity, signedMark(e, v.Pseudonym, v.Style, "station-osh", osh, "official-7", e.Keys.Official).Encode()); err != nil {
		t.Errorf("mark of the station registered second: %v", err)
	}
}
