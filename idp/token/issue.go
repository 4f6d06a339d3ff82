package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Grant is what the identity service asks to be put in a token after both
// factors succeeded.
type Grant struct {
	ElectionID  string
	ContextHash [32]byte
	Pseudonym   [32]byte
	BallotStyle string
	DeviceKey   ed25519.PublicKey
	// Mark asks for the token of an in-person mark's row (Claims.Mark).
	Mark bool
}

// IssuerConfig configures an Issuer.
type IssuerConfig struct {
	Issuer   string        // "iss", e.g. "https://id.shailoo.example"
	Audience string        // "aud", the ballot box, e.g. "evote-ballot-box"
	TTL      time.Duration // token lifetime; default 15 min, at most 2 h
	Now      func() time.Time
	Rand     io.Reader // default crypto/rand; tests only may replace it
}

// Issuer signs voting tokens with its current key. Keys rotate: AddKey makes
// a new key current and keeps every earlier public key in KeySet, so tokens
// signed before a rotation still verify and auditors see every kid.
type Issuer struct {
	cfg IssuerConfig

	mu      sync.RWMutex
	current ed25519.PrivateKey
	kid     string
	all     map[string]ed25519.PublicKey
}

// NewIssuer returns an Issuer signing with key.
func NewIssuer(cfg IssuerConfig, key ed25519.PrivateKey) (*Issuer, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("token: issuer and audience are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = 15 * time.Minute
	}
	if cfg.TTL < 0 || cfg.TTL > 2*time.Hour {
		return nil, fmt.Errorf("token: lifetime %v outside (0, 2h]", cfg.TTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	i := &Issuer{cfg: cfg, all: map[string]ed25519.PublicKey{}}
	if err := i.AddKey(key); err != nil {
		return nil, err
	}
	return i, nil
}

// AddKey makes key the signing key; the previous keys stay in KeySet.
func (i *Issuer) AddKey(key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("token: signing key is not an Ed25519 private key")
	}
	pub := key.Public().(ed25519.PublicKey)
	kid := KeyID(pub)
	i.mu.Lock()
	defer i.mu.Unlock()
	i.current, i.kid = key, kid
	i.all[kid] = pub
	return nil
}

// CurrentKeyID returns the kid of the signing key.
func (i *Issuer) CurrentKeyID() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.kid
}

// KeySet returns every public key the issuer ever signed with, by kid.
func (i *Issuer) KeySet() map[string]ed25519.PublicKey {
	i.mu.RLock()
	defer i.mu.RUnlock()
	out := make(map[string]ed25519.PublicKey, len(i.all))
	for k, v := range i.all {
		out[k] = v
	}
	return out
}

// Issuer returns the configured "iss" and Audience the "aud".
func (i *Issuer) Issuer() string   { return i.cfg.Issuer }
func (i *Issuer) Audience() string { return i.cfg.Audience }

// jwtClaims is the JSON body of a token (spec §8.6).
type jwtClaims struct {
	jwt.RegisteredClaims
	ElectionID  string `json:"eid"`
	BallotStyle string `json:"bst"`
	ContextHash string `json:"ctx"`
	Cnf         *cnf   `json:"cnf"`
	// Mark is present, and true, only in a mark's token (Claims.Mark).
	Mark bool `json:"mark,omitempty"`
}

type cnf struct {
	JWK *okpJWK `json:"jwk"`
}

type okpJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
}

// Issue signs a token for g. It returns the compact JWT and its claims.
func (i *Issuer) Issue(g Grant) (string, *Claims, error) {
	if !ValidElectionID(g.ElectionID) || !ValidBallotStyle(g.BallotStyle) {
		return "", nil, errors.New("token: malformed election id or ballot style")
	}
	if len(g.DeviceKey) != ed25519.PublicKeySize {
		return "", nil, errors.New("token: device key is not an Ed25519 public key")
	}
	var jti [16]byte
	if _, err := io.ReadFull(i.cfg.Rand, jti[:]); err != nil {
		return "", nil, fmt.Errorf("token: %w", err)
	}
	now := i.cfg.Now().Truncate(time.Second)
	i.mu.RLock()
	key, kid := i.current, i.kid
	i.mu.RUnlock()
	c := &Claims{
		Issuer: i.cfg.Issuer, Audience: i.cfg.Audience,
		ElectionID: g.ElectionID, ContextHash: g.ContextHash, Pseudonym: g.Pseudonym,
		BallotStyle: g.BallotStyle, DeviceKey: append(ed25519.PublicKey(nil), g.DeviceKey...),
		TokenID: base64.RawURLEncoding.EncodeToString(jti[:]), KeyID: kid,
		IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(i.cfg.TTL), Mark: g.Mark,
	}
	body := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.Issuer,
			Subject:   c.PseudonymHex(),
			Audience:  jwt.ClaimStrings{c.Audience},
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
			NotBefore: jwt.NewNumericDate(c.NotBefore),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.TokenID,
		},
		ElectionID:  c.ElectionID,
		BallotStyle: c.BallotStyle,
		ContextHash: hex.EncodeToString(c.ContextHash[:]),
		Cnf:         &cnf{JWK: &okpJWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(c.DeviceKey)}},
		Mark:        g.Mark,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, body)
	t.Header["kid"] = kid
	t.Header["typ"] = Type
	s, err := t.SignedString(key)
	if err != nil {
		return "", nil, fmt.Errorf("token: signing: %w", err)
	}
	return s, c, nil
}
