package station

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"evote/ballot"
	"evote/client"
	"evote/crypto/elgamal"
	"evote/tally/revote"
)

// TestCheckCredential: the device's check of the credential the identity
// service answers (spec §15.16.1, §15.16.4) accepts the genuine one and
// refuses one kind of tampering per case: another device key, ballot
// style, election or context; an identifier of another voter; another s;
// and malformed members of the answer.
func TestCheckCredential(t *testing.T) {
	sk, err := elgamal.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	el := &ballot.Election{Manifest: &ballot.Manifest{ElectionID: "e-1"}, PublicKey: sk.Public(), ExtendedHash: [32]byte{7}}
	dev, dev2, ps, other := edKey(t), edKey(t), [32]byte{2}, [32]byte{3}
	answer := func(change func(c *revote.Credential), v [32]byte) *client.VoterToken {
		id, s, proof, err := revote.EncryptID(el.PublicKey, revote.IDProofContext(el.ExtendedHash, dev), revote.VoterID("e-1", v), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c := &revote.Credential{ElectionID: "e-1", Context: el.ExtendedHash, ID: id, Style: "st-1", DeviceKey: dev, KeyID: "idp-0011223344556677", Proof: proof}
		if change != nil {
			change(c)
		}
		return &client.VoterToken{RevoteCredential: b64url.EncodeToString(c.Encode()), RevoteCredentialSig: b64url.EncodeToString(bytes.Repeat([]byte{9}, 64)),
			RevoteS: b64url.EncodeToString(s.Bytes())}
	}
	good := answer(nil, ps)
	c, err := CheckCredential(el, good, ps, "st-1", dev)
	if err != nil || c.Cred.Style != "st-1" || c.Sig != [64]byte(bytes.Repeat([]byte{9}, 64)) {
		t.Fatalf("genuine credential: %+v, %v", c, err)
	}
	otherS := *answer(nil, ps)
	otherS.RevoteCredential = good.RevoteCredential
	for name, tc := range map[string]struct {
		tok  *client.VoterToken
		want string
	}{
		"another device key": {answer(func(c *revote.Credential) { c.DeviceKey = dev2 }, ps), "another device key"},
		"another style":      {answer(func(c *revote.Credential) { c.Style = "st-2" }, ps), "another device key, ballot style"},
		"another election":   {answer(func(c *revote.Credential) { c.ElectionID = "e-2" }, ps), "or election"},
		"another context":    {answer(func(c *revote.Credential) { c.Context = [32]byte{8} }, ps), "or election"},
		"another voter":      {answer(nil, other), "does not open to the voter's identifier"},
		"another s":          {&otherS, "does not open to the voter's identifier"},
		"no credential":      {&client.VoterToken{RevoteCredentialSig: good.RevoteCredentialSig, RevoteS: good.RevoteS}, "answered no credential"},
		"short signature":    {&client.VoterToken{RevoteCredential: good.RevoteCredential, RevoteCredentialSig: "AAAA", RevoteS: good.RevoteS}, "malformed credential signature"},
		"s not canonical":    {&client.VoterToken{RevoteCredential: good.RevoteCredential, RevoteCredentialSig: good.RevoteCredentialSig, RevoteS: b64url.EncodeToString(bytes.Repeat([]byte{0xff}, 32))}, "s:"},
		"s not base64url":    {&client.VoterToken{RevoteCredential: good.RevoteCredential, RevoteCredentialSig: good.RevoteCredentialSig, RevoteS: "!!"}, "malformed s"},
	} {
		if _, err := CheckCredential(el, tc.tok, ps, "st-1", dev); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

func edKey(t *testing.T) [32]byte {
	p, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(p)
}
