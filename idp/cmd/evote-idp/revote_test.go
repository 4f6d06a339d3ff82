package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/client"
	"evote/crypto/elgamal"
	"evote/election"
	"evote/election/sim"
	"evote/internal/simboard"
	"evote/internal/testrand"
	"evote/trustee"
)

// revoteBoard sets up a simulated election in deniable re-voting mode up to
// its context and serves its board over the ballot box's routes.
func revoteBoard(t *testing.T, coercion bool) (*sim.Election, *simboard.Server, *client.Board) {
	t.Helper()
	cfg := sim.Config{ElectionID: "kg-2027-idp-anchors", Trustees: 3, Threshold: 2, Voters: 4,
		SlotRows: 8, MaxBallots: 4, Coercion: coercion, Rand: testrand.New("idp-anchors"), Now: 1798800000}
	e, err := sim.Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &simboard.Server{E: e}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	b, err := client.NewBoard(context.Background(), client.New(ts.URL), cfg.ElectionID)
	if err != nil {
		t.Fatal(err)
	}
	b.NoStream, b.Poll, b.Retries = true, 10*time.Millisecond, 1
	return e, srv, b
}

// TestAnchoredElection: the identity service takes the manifest, the
// election key, the context hash and the box's authority key from a replay
// of the board's beginning, checked against the fingerprint and shown by a
// consistency proof to lie in a witnessed checkpoint; never from the box's
// JSON view of the election. Before, revoteConfig took the election key the
// view showed, so a box that showed its own key could decrypt every row's
// identifier (spec §15.16.7).
func TestAnchoredElection(t *testing.T) {
	e, srv, b := revoteBoard(t, true)
	ctx := context.Background()
	fp := ballot.ExpectFingerprint(e.State.Manifest.Fingerprint())
	// The box shows its own election key and authority key in its view.
	boxKey, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := ed25519.GenerateKey(nil) // public key
	srv.View = func(v *client.ElectionInfo) {
		v.JointKey = base64.RawURLEncoding.EncodeToString(boxKey.Public().Bytes())
		v.AuthorityKey = base64.RawURLEncoding.EncodeToString(other)
	}
	st, cp, err := anchoredElection(ctx, b, fp, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cp == nil || cp.Size < uint64(len(e.Entries)) {
		t.Fatalf("witnessed checkpoint %+v", cp)
	}
	idKey := e.Keys.Identity.Public().(ed25519.PublicKey)
	if err := checkAnchored(st, idKey, e.State.Context.ExtendedHash); err != nil {
		t.Fatal(err)
	}
	rc, err := revoteConfig(st, &client.IdentityBoard{})
	if err != nil || rc == nil {
		t.Fatalf("revote config %+v, %v", rc, err)
	}
	want, _ := elgamal.NewPublicKey(e.State.Context.JointKey)
	if !rc.PublicKey.Equal(want) || rc.PublicKey.Equal(boxKey.Public()) {
		t.Error("the election key is not the key generation's")
	}
	if !rc.BoxKey.Equal(e.Keys.Authority.Public()) || rc.MaxBallots != 4 || len(rc.Styles) != len(e.State.Manifest.BallotStyles) {
		t.Errorf("config %+v", rc)
	}

	// The service's own configuration is checked against the replay.
	var wrong [32]byte
	if err := checkAnchored(st, idKey, wrong); err == nil || !strings.Contains(err.Error(), "EVOTE_IDP_CONTEXT_HASH") {
		t.Errorf("a context hash that is not the election's: %v", err)
	}
	if err := checkAnchored(st, other, e.State.Context.ExtendedHash); err == nil {
		t.Error("accepted a manifest naming another identity key")
	}
	// Another election's fingerprint.
	otherFP := ballot.ExpectFingerprint(ballot.Fingerprint{1})
	if _, _, err := anchoredElection(ctx, b, otherFP, time.Second); !errors.Is(err, ballot.ErrFingerprintMismatch) {
		t.Errorf("another fingerprint: %v", err)
	}
	// A consistency proof that does not lead to the witnessed checkpoint:
	// the entries served are not that log's.
	srv.Proof = func(p [][32]byte) [][32]byte {
		if len(p) > 0 {
			p[0][0] ^= 1
		}
		return p
	}
	if err := e.Transition(election.PhaseOpen); err != nil { // so that the checkpoint lies beyond the replay
		t.Fatal(err)
	}
	if _, _, err := anchoredElection(ctx, b, fp, time.Second); !errors.Is(err, trustee.ErrSplitView) {
		t.Errorf("a forged consistency proof: %v", err)
	}
	srv.Proof = nil
	// A checkpoint the witnesses did not cosign.
	srv.Note = func(n []byte) []byte {
		parsed, err := bulletin.ParseNote(n)
		if err != nil {
			t.Fatal(err)
		}
		parsed.Sigs = parsed.Sigs[:1] // the log's own signature comes first
		return parsed.Bytes()
	}
	if _, _, err := anchoredElection(ctx, b, fp, 200*time.Millisecond); !errors.Is(err, trustee.ErrUnwitnessed) {
		t.Errorf("an uncosigned checkpoint: %v", err)
	}
}

// TestRunRefusesUnanchoredRevote: without the fingerprint, the service
// does not run deniable re-voting on the ballot box's word (before, it
// started with the election key the box's view showed).
func TestRunRefusesUnanchoredRevote(t *testing.T) {
	e, srv, _ := revoteBoard(t, true)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	m := env(t, ts.URL)
	m["EVOTE_IDP_ELECTION_ID"] = e.Cfg.ElectionID
	m["EVOTE_IDP_BOARD_KEY"] = base64.RawURLEncoding.EncodeToString(e.Keys.Identity.Seed())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := run(ctx, func(k string) string { return m[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "EVOTE_IDP_FINGERPRINT") {
		t.Fatalf("run = %v", err)
	}
	// With the fingerprint and a context hash that is not the election's,
	// it refuses too.
	m["EVOTE_IDP_FINGERPRINT"] = e.State.Manifest.Fingerprint().String()
	err = run(ctx, func(k string) string { return m[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "EVOTE_IDP_CONTEXT_HASH") {
		t.Fatalf("run with a foreign context hash = %v", err)
	}
}
