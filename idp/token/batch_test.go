package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"evote/crypto/group"
	"evote/crypto/sig"
)

// referenceVerify is Verify as it was before VerifyBatch: golang-jwt's
// ParseWithClaims with crypto/ed25519 checking the signature. The tests
// compare the batch against it token by token.
func referenceVerify(v *Verifier, tok string) (*Claims, error) {
	if len(tok) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	var body jwtClaims
	t, err := v.parser.ParseWithClaims(tok, &body, func(t *jwt.Token) (any, error) { return v.keyFor(t) })
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w: %w", ErrInvalid, ErrExpired, err)
		}
		if errors.Is(err, ErrUnknownKey) {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrUnknownKey)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if !t.Valid {
		return nil, ErrInvalid
	}
	if body.ElectionID != v.electionID {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrWrongElection)
	}
	c, err := v.decode(t, &body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}

// sentinels are the errors callers may test for with errors.Is: the
// package's own and golang-jwt's.
var sentinels = []error{
	ErrInvalid, ErrExpired, ErrWrongElection, ErrUnknownKey,
	jwt.ErrTokenMalformed, jwt.ErrTokenUnverifiable, jwt.ErrTokenSignatureInvalid,
	jwt.ErrTokenInvalidClaims, jwt.ErrTokenExpired, jwt.ErrTokenNotValidYet,
	jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidIssuer,
	jwt.ErrTokenRequiredClaimMissing,
}

// sameVerdict reports how got differs from want in claims or in the
// sentinels its error wraps, or "" if it does not.
func sameVerdict(gotC *Claims, got error, wantC *Claims, want error) string {
	if (got == nil) != (want == nil) || !reflect.DeepEqual(gotC, wantC) {
		return fmt.Sprintf("got (%+v, %v), want (%+v, %v)", gotC, got, wantC, want)
	}
	for _, s := range sentinels {
		if errors.Is(got, s) != errors.Is(want, s) {
			return fmt.Sprintf("got %v, want %v: they differ on %v", got, want, s)
		}
	}
	return ""
}

func TestVerifyBatch(t *testing.T) {
	now := t0
	iss, _, g := setup(t, &now)
	var toks []string
	var issued []*Claims
	for i := 0; i < 6; i++ {
		g.Pseudonym[1] = byte(i)
		tok, c, err := iss.Issue(g)
		if err != nil {
			t.Fatal(err)
		}
		toks, issued = append(toks, tok), append(issued, c)
	}
	// An expired token: issued 20 minutes earlier with a 10-minute lifetime.
	now = t0.Add(-20 * time.Minute)
	expired, _, _ := iss.Issue(g)
	now = t0
	// Tokens under a second key, so the batch mixes keys.
	if err := iss.AddKey(key("idp-2")); err != nil {
		t.Fatal(err)
	}
	for i := 6; i < 9; i++ {
		g.Pseudonym[1] = byte(i)
		tok, c, _ := iss.Issue(g)
		toks, issued = append(toks, tok), append(issued, c)
	}
	ver, err := NewVerifier(VerifierConfig{Keys: iss.KeySet(), Issuer: "https://id.test", Audience: "evote-ballot-box", ElectionID: "kg-2026-parl", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	now = t0.Add(time.Minute)

	h, c := decodeParts(toks[0])
	p := strings.Split(toks[0], ".")
	flip := func(tok string) string {
		q := strings.Split(tok, ".")
		s, _ := base64.RawURLEncoding.DecodeString(q[2])
		s[40] ^= 1 // in S, which stays canonical: only the equation fails
		return q[0] + "." + q[1] + "." + base64.RawURLEncoding.EncodeToString(s)
	}
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c))
	hs.Header["kid"], hs.Header["typ"] = h["kid"], Type
	hsTok, err := hs.SignedString([]byte(iss.KeySet()[h["kid"].(string)]))
	if err != nil {
		t.Fatal(err)
	}
	hn := map[string]any{"alg": "none", "typ": Type, "kid": h["kid"]}
	bad := map[string]struct {
		tok  string
		want []error // sentinels the error must wrap besides ErrInvalid
	}{
		"flipped signature bit":       {flip(toks[1]), []error{jwt.ErrTokenSignatureInvalid, sig.ErrInvalidSignature}},
		"flipped bit, second key":     {flip(toks[7]), []error{jwt.ErrTokenSignatureInvalid, sig.ErrInvalidSignature}},
		"unknown kid":                 {resign(t, map[string]any{"alg": "EdDSA", "typ": Type, "kid": "idp-0000000000000000"}, c, key("idp-1")), []error{ErrUnknownKey}},
		"expired":                     {expired, []error{ErrExpired, jwt.ErrTokenExpired}},
		"expired, flipped signature":  {flip(expired), []error{jwt.ErrTokenSignatureInvalid}},
		"another key under known kid": {resign(t, h, c, key("attacker")), []error{jwt.ErrTokenSignatureInvalid, sig.ErrInvalidSignature}},
		"alg none":                    {b64(hn) + "." + p[1] + ".", []error{jwt.ErrTokenSignatureInvalid}},
		"alg none, with signature":    {b64(hn) + "." + p[1] + "." + p[2], []error{jwt.ErrTokenSignatureInvalid}},
		"HS256 with public key":       {hsTok, []error{jwt.ErrTokenSignatureInvalid}},
		"other election":              {resign(t, h, withClaim(c, "eid", "kg-2027-pres"), key("idp-1")), []error{ErrWrongElection}},
		"short signature":             {p[0] + "." + p[1] + "." + p[2][:40], []error{jwt.ErrTokenSignatureInvalid, sig.ErrMalformed}},
		"garbage":                     {"not.a.token", []error{jwt.ErrTokenMalformed}},
	}
	// Interleave: valid, bad, valid, bad, ... and a valid token twice.
	var batch []string
	var names []string
	var wantClaims []*Claims
	i := 0
	for name, b := range bad {
		if i < len(toks) {
			batch, names, wantClaims = append(batch, toks[i]), append(names, ""), append(wantClaims, issued[i])
			i++
		}
		batch, names, wantClaims = append(batch, b.tok), append(names, name), append(wantClaims, nil)
	}
	for ; i < len(toks); i++ {
		batch, names, wantClaims = append(batch, toks[i]), append(names, ""), append(wantClaims, issued[i])
	}
	batch, names, wantClaims = append(batch, toks[0]), append(names, ""), append(wantClaims, issued[0])

	cs, errs := ver.VerifyBatch(batch)
	if len(cs) != len(batch) || len(errs) != len(batch) {
		t.Fatalf("got %d claims and %d errors for %d tokens", len(cs), len(errs), len(batch))
	}
	for j, tok := range batch {
		if names[j] == "" {
			if errs[j] != nil || !claimsEqual(cs[j], wantClaims[j]) {
				t.Errorf("valid token %d: (%+v, %v), want claims %+v", j, cs[j], errs[j], wantClaims[j])
			}
		} else {
			if cs[j] != nil || !errors.Is(errs[j], ErrInvalid) {
				t.Errorf("%s: (%+v, %v), want an error wrapping ErrInvalid", names[j], cs[j], errs[j])
			}
			for _, s := range bad[names[j]].want {
				if !errors.Is(errs[j], s) {
					t.Errorf("%s: %v does not wrap %v", names[j], errs[j], s)
				}
			}
		}
		// Each token gets what Verify gives it alone, and what the
		// golang-jwt path with crypto/ed25519 gave it.
		c1, e1 := ver.Verify(tok)
		if d := sameVerdict(cs[j], errs[j], c1, e1); d != "" {
			t.Errorf("token %d (%s): batch and Verify differ: %s", j, names[j], d)
		}
		c2, e2 := referenceVerify(ver, tok)
		if d := sameVerdict(cs[j], errs[j], c2, e2); d != "" {
			t.Errorf("token %d (%s): batch and golang-jwt ParseWithClaims differ: %s", j, names[j], d)
		}
	}
	// A signature failure takes precedence over expiry, as in ParseWithClaims.
	if j := indexOf(names, "expired, flipped signature"); errors.Is(errs[j], ErrExpired) {
		t.Errorf("forged expired token reported as expired: %v", errs[j])
	}

	// All valid: nothing but claims; empty batch: nothing.
	cs, errs = ver.VerifyBatch(toks)
	for j := range toks {
		if errs[j] != nil || !claimsEqual(cs[j], issued[j]) {
			t.Errorf("all-valid batch, token %d: (%+v, %v)", j, cs[j], errs[j])
		}
	}
	if cs, errs := ver.VerifyBatch(nil); len(cs) != 0 || len(errs) != 0 {
		t.Errorf("empty batch: %v %v", cs, errs)
	}
}

// claimsEqual compares decoded claims with issued ones (whose times may be
// in another location).
func claimsEqual(got, want *Claims) bool {
	if got == nil || want == nil {
		return got == want
	}
	g, w := *got, *want
	if !g.IssuedAt.Equal(w.IssuedAt) || !g.NotBefore.Equal(w.NotBefore) || !g.ExpiresAt.Equal(w.ExpiresAt) {
		return false
	}
	g.IssuedAt, g.NotBefore, g.ExpiresAt = w.IssuedAt, w.NotBefore, w.ExpiresAt
	return reflect.DeepEqual(g, w)
}

// withClaim returns a copy of c with claim k set to v.
func withClaim(c map[string]any, k string, v any) map[string]any {
	o := make(map[string]any, len(c))
	for kk, vv := range c {
		o[kk] = vv
	}
	o[k] = v
	return o
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	panic("not found: " + x)
}

// FuzzVerifyBatch: an arbitrary string batched with a genuine token gets the
// verdict Verify and the golang-jwt path give it, and does not change the
// genuine token's.
func FuzzVerifyBatch(f *testing.F) {
	now := t0
	iss, ver, g := setup(f, &now)
	good, _, _ := iss.Issue(g)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(good[:len(good)-2])
	f.Fuzz(func(t *testing.T, s string) {
		cs, errs := ver.VerifyBatch([]string{good, s})
		if errs[0] != nil {
			t.Fatalf("genuine token refused beside %q: %v", s, errs[0])
		}
		c1, e1 := ver.Verify(s)
		if d := sameVerdict(cs[1], errs[1], c1, e1); d != "" {
			t.Fatalf("%q: batch and Verify differ: %s", s, d)
		}
		c2, e2 := referenceVerify(ver, s)
		if d := sameVerdict(cs[1], errs[1], c2, e2); d != "" {
			t.Fatalf("%q: batch and golang-jwt ParseWithClaims differ: %s", s, d)
		}
	})
}

// BenchmarkScalarMult is crypto/group's unit SM, repeated here so that the
// ratios of the verification benchmarks can be read from one run.
func BenchmarkScalarMult(b *testing.B) {
	p := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	e := new(group.Element)
	for b.Loop() {
		e.ScalarMult(s, p)
	}
}

// BenchmarkVerifyBatch verifies 32 distinct tokens under one key, as the
// ballot box would for concurrent casts, and reports the cost per token.
func BenchmarkVerifyBatch(b *testing.B) {
	now := t0
	iss, ver, g := setup(b, &now)
	toks := make([]string, 32)
	for i := range toks {
		g.Pseudonym[1] = byte(i)
		toks[i], _, _ = iss.Issue(g)
	}
	now = now.Add(time.Minute)
	for b.Loop() {
		_, errs := ver.VerifyBatch(toks)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(toks)), "ns/token")
}

// TestVerifierRefusesWeakKeys: a key set holding a key that the strict
// rules refuse (small order, non-canonical) is refused when the verifier is
// built, not found out token by token.
func TestVerifierRefusesWeakKeys(t *testing.T) {
	for name, k := range map[string][]byte{
		"identity (small order)": append([]byte{1}, make([]byte, 31)...),
		"non-canonical":          append(bytes.Repeat([]byte{0xff}, 31), 0x7f),
	} {
		_, err := NewVerifier(VerifierConfig{Keys: map[string]ed25519.PublicKey{KeyID(k): k}, Issuer: "https://idp.example", Audience: "ballot-box", ElectionID: "kg-2027"})
		if err == nil {
			t.Errorf("%s key accepted in the key set", name)
		}
	}
}
