package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"evote/ballot"
	"evote/client"
	"evote/crypto/elgamal"
	"evote/crypto/threshold"
)

// TestRevoteConfigFromBoard: the service runs deniable re-voting when the
// board's manifest sets it, with the election key, the styles, M and the
// box's authority key from the board; otherwise not (spec §15.16).
func TestRevoteConfigFromBoard(t *testing.T) {
	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	auth, _, _ := ed25519.GenerateKey(nil)
	tk, _, _ := ed25519.GenerateKey(nil)
	hk, err := threshold.GenerateHPKEKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	hp := hk.Public()
	trustees := []ballot.Trustee{{Index: 1, Name: "Trustee 1", SignKey: [32]byte(tk), HPKEKey: hp[:]}}
	lk, _, _ := ed25519.GenerateKey(nil)
	wk, _, _ := ed25519.GenerateKey(nil)
	anchors := ballot.BoardAnchors{Origin: "evote.test/board/e-1", LogKey: [32]byte(lk), Quorum: 1, Witnesses: []ballot.Witness{{Name: "witness-1.evote.test", Key: [32]byte(wk)}}}
	m := ballot.SampleManifest("e-1", trustees, 1, [32]byte(auth), anchors)
	b64 := base64.RawURLEncoding
	info := &client.ElectionInfo{Manifest: b64.EncodeToString(m.Encode()), JointKey: b64.EncodeToString(sk.Public().Bytes()), AuthorityKey: b64.EncodeToString(auth)}
	if rc, err := revoteConfig(info, &client.IdentityBoard{}); err != nil || rc != nil {
		t.Fatalf("without the mode: %+v, %v", rc, err)
	}
	m.Revote = ballot.LastBallotCounts
	m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 8, MaxBallots: 5}
	info.Manifest = b64.EncodeToString(m.Encode())
	rc, err := revoteConfig(info, &client.IdentityBoard{})
	if err != nil || rc == nil {
		t.Fatalf("with the mode: %+v, %v", rc, err)
	}
	if !rc.PublicKey.Equal(sk.Public()) || !rc.BoxKey.Equal(auth) || rc.MaxBallots != 5 || len(rc.Styles) != len(m.BallotStyles) {
		t.Errorf("config %+v", rc)
	}
	info.JointKey = ""
	if _, err := revoteConfig(info, &client.IdentityBoard{}); err == nil {
		t.Error("accepted without the election key")
	}
}
