package token

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type detRand struct{ n byte }

func (r *detRand) Read(p []byte) (int, error) {
	for i := range p {
		r.n++
		p[i] = r.n
	}
	return len(p), nil
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func key(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

func setup(t testing.TB, now *time.Time) (*Issuer, *Verifier, Grant) {
	t.Helper()
	clock := func() time.Time { return *now }
	iss, err := NewIssuer(IssuerConfig{Issuer: "https://id.test", Audience: "evote-ballot-box", TTL: 10 * time.Minute, Now: clock, Rand: &detRand{}}, key("idp-1"))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := NewVerifier(VerifierConfig{Keys: iss.KeySet(), Issuer: "https://id.test", Audience: "evote-ballot-box", ElectionID: "kg-2026-parl", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	g := Grant{ElectionID: "kg-2026-parl", BallotStyle: "KG-ABR-01", DeviceKey: key("device").Public().(ed25519.PublicKey)}
	g.Pseudonym[0], g.ContextHash[31] = 0xaa, 0x55
	return iss, ver, g
}

func TestRoundTrip(t *testing.T) {
	now := t0
	iss, ver, g := setup(t, &now)
	tok, issued, err := iss.Issue(g)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ver.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.ElectionID != g.ElectionID || c.Pseudonym != g.Pseudonym || c.BallotStyle != g.BallotStyle ||
		!c.DeviceKey.Equal(g.DeviceKey) || c.ContextHash != g.ContextHash || c.TokenID != issued.TokenID ||
		!c.ExpiresAt.Equal(t0.Add(10*time.Minute)) || c.KeyID != iss.CurrentKeyID() {
		t.Errorf("claims %+v differ from grant %+v", c, g)
	}
	// The token carries no identity data: its JSON has only the documented claims.
	parts := strings.Split(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	json.Unmarshal(raw, &m)
	for k := range m {
		if !strings.Contains(" iss sub aud exp nbf iat jti eid bst ctx cnf ", " "+k+" ") {
			t.Errorf("unexpected claim %q", k)
		}
	}
}

func TestRotation(t *testing.T) {
	now := t0
	iss, _, g := setup(t, &now)
	old, _, _ := iss.Issue(g)
	oldKid := iss.CurrentKeyID()
	if err := iss.AddKey(key("idp-2")); err != nil {
		t.Fatal(err)
	}
	if iss.CurrentKeyID() == oldKid || len(iss.KeySet()) != 2 {
		t.Fatal("rotation did not add a key")
	}
	fresh, c, _ := iss.Issue(g)
	if c.KeyID == oldKid {
		t.Fatal("new token signed with old key")
	}
	ver, _ := NewVerifier(VerifierConfig{Keys: iss.KeySet(), Issuer: "https://id.test", Audience: "evote-ballot-box", ElectionID: "kg-2026-parl", Now: func() time.Time { return now }})
	for _, tok := range []string{old, fresh} {
		if _, err := ver.Verify(tok); err != nil {
			t.Errorf("after rotation: %v", err)
		}
	}
	// A verifier that only knows the new key refuses the old token.
	only := map[string]ed25519.PublicKey{c.KeyID: iss.KeySet()[c.KeyID]}
	ver2, _ := NewVerifier(VerifierConfig{Keys: only, Issuer: "https://id.test", Audience: "evote-ballot-box", ElectionID: "kg-2026-parl", Now: func() time.Time { return now }})
	if _, err := ver2.Verify(old); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old kid: %v", err)
	}
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// resign builds a token with the given header and claims signed by priv.
func resign(t *testing.T, header map[string]any, claims map[string]any, priv ed25519.PrivateKey) string {
	t.Helper()
	in := b64(header) + "." + b64(claims)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

func decodeParts(tok string) (map[string]any, map[string]any) {
	p := strings.Split(tok, ".")
	var h, c map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(p[0])
	cb, _ := base64.RawURLEncoding.DecodeString(p[1])
	json.Unmarshal(hb, &h)
	json.Unmarshal(cb, &c)
	return h, c
}

func TestRejections(t *testing.T) {
	now := t0
	iss, ver, g := setup(t, &now)
	good, _, _ := iss.Issue(g)
	h, c := decodeParts(good)
	priv := key("idp-1")
	pub := priv.Public().(ed25519.PublicKey)
	clone := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	with := func(m map[string]any, k string, v any) map[string]any {
		o := clone(m)
		if v == nil {
			delete(o, k)
		} else {
			o[k] = v
		}
		return o
	}

	// The helper re-signs faithfully: an unchanged header and body verify, so
	// each rejection below is caused by its one change.
	if _, err := ver.Verify(resign(t, h, c, priv)); err != nil {
		t.Fatalf("re-signed genuine token: %v", err)
	}
	cases := map[string]string{}
	// alg none, with and without an empty signature.
	hn := with(h, "alg", "none")
	cases["alg none"] = b64(hn) + "." + b64(c) + "."
	// HS256 with the Ed25519 public key as HMAC secret (algorithm confusion).
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c))
	hs.Header["kid"], hs.Header["typ"] = h["kid"], Type
	if s, err := hs.SignedString([]byte(pub)); err == nil {
		cases["HS256 with public key"] = s
	} else {
		t.Fatal(err)
	}
	cases["wrong audience"] = resign(t, h, with(c, "aud", []string{"other-service"}), priv)
	cases["two audiences"] = resign(t, h, with(c, "aud", []string{"evote-ballot-box", "other"}), priv)
	cases["wrong issuer"] = resign(t, h, with(c, "iss", "https://evil.test"), priv)
	cases["other election"] = resign(t, h, with(c, "eid", "kg-2027-pres"), priv)
	cases["not yet valid"] = resign(t, h, with(c, "nbf", float64(t0.Add(time.Hour).Unix())), priv)
	cases["no nbf"] = resign(t, h, with(c, "nbf", nil), priv)
	cases["no exp"] = resign(t, h, with(c, "exp", nil), priv)
	cases["issued in future"] = resign(t, h, with(c, "iat", float64(t0.Add(time.Hour).Unix())), priv)
	cases["lifetime too long"] = resign(t, h, with(c, "exp", float64(t0.Add(3*time.Hour).Unix())), priv)
	cases["wrong typ"] = resign(t, with(h, "typ", "JWT"), c, priv)
	cases["unknown kid"] = resign(t, with(h, "kid", "idp-0000000000000000"), c, priv)
	cases["signed by another key"] = resign(t, h, c, key("attacker"))
	cases["uppercase sub"] = resign(t, h, with(c, "sub", strings.ToUpper(c["sub"].(string))), priv)
	cases["short sub"] = resign(t, h, with(c, "sub", "aa"), priv)
	cases["bad jti"] = resign(t, h, with(c, "jti", "x"), priv)
	cases["bad cnf kty"] = resign(t, h, with(c, "cnf", map[string]any{"jwk": map[string]any{"kty": "EC", "crv": "Ed25519", "x": "AA"}}), priv)
	cases["bad cnf x"] = resign(t, h, with(c, "cnf", map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}), priv)
	cases["no cnf"] = resign(t, h, with(c, "cnf", nil), priv)
	cases["too long"] = good + strings.Repeat("A", MaxTokenLen)
	cases["garbage"] = "not.a.token"
	cases["empty"] = ""

	// Tampered claims: change the payload of a genuine token, keep its signature.
	p := strings.Split(good, ".")
	for _, field := range []string{"bst", "sub", "eid", "exp"} {
		var v any = "KG-ABR-02"
		switch field {
		case "sub":
			v = strings.Repeat("bb", 32)
		case "eid":
			v = "kg-2026-parl2"
		case "exp":
			v = float64(t0.Add(time.Hour).Unix())
		}
		cases["tampered "+field] = p[0] + "." + b64(with(c, field, v)) + "." + p[2]
	}
	// A flipped signature bit.
	sig, _ := base64.RawURLEncoding.DecodeString(p[2])
	sig[5] ^= 1
	cases["tampered signature"] = p[0] + "." + p[1] + "." + base64.RawURLEncoding.EncodeToString(sig)

	for name, tok := range cases {
		if _, err := ver.Verify(tok); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := ver.Verify(cases["other election"]); !errors.Is(err, ErrWrongElection) {
		t.Errorf("other election: want ErrWrongElection")
	}

	// Expired: the genuine token after its lifetime plus leeway.
	now = t0.Add(10*time.Minute + 31*time.Second)
	if _, err := ver.Verify(good); !errors.Is(err, ErrExpired) || !errors.Is(err, ErrInvalid) {
		t.Errorf("expired: %v", err)
	}
	// Within leeway it still verifies, so the test above is not vacuous.
	now = t0.Add(10*time.Minute + 29*time.Second)
	if _, err := ver.Verify(good); err != nil {
		t.Errorf("within leeway: %v", err)
	}
}

func TestConfigChecks(t *testing.T) {
	if _, err := NewIssuer(IssuerConfig{Issuer: "i", Audience: "a", TTL: 3 * time.Hour}, key("k")); err == nil {
		t.Error("3 h lifetime accepted")
	}
	if _, err := NewIssuer(IssuerConfig{Issuer: "i", Audience: "a"}, ed25519.PrivateKey{1}); err == nil {
		t.Error("short key accepted")
	}
	pub := key("k").Public().(ed25519.PublicKey)
	if _, err := NewVerifier(VerifierConfig{Keys: map[string]ed25519.PublicKey{"idp-0000000000000000": pub}, Issuer: "i", Audience: "a", ElectionID: "e"}); err == nil {
		t.Error("key under a kid not derived from it accepted")
	}
	iss, _ := NewIssuer(IssuerConfig{Issuer: "i", Audience: "a"}, key("k"))
	if _, _, err := iss.Issue(Grant{ElectionID: "e", BallotStyle: "b", DeviceKey: []byte{1, 2}}); err == nil {
		t.Error("short device key accepted")
	}
	if _, _, err := iss.Issue(Grant{ElectionID: "bad id!", BallotStyle: "b", DeviceKey: pub}); err == nil {
		t.Error("bad election id accepted")
	}
}

// TestKeyWindows: a verifier given key windows refuses a token whose iat
// lies outside its key's window (a retired key, or one not yet valid), and
// refuses a window for a key it does not have.
func TestKeyWindows(t *testing.T) {
	now := t0
	iss, _, g := setup(t, &now)
	kid := iss.CurrentKeyID()
	clock := func() time.Time { return now }
	cfg := VerifierConfig{Keys: iss.KeySet(), Issuer: "https://id.test", Audience: "evote-ballot-box", ElectionID: "kg-2026-parl", Now: clock}
	tok, _, _ := iss.Issue(g)
	for name, tc := range map[string]struct {
		w  KeyWindow
		ok bool
	}{
		"current":           {KeyWindow{From: t0.Add(-time.Hour)}, true},
		"retired at iat":    {KeyWindow{From: t0.Add(-time.Hour), Until: t0}, true},
		"retired before":    {KeyWindow{From: t0.Add(-time.Hour), Until: t0.Add(-time.Second)}, false},
		"valid only later":  {KeyWindow{From: t0.Add(time.Second)}, false},
		"valid from at iat": {KeyWindow{From: t0}, true},
	} {
		cfg.Windows = map[string]KeyWindow{kid: tc.w}
		v, err := NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(tok)
		if tc.ok && err != nil || !tc.ok && (!errors.Is(err, ErrKeyWindow) || !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	cfg.Windows = map[string]KeyWindow{"idp-0000000000000000": {}}
	if _, err := NewVerifier(cfg); err == nil {
		t.Error("window for an unknown key accepted")
	}
}

// TestUnknownClaims (issue 16, finding 9): spec §8.6 lists every claim and
// header parameter of a voting token; a token carrying any other, at the
// top level or inside cnf, is refused, even when correctly signed.
func TestUnknownClaims(t *testing.T) {
	now := t0
	iss, ver, g := setup(t, &now)
	good, _, _ := iss.Issue(g)
	h, c := decodeParts(good)
	priv := key("idp-1")
	if _, err := ver.Verify(resign(t, h, c, priv)); err != nil {
		t.Fatalf("re-signed genuine token: %v", err)
	}
	cnf := c["cnf"].(map[string]any)
	jwk := cnf["jwk"].(map[string]any)
	merge := func(m map[string]any, k string, v any) map[string]any {
		o := map[string]any{}
		for k, v := range m {
			o[k] = v
		}
		o[k] = v
		return o
	}
	cases := map[string]string{
		"extra claim":          resign(t, h, merge(c, "role", "admin"), priv),
		"extra claim in cnf":   resign(t, h, merge(c, "cnf", merge(cnf, "kid", "x")), priv),
		"extra member of jwk":  resign(t, h, merge(c, "cnf", map[string]any{"jwk": merge(jwk, "d", "AAAA")}), priv),
		"extra header param":   resign(t, merge(h, "jku", "https://evil.test/keys"), c, priv),
		"critical header":      resign(t, merge(h, "crit", []string{"exp"}), c, priv),
		"claim named in upper": resign(t, h, merge(c, "EID", "x"), priv),
	}
	for name, tok := range cases {
		if _, err := ver.Verify(tok); !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrUnknownClaim) {
			t.Errorf("%s: Verify = %v, want ErrUnknownClaim", name, err)
		}
	}
}

// TestMarkClaim: a mark's token (spec §8.6, §15.16.4) carries "mark": true
// and verifies as one; a sign-in's token carries no "mark"; a token whose
// "mark" is false or not a boolean is refused (false would be a second
// encoding of a token without it).
func TestMarkClaim(t *testing.T) {
	now := t0
	iss, ver, g := setup(t, &now)
	plain, _, _ := iss.Issue(g)
	g.Mark = true
	marked, issued, err := iss.Issue(g)
	if err != nil || !issued.Mark {
		t.Fatalf("Issue of a mark's token: %+v, %v", issued, err)
	}
	for tok, want := range map[string]bool{plain: false, marked: true} {
		c, err := ver.Verify(tok)
		if err != nil || c.Mark != want {
			t.Errorf("Verify: mark %v, %v; want mark %v", c != nil && c.Mark, err, want)
		}
		if _, cl := decodeParts(tok); (cl["mark"] == true) != want || (!want && cl["mark"] != nil) {
			t.Errorf("claims %v: mark claim, want %v", cl, want)
		}
	}
	h, c := decodeParts(marked)
	for _, v := range []any{false, "true", 1} {
		c["mark"] = v
		if _, err := ver.Verify(resign(t, h, c, key("idp-1"))); !errors.Is(err, ErrInvalid) {
			t.Errorf("mark %#v: Verify = %v, want ErrInvalid", v, err)
		}
	}
}
