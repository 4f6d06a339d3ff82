package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"evote/crypto/sig"
)

// Verifier checks voting tokens the way the ballot box does.
type Verifier struct {
	keys       map[string]ed25519.PublicKey
	windows    map[string]KeyWindow
	issuer     string
	audience   string
	electionID string
	leeway     time.Duration
	now        func() time.Time
	parser     *jwt.Parser    // decodes tokens; it checks no signature (see VerifyBatch)
	validator  *jwt.Validator // the claims checks of parser's options
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Keys map[string]ed25519.PublicKey // the identity service's key set, kid -> key
	// Windows, if set, bound when each key may have signed: a token whose
	// "iat" lies outside its key's window is refused (ErrKeyWindow). A key
	// without a window is not bounded. The ballot box takes them from the
	// identity key set on the board (spec/08-identity.md §8.8.2).
	Windows    map[string]KeyWindow
	Issuer     string        // expected "iss"
	Audience   string        // expected "aud" (the ballot box's own name)
	ElectionID string        // expected "eid"
	Leeway     time.Duration // clock skew allowed on exp/nbf/iat; default 30 s, at most 2 min
	Now        func() time.Time
}

// KeyWindow is when a key may sign tokens: From ≤ iat, and iat ≤ Until
// unless Until is zero (the current key). No clock leeway applies: the
// window and "iat" come from the same clock, the identity service's.
type KeyWindow struct {
	From, Until time.Time
}

func (w KeyWindow) contains(t time.Time) bool {
	return !t.Before(w.From) && (w.Until.IsZero() || !t.After(w.Until))
}

// NewVerifier validates cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if err := validKeySet(cfg.Keys); err != nil {
		return nil, err
	}
	if cfg.Issuer == "" || cfg.Audience == "" || !ValidElectionID(cfg.ElectionID) {
		return nil, errors.New("token: verifier needs issuer, audience and a well-formed election id")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Leeway < 0 || cfg.Leeway > 2*time.Minute {
		return nil, errors.New("token: leeway outside (0, 2 min]")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	keys := make(map[string]ed25519.PublicKey, len(cfg.Keys))
	for k, v := range cfg.Keys {
		keys[k] = v
	}
	windows := make(map[string]KeyWindow, len(cfg.Windows))
	for k, w := range cfg.Windows {
		if _, ok := keys[k]; !ok {
			return nil, fmt.Errorf("token: window for key %q, absent from the key set", k)
		}
		windows[k] = w
	}
	v := &Verifier{keys: keys, windows: windows, issuer: cfg.Issuer, audience: cfg.Audience, electionID: cfg.ElectionID, leeway: cfg.Leeway, now: cfg.Now}
	// parser only decodes (ParseUnverified uses the decoding options);
	// validator makes the claims checks. The algorithm is pinned by parse
	// and keyFor: no "none", no HS256 with a public key. WithValidMethods
	// pins it too should parser ever verify a token itself.
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithAudience(cfg.Audience),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	}
	v.parser = jwt.NewParser(opts...)
	v.validator = jwt.NewValidator(opts...)
	return v, nil
}

// keyFor returns the public key named by t's kid after checking t's algorithm
// and typ.
func (v *Verifier) keyFor(t *jwt.Token) (ed25519.PublicKey, error) {
	if t.Method != jwt.SigningMethodEdDSA {
		return nil, fmt.Errorf("algorithm %v not allowed", t.Header["alg"])
	}
	if typ, _ := t.Header["typ"].(string); typ != Type {
		return nil, fmt.Errorf("type %q is not %q", typ, Type)
	}
	kid, _ := t.Header["kid"].(string)
	k, ok := v.keys[kid]
	if !ok {
		return nil, ErrUnknownKey
	}
	return k, nil
}

// Verify checks tok: size, EdDSA signature under the key named by kid, typ,
// issuer, audience, exp/nbf/iat with leeway, election id, the form of
// every claim, and that iat lies in the key's window if it has one; it returns the decoded claims or an error wrapping ErrInvalid.
// The signature is checked under the strict cofactored rules of crypto/sig,
// which every signature of crypto/ed25519 by an honest key passes. Verify is
// VerifyBatch of one token.
func (v *Verifier) Verify(tok string) (*Claims, error) {
	cs, errs := v.VerifyBatch([]string{tok})
	return cs[0], errs[0]
}

// pending is a token of a batch that passed every check that precedes the
// signature, in the order golang-jwt's Parser.ParseWithClaims makes them.
type pending struct {
	tok  *jwt.Token
	body jwtClaims
	key  ed25519.PublicKey // the key named by the token's kid
}

// VerifyBatch checks every token of toks exactly as Verify does and returns,
// index by index, its claims or its error (one of the two is nil). The
// signatures of all tokens that reach the signature check are verified
// together with one sig.VerifyBatch: tokens from the identity service share a
// few keys, so a batch costs much less per token than Verify. The checks are
// made in Verify's order (decoding, algorithm, typ and kid, signature, then
// claims), so each token gets the error Verify would give it and a bad token
// does not affect the others.
func (v *Verifier) VerifyBatch(toks []string) ([]*Claims, []error) {
	claims := make([]*Claims, len(toks))
	errs := make([]error, len(toks))
	ps := make([]pending, len(toks))
	items := make([]sig.Item, 0, len(toks))
	idx := make([]int, 0, len(toks)) // idx[j]: the token of items[j]
	for i, tok := range toks {
		p := &ps[i]
		msg, err := v.parse(tok, p)
		if err != nil {
			errs[i] = err
			continue
		}
		items = append(items, sig.Item{PublicKey: p.key, Message: msg, Signature: p.tok.Signature})
		idx = append(idx, i)
	}
	for j, e := range sig.VerifyEach(items) {
		if e != nil {
			errs[idx[j]] = fmt.Errorf("%w: %w: %w", ErrInvalid, jwt.ErrTokenSignatureInvalid, e)
		}
	}
	for _, i := range idx {
		if errs[i] == nil {
			claims[i], errs[i] = v.checkClaims(ps[i].tok, &ps[i].body)
		}
	}
	return claims, errs
}

// parse makes the checks that precede the signature: size, decoding, the
// pinned algorithm, typ and a known kid. It fills p and returns the signed
// message.
func (v *Verifier) parse(tok string, p *pending) ([]byte, error) {
	if len(tok) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	t, parts, err := v.parser.ParseUnverified(tok, &p.body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if alg := t.Method.Alg(); alg != Algorithm {
		return nil, fmt.Errorf("%w: %w: signing method %v is invalid", ErrInvalid, jwt.ErrTokenSignatureInvalid, alg)
	}
	k, err := v.keyFor(t)
	if errors.Is(err, ErrUnknownKey) {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrUnknownKey)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrInvalid, jwt.ErrTokenUnverifiable, err)
	}
	if err := onlyKnown(t.Header, parts[1]); err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrInvalid, ErrUnknownClaim, err)
	}
	p.tok, p.key = t, k
	// The signed message is the header and claims segments as sent: the
	// token up to its second dot.
	return []byte(tok[:len(parts[0])+1+len(parts[1])]), nil
}

// The header parameters and claims of spec §8.6, and the members of cnf
// and of its jwk: any other is refused. Names are compared exactly (the
// JSON decoder of the claims matches names without regard to case).
var (
	knownHeader = []string{"alg", "kid", "typ"}
	knownClaims = []string{"iss", "aud", "sub", "eid", "bst", "ctx", "cnf", "jti", "iat", "nbf", "exp", "mark"}
	knownCnf    = []string{"jwk"}
	knownJWK    = []string{"kty", "crv", "x"}
)

// onlyKnown checks that the header and the claims segment (base64url)
// hold only the names of spec §8.6.
func onlyKnown(header map[string]any, claims string) error {
	for k := range header {
		if !slices.Contains(knownHeader, k) {
			return fmt.Errorf("header parameter %q", k)
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(claims)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		return err
	}
	if err := namesIn(body, knownClaims, ""); err != nil {
		return err
	}
	// "mark" is present only as true: false would be a second encoding
	// of a token without it.
	if m, ok := body["mark"]; ok && string(m) != "true" {
		return fmt.Errorf("claim \"mark\" is %s, not true", m)
	}
	var cnf map[string]json.RawMessage
	if err := json.Unmarshal(body["cnf"], &cnf); err != nil || cnf == nil {
		return nil // the form of cnf is checked with the claims
	}
	if err := namesIn(cnf, knownCnf, "cnf."); err != nil {
		return err
	}
	var jwk map[string]json.RawMessage
	if err := json.Unmarshal(cnf["jwk"], &jwk); err != nil || jwk == nil {
		return nil
	}
	return namesIn(jwk, knownJWK, "cnf.jwk.")
}

func namesIn(m map[string]json.RawMessage, known []string, prefix string) error {
	for k := range m {
		if !slices.Contains(known, k) {
			return fmt.Errorf("claim %q", prefix+k)
		}
	}
	return nil
}

// checkClaims makes the checks that follow the signature: the registered
// claims (exp, nbf, iat with leeway, iss, aud), the election id and the form
// of every claim.
func (v *Verifier) checkClaims(t *jwt.Token, body *jwtClaims) (*Claims, error) {
	if err := v.validator.Validate(body); err != nil {
		err = fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err)
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, fmt.Errorf("%w: %w: %w", ErrInvalid, ErrExpired, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if body.ElectionID != v.electionID {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, ErrWrongElection)
	}
	c, err := v.decode(t, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if w, ok := v.windows[c.KeyID]; ok && !w.contains(c.IssuedAt) {
		return nil, fmt.Errorf("%w: %w: key %s, iat %d", ErrInvalid, ErrKeyWindow, c.KeyID, c.IssuedAt.Unix())
	}
	return c, nil
}

func (v *Verifier) decode(t *jwt.Token, b *jwtClaims) (*Claims, error) {
	c := &Claims{Issuer: b.Issuer, Audience: v.audience, ElectionID: b.ElectionID, BallotStyle: b.BallotStyle, TokenID: b.ID}
	c.KeyID, _ = t.Header["kid"].(string)
	if len(b.Audience) != 1 {
		return nil, errors.New("token must name exactly one audience")
	}
	if !kidRe.MatchString(c.KeyID) || !tokenIDRe.MatchString(c.TokenID) || !ValidBallotStyle(c.BallotStyle) {
		return nil, errors.New("malformed kid, jti or ballot style")
	}
	if err := decodeHex32(b.Subject, &c.Pseudonym); err != nil {
		return nil, fmt.Errorf("sub: %w", err)
	}
	if err := decodeHex32(b.ContextHash, &c.ContextHash); err != nil {
		return nil, fmt.Errorf("ctx: %w", err)
	}
	if b.Cnf == nil || b.Cnf.JWK == nil || b.Cnf.JWK.Kty != "OKP" || b.Cnf.JWK.Crv != "Ed25519" {
		return nil, errors.New("cnf must hold an OKP Ed25519 jwk")
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(b.Cnf.JWK.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("cnf.jwk.x is not a 32-byte base64url key")
	}
	c.DeviceKey = x
	c.IssuedAt, c.NotBefore, c.ExpiresAt = b.IssuedAt.Time, b.NotBefore.Time, b.ExpiresAt.Time
	c.Mark = b.Mark
	if !c.ExpiresAt.After(c.NotBefore) || c.ExpiresAt.Sub(c.IssuedAt) > 2*time.Hour {
		return nil, errors.New("validity period malformed or longer than 2 h")
	}
	return c, nil
}

// decodeHex32 accepts exactly 64 lowercase hex digits.
func decodeHex32(s string, out *[32]byte) error {
	if len(s) != 64 {
		return errors.New("want 64 lowercase hex digits")
	}
	b, err := hex.DecodeString(s)
	if err != nil || !bytes.Equal([]byte(hex.EncodeToString(b)), []byte(s)) {
		return errors.New("want 64 lowercase hex digits")
	}
	copy(out[:], b)
	return nil
}
