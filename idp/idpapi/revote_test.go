package idpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"evote/bulletin"
	"evote/client"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/idp"
	"evote/idp/boxauth"
	"evote/idp/voterlist"
	"evote/record"
	"evote/tally/revote"
)

// revoteEnv is the test world of newEnv in deniable re-voting mode (spec
// §15.16): the election key, the identity service's board key signing
// credentials, and the ballot box's key.
type revoteEnv struct {
	*env
	pk  *elgamal.PublicKey
	log bulletin.LogID
	id  ed25519.PrivateKey
	box ed25519.PrivateKey
}

func newRevoteEnv(t *testing.T) *revoteEnv {
	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &revoteEnv{pk: sk.Public(), log: bulletin.LogID{7}, id: testKey("idp-board"), box: testKey("box-authority")}
	r.env = newEnv(t, func(c *idp.Config) {
		c.Revote = &idp.RevoteConfig{PublicKey: r.pk, Signer: &client.IdentityBoard{Log: r.log, Key: r.id},
			Styles: []string{"KG-ABR-01", "KG-ABR-02", "KG-ABR-03"}, BoxKey: r.box.Public().(ed25519.PublicKey), MaxBallots: 3}
	})
	return r
}

func b64d(t *testing.T, s any) []byte {
	t.Helper()
	str, _ := s.(string)
	b, err := base64.RawURLEncoding.DecodeString(str)
	if err != nil || len(b) == 0 {
		t.Fatalf("not base64url: %q", s)
	}
	return b
}

// TestRevoteSignIn: in deniable re-voting mode the token response carries
// the credential signed as a revote-credential entry and s, which opens
// its identifier to the voter's V; no credential-issued entry is posted;
// the SMS notice goes out for the first credential only (spec §15.16.1).
func TestRevoteSignIn(t *testing.T) {
	e := newRevoteEnv(t)
	p := e.person(nil, 0)
	before := len(e.board.ofType(0x0203))
	var ext [32]byte = contextHash
	for i := 0; i < 2; i++ {
		dev := newDevice(t)
		notices := len(e.sms.Messages(p.Phone))
		_, body := e.signIn("10.0.0.1", p, dev)
		c, err := revote.DecodeCredential(b64d(t, body["revote_credential"]))
		if err != nil {
			t.Fatal(err)
		}
		var s group.Scalar
		if _, err := s.SetCanonicalBytes(b64d(t, body["revote_s"])); err != nil {
			t.Fatal(err)
		}
		ps, _ := hex.DecodeString(body["pseudonym"].(string))
		v := revote.VoterID(electionID, [32]byte(ps))
		if !revote.OpensTo(e.pk, c.ID, &s, v) {
			t.Fatal("s does not open the credential's identifier to the voter's V")
		}
		if err := revote.VerifyID(revote.IDProofContext(ext, c.DeviceKey), c.ID, c.Proof); err != nil {
			t.Fatal(err)
		}
		if c.DeviceKey != [32]byte(dev.Public().(ed25519.PublicKey)) || c.Style != body["ballot_style"] || c.Context != ext {
			t.Fatalf("credential %+v does not match the sign-in", c)
		}
		entry := &bulletin.Entry{Version: bulletin.EntryVersion, Log: e.log, Type: bulletin.TypeRevoteCredential, Author: [32]byte(e.id.Public().(ed25519.PublicKey)),
			Payload: b64d(t, body["revote_credential"]), Signature: [64]byte(b64d(t, body["revote_credential_sig"]))}
		if err := entry.Verify(); err != nil {
			t.Fatalf("the credential's signature as a revote-credential entry: %v", err)
		}
		// The code's SMS, plus the notice for the first credential only.
		want := notices + 1
		if i == 0 {
			want++
		}
		if got := len(e.sms.Messages(p.Phone)); got != want {
			t.Errorf("sign-in %d: %d messages to the phone, want %d", i+1, got, want)
		}
		e.clock.add(time.Minute)
	}
	if n := len(e.board.ofType(0x0203)); n != before {
		t.Errorf("%d credential-issued entries posted in deniable re-voting mode", n-before)
	}
}

// boxRequest builds a signed box credential request for dummy items.
func (e *revoteEnv) boxRequest(key ed25519.PrivateKey, items []idp.BoxItem) map[string]any {
	at := e.clock.now().Unix()
	var js []map[string]any
	for _, it := range items {
		j := map[string]any{"kind": "dummy", "style": it.Style, "index": it.Index, "identifier": hex.EncodeToString(it.Identifier[:]),
			"device_key": base64.RawURLEncoding.EncodeToString(it.DeviceKey[:])}
		if it.Kind == idp.BoxPadding {
			j = map[string]any{"kind": "padding", "style": it.Style, "pseudonym": hex.EncodeToString(it.Pseudonym[:]), "device_key": base64.RawURLEncoding.EncodeToString(it.DeviceKey[:])}
		}
		js = append(js, j)
	}
	sig := ed25519.Sign(key, idp.BoxRequestMessage(electionID, at, items))
	return map[string]any{"election_id": electionID, "at": at, "items": js, "box_sig": base64.RawURLEncoding.EncodeToString(sig)}
}

// TestBoxCredentials: the ballot box obtains credentials for dummy
// identifiers D_{st,i}, signed like a voter's; a request for a real
// voter's identifier is refused (not_a_dummy), as is one not signed by the
// box (spec §15.16.2).
func TestBoxCredentials(t *testing.T) {
	e := newRevoteEnv(t)
	dev := newDevice(t)
	item := idp.BoxItem{Style: "KG-ABR-02", Index: 3, Identifier: [32]byte(revote.DummyID(electionID, "KG-ABR-02", 3).Bytes()), DeviceKey: [32]byte(dev.Public().(ed25519.PublicKey))}
	st, body, _ := do(t, e.api, "POST", "/v1/revote/box-credentials", "10.9.0.1", e.boxRequest(e.box, []idp.BoxItem{item}), nil)
	if st != http.StatusOK {
		t.Fatalf("dummy credential: %d %v", st, body)
	}
	cs := body["credentials"].([]any)
	c0 := cs[0].(map[string]any)
	c, err := revote.DecodeCredential(b64d(t, c0["credential"]))
	if err != nil || c.Style != item.Style || c.DeviceKey != item.DeviceKey {
		t.Fatalf("credential %+v, %v", c, err)
	}
	entry := &bulletin.Entry{Version: bulletin.EntryVersion, Log: e.log, Type: bulletin.TypeRevoteCredential, Author: [32]byte(e.id.Public().(ed25519.PublicKey)),
		Payload: b64d(t, c0["credential"]), Signature: [64]byte(b64d(t, c0["credential_sig"]))}
	if err := entry.Verify(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c0["s"]; ok {
		t.Error("the box was given s")
	}

	// A real voter's identifier, a dummy of another style, index 0.
	p := e.person(nil, 0)
	voter := item
	voter.Identifier = [32]byte(revote.VoterID(electionID, e.svc.Pseudonym(p.PIN)).Bytes())
	other := item
	other.Style = "KG-ABR-01"
	zero := item
	zero.Index, zero.Identifier = 0, [32]byte(revote.DummyID(electionID, "KG-ABR-02", 0).Bytes())
	for name, it := range map[string]idp.BoxItem{"voter": voter, "other style": other, "index 0": zero} {
		st, body, _ := do(t, e.api, "POST", "/v1/revote/box-credentials", "10.9.0.1", e.boxRequest(e.box, []idp.BoxItem{item, it}), nil)
		if st != http.StatusUnprocessableEntity || errCode(body) != "not_a_dummy" {
			t.Errorf("%s: %d %v", name, st, body)
		}
	}
	// Signed by another key; stale.
	st, body, _ = do(t, e.api, "POST", "/v1/revote/box-credentials", "10.9.0.1", e.boxRequest(testKey("not the box"), []idp.BoxItem{item}), nil)
	if st != http.StatusForbidden || errCode(body) != "box_request_refused" {
		t.Errorf("foreign signature: %d %v", st, body)
	}
	req := e.boxRequest(e.box, []idp.BoxItem{item})
	e.clock.add(10 * time.Minute)
	if st, body, _ = do(t, e.api, "POST", "/v1/revote/box-credentials", "10.9.0.1", req, nil); st != http.StatusForbidden {
		t.Errorf("stale request: %d %v", st, body)
	}
}

// TestBoxPaddingAndRoll: after the close, the box obtains padding
// credentials for a listed voter, at most M − 1 in all, none before the
// close nor for another style; the roll lists every listed voter's
// identifier (spec §15.16.2, §15.7).
func TestBoxPaddingAndRoll(t *testing.T) {
	e := newRevoteEnv(t)
	p := e.person(nil, 0)
	ps := e.svc.Pseudonym(p.PIN)
	var style string
	_, body := e.signIn("10.0.0.1", p, newDevice(t))
	style = body["ballot_style"].(string)
	pad := func() idp.BoxItem {
		return idp.BoxItem{Kind: idp.BoxPadding, Style: style, Pseudonym: ps, DeviceKey: [32]byte(newDevice(t).Public().(ed25519.PublicKey))}
	}
	post := func(items ...idp.BoxItem) (int, map[string]any) {
		st, body, _ := do(t, e.api, "POST", "/v1/revote/box-credentials", "10.9.0.1", e.boxRequest(e.box, items), nil)
		return st, body
	}
	if st, body := post(pad()); st != http.StatusForbidden {
		t.Fatalf("padding before the close: %d %v", st, body)
	}
	if err := e.svc.PostRoll(context.Background()); !errors.Is(err, idp.ErrVotingClosed) {
		t.Fatalf("roll before the close: %v", err)
	}
	e.board.setClosed(true)
	e.clock.add(2 * time.Second) // past the service's look at the board's state
	other := pad()
	other.Style = "KG-ABR-09"
	if st, body := post(other); st != http.StatusForbidden {
		t.Errorf("padding in another style: %d %v", st, body)
	}
	st, body := post(pad(), pad())
	if st != http.StatusOK {
		t.Fatalf("padding: %d %v", st, body)
	}
	c, err := revote.DecodeCredential(b64d(t, body["credentials"].([]any)[0].(map[string]any)["credential"]))
	if err != nil || c.Style != style {
		t.Fatalf("padding credential %+v, %v", c, err)
	}
	if st, body := post(pad()); st != http.StatusForbidden {
		t.Errorf("a third padding credential with M = 3: %d %v", st, body)
	}
	if err := e.svc.PostRoll(context.Background()); err != nil {
		t.Fatal(err)
	}
	rolls := e.board.ofType(0x0609)
	if len(rolls) != 1 {
		t.Fatalf("%d roll entries", len(rolls))
	}
	l, err := revote.DecodeRoll(rolls[0])
	if err != nil {
		t.Fatal(err)
	}
	listed, _ := e.store.ListedVoters(context.Background(), electionID)
	if len(l.Voters) != len(listed) || len(listed) == 0 {
		t.Fatalf("roll of %d voters, %d listed", len(l.Voters), len(listed))
	}
	v := revote.VoterID(electionID, ps)
	found := false
	for _, rv := range l.Voters {
		if rv.ID.Equal(v) == 1 && rv.Style == style {
			found = true
		}
	}
	if !found {
		t.Error("the voter is not on the roll")
	}
}

// TestRevoteMarkHTTP: in deniable re-voting mode a mark with the station
// device's key answers the token and the credential for the mark's row,
// posts no in-person-mark entry, and the voter can no longer sign in; a
// mark without the key is refused (spec §15.16.4).
func TestRevoteMarkHTTP(t *testing.T) {
	e := newRevoteEnv(t)
	p := e.person(nil, 0)
	ps := e.svc.Pseudonym(p.PIN)
	_, body := e.signIn("10.0.0.1", p, newDevice(t))
	// The station's look-up does not say how many credentials the voter
	// got: that would tell the station whether they signed in again
	// (spec §15.8, §8.8.5).
	l := &voterlist.LookupRequest{ElectionID: electionID, StationID: "station-istanbul", OfficialID: "poll-official-1", PIN: p.PIN, At: uint64(e.clock.now().Unix())}
	l.Sign(e.keys["station-istanbul"], e.keys["poll-official-1"])
	lookup := map[string]any{"election_id": l.ElectionID, "station_id": l.StationID, "official_id": l.OfficialID, "pin": p.PIN.Digits(), "at": l.At,
		"station_sig": b64.EncodeToString(l.StationSig[:]), "official_sig": b64.EncodeToString(l.OfficialSig[:])}
	if st, info, _ := do(t, e.api, "POST", "/v1/officials/lookup", "192.0.2.50", lookup, nil); st != http.StatusOK || info["pseudonym"] != hex.EncodeToString(ps[:]) || info["credentials_issued"] != nil {
		t.Errorf("look-up in deniable re-voting mode: %d %v", st, info)
	}
	m := &record.InPersonMark{ElectionID: electionID, ContextHash: contextHash, Pseudonym: ps, BallotStyle: body["ballot_style"].(string),
		StationID: "station-istanbul", OfficialID: "poll-official-1", MarkedAt: uint64(e.clock.now().Unix())}
	copy(m.StationKey[:], e.keys["station-istanbul"].Public().(ed25519.PublicKey))
	copy(m.OfficialKey[:], e.keys["poll-official-1"].Public().(ed25519.PublicKey))
	m.Sign(e.keys["station-istanbul"], e.keys["poll-official-1"])
	before := len(e.board.ofType(0x0204))
	if st, b, _ := do(t, e.api, "POST", "/v1/officials/marks", "192.0.2.50", map[string]string{"mark": b64.EncodeToString(m.Encode())}, nil); st != http.StatusConflict {
		t.Errorf("mark without a device key: %d %v", st, b)
	}
	dev := newDevice(t)
	st, b, _ := do(t, e.api, "POST", "/v1/officials/marks", "192.0.2.50", map[string]string{"mark": b64.EncodeToString(m.Encode()), "device_key": devicePub(dev)}, nil)
	if st != http.StatusCreated || b["token"] == nil {
		t.Fatalf("mark: %d %v", st, b)
	}
	c, err := revote.DecodeCredential(b64d(t, b["revote_credential"]))
	if err != nil || c.DeviceKey != [32]byte(dev.Public().(ed25519.PublicKey)) {
		t.Fatalf("mark credential %+v, %v", c, err)
	}
	var s group.Scalar
	if _, err := s.SetCanonicalBytes(b64d(t, b["revote_s"])); err != nil || !revote.OpensTo(e.pk, c.ID, &s, revote.VoterID(electionID, ps)) {
		t.Fatalf("the mark's credential does not open to the voter's identifier: %v", err)
	}
	if n := len(e.board.ofType(0x0204)); n != before {
		t.Errorf("%d in-person-mark entries posted in deniable re-voting mode", n-before)
	}
	st, b, _ = e.start("10.0.0.3", p, nil)
	if st == http.StatusOK {
		st, b = e.verify("10.0.0.3", b["challenge_id"].(string), e.lastCode(p.Phone), newDevice(t))
	}
	if st != http.StatusForbidden || errCode(b) != "voted_in_person" {
		t.Errorf("sign-in after the mark: %d %v", st, b)
	}
}

// TestBoxAuthClient: the ballot box's HTTP client (boxauth.Client)
// against the identity service's route: a dummy credential is issued, a
// padding one before the close refused.
func TestBoxAuthClient(t *testing.T) {
	e := newRevoteEnv(t)
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	c := &boxauth.Client{BaseURL: srv.URL, Key: e.box, Now: e.clock.now}
	dev := [32]byte(newDevice(t).Public().(ed25519.PublicKey))
	creds, err := c.Request(context.Background(), electionID, []boxauth.Item{{Kind: boxauth.Dummy, Style: "KG-ABR-03", Index: 2,
		Identifier: [32]byte(revote.DummyID(electionID, "KG-ABR-03", 2).Bytes()), DeviceKey: dev}})
	if err != nil || len(creds) != 1 {
		t.Fatalf("dummy credential: %v", err)
	}
	cred, err := revote.DecodeCredential(creds[0].Credential)
	if err != nil || cred.DeviceKey != dev || cred.Style != "KG-ABR-03" {
		t.Fatalf("credential %+v, %v", cred, err)
	}
	p := e.person(nil, 0)
	if _, err := c.Request(context.Background(), electionID, []boxauth.Item{{Kind: boxauth.Padding, Style: "KG-ABR-01", Pseudonym: e.svc.Pseudonym(p.PIN), DeviceKey: dev}}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("padding before the close: %v", err)
	}
}
