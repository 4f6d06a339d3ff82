package token

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Verifier checks voting tokens the way the ballot box does.
type Verifier struct {
	keys       map[string]ed25519.PublicKey
	issuer     string
	audience   string
	electionID string
	leeway     time.Duration
	now        func() time.Time
	parser     *jwt.Parser
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Keys       map[string]ed25519.PublicKey // the identity service's key set, kid -> key
	Issuer     string                       // expected "iss"
	Audience   string                       // expected "aud" (the ballot box's own name)
	ElectionID string                       // expected "eid"
	Leeway     time.Duration                // clock skew allowed on exp/nbf/iat; default 30 s, at most 2 min
	Now        func() time.Time
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
	v := &Verifier{keys: keys, issuer: cfg.Issuer, audience: cfg.Audience, electionID: cfg.ElectionID, leeway: cfg.Leeway, now: cfg.Now}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{Algorithm}), // pins the algorithm: no "none", no HS256 with a public key
		jwt.WithAudience(cfg.Audience),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
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
// issuer, audience, exp/nbf/iat with leeway, election id, and the form of
// every claim; it returns the decoded claims or an error wrapping ErrInvalid.
func (v *Verifier) Verify(tok string) (*Claims, error) {
	if len(tok) > MaxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxTokenLen)
	}
	var body jwtClaims
	t, err := v.parser.ParseWithClaims(tok, &body, v.keyFunc)
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
