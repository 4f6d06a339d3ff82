// Package official manages the accounts of election officials on the
// ballot box (spec/10-api.md §10.5): a password hashed with argon2id, a
// TOTP second factor (RFC 6238), a role; short-lived sessions kept in the
// store, so that they survive a restart, listed and revocable; and a
// durable operations log of who did what and when. The first admin comes
// from the server's configuration: there are no default credentials.
//
// The same database (the server's SQLite file or PostgreSQL) also keeps the
// catalog of hosted elections (ballotbox.Catalog).
package official

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"

	"evote/ballotbox"
)

// Role of an official.
type Role string

// Roles. Admins manage accounts and may do everything; election officials
// create elections and run their actions; observers only read the
// operations log.
const (
	RoleAdmin    Role = "admin"
	RoleOfficial Role = "election-official"
	RoleObserver Role = "observer"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleOfficial || r == RoleObserver }

// Errors callers branch on.
var (
	ErrInvalid   = errors.New("official: invalid input")
	ErrLogin     = errors.New("official: wrong user, password or code")
	ErrSession   = errors.New("official: no valid session")
	ErrForbidden = errors.New("official: role does not allow this")
	ErrExists    = errors.New("official: account exists")
)

// Dialect selects the SQL of a backend.
type Dialect int

// Dialects.
const (
	SQLite Dialect = iota
	Postgres
)

// Config configures a Service.
type Config struct {
	DB         *sql.DB
	Dialect    Dialect
	Argon2     Argon2Params  // default DefaultArgon2
	SessionTTL time.Duration // default 30 min
	Issuer     string        // shown in authenticator apps; default "evote"
	// SealKey, 32 bytes, seals the TOTP secrets stored in the database
	// (see seal.go); without it they are stored in the clear.
	SealKey []byte
	// Limits bound the cost of logins (login.go); zero fields take the
	// defaults.
	Limits Limits
	Now    func() time.Time
}

// Service is the officials' accounts, sessions and operations log.
type Service struct {
	cfg  Config
	aead cipher.AEAD // from SealKey, or nil

	limits *limiter     // per-address login budgets (login.go)
	hashes *hashGate    // bounds concurrent password hashing
	decoy  loginAccount // what an unknown user name is checked against
}

var userRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

func migrations(d Dialect) []string {
	serial := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if d == Postgres {
		serial = "BIGSERIAL PRIMARY KEY"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS evote_officials (
			username TEXT PRIMARY KEY,
			password_hash TEXT NOT NULL,
			totp_secret TEXT NOT NULL,
			totp_last_step BIGINT NOT NULL DEFAULT 0,
			role TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			created_by TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS evote_oplog (
			id ` + serial + `,
			at BIGINT NOT NULL,
			username TEXT NOT NULL,
			action TEXT NOT NULL,
			election_id TEXT NOT NULL,
			outcome TEXT NOT NULL,
			detail TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS evote_elections (
			election_id TEXT PRIMARY KEY,
			origin TEXT NOT NULL,
			created_at BIGINT NOT NULL)`,
		// Sessions (session.go): the SHA-256 of each token, never the token.
		`CREATE TABLE IF NOT EXISTS evote_official_sessions (
			id TEXT PRIMARY KEY,
			token_hash TEXT NOT NULL UNIQUE,
			username TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			expires_at BIGINT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS evote_official_sessions_user ON evote_official_sessions (username)`,
		// Devices (login.go): the SHA-256 of each device token an official
		// holds, and the failed logins made under it.
		`CREATE TABLE IF NOT EXISTS evote_official_devices (
			token_hash TEXT PRIMARY KEY,
			username TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			used_at BIGINT NOT NULL,
			failures BIGINT NOT NULL DEFAULT 0,
			failed_at BIGINT NOT NULL DEFAULT 0)`,
		// The notice of failed logins shown at the next login counts them
		// in the operations log, by user.
		`CREATE INDEX IF NOT EXISTS evote_oplog_user ON evote_oplog (username, id)`,
	}
}

// Open creates the tables if needed and returns the service.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("official: Config needs DB")
	}
	if cfg.Argon2 == (Argon2Params{}) {
		cfg.Argon2 = DefaultArgon2
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 30 * time.Minute
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "evote"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits.fill()
	var aead cipher.AEAD
	if cfg.SealKey != nil {
		var err error
		if aead, err = chacha20poly1305.NewX(cfg.SealKey); err != nil {
			return nil, fmt.Errorf("official: seal key: %w", err)
		}
	}
	for _, m := range migrations(cfg.Dialect) {
		if _, err := cfg.DB.ExecContext(ctx, m); err != nil {
			return nil, fmt.Errorf("official: migrate: %w", err)
		}
	}
	s := &Service{cfg: cfg, aead: aead, limits: newLimiter(cfg.Limits), hashes: newHashGate(cfg.Limits)}
	if err := s.makeDecoy(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewTOTPSecret returns a fresh random base32 TOTP secret.
func NewTOTPSecret() (string, error) {
	b := make([]byte, TOTPSecretSize)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return totpEncoding.EncodeToString(b), nil
}

// Account is what an admin gets back when creating an account: the TOTP
// secret to enrol in an authenticator app, shown once.
type Account struct {
	User       string
	Role       Role
	TOTPSecret string
	TOTPURI    string
}

// CreateAccount adds an official. by names the admin doing it ("config"
// for the bootstrap). totpSecret may be empty (one is generated).
func (s *Service) CreateAccount(ctx context.Context, by, user, password string, role Role, totpSecret string) (*Account, error) {
	if !userRe.MatchString(user) || !role.Valid() {
		return nil, fmt.Errorf("%w: user name or role", ErrInvalid)
	}
	if totpSecret == "" {
		var err error
		if totpSecret, err = NewTOTPSecret(); err != nil {
			return nil, err
		}
	} else if _, err := decodeSecret(totpSecret); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	release, err := s.hashes.acquire(ctx)
	if err != nil {
		return nil, err
	}
	h, err := HashPassword(password, s.cfg.Argon2)
	release()
	if err != nil {
		return nil, err
	}
	stored, err := s.sealSecret(user, totpSecret)
	if err != nil {
		return nil, err
	}
	_, err = s.cfg.DB.ExecContext(ctx, `INSERT INTO evote_officials (username, password_hash, totp_secret, role, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
		user, h, stored, string(role), s.cfg.Now().Unix(), by)
	if err != nil {
		if n, _ := s.count(ctx, user); n > 0 {
			return nil, ErrExists
		}
		return nil, fmt.Errorf("official: create account: %w", err)
	}
	s.Record(ctx, by, "create-account", "", "ok", user+" as "+string(role))
	return &Account{User: user, Role: role, TOTPSecret: totpSecret, TOTPURI: TOTPURI(s.cfg.Issuer, user, totpSecret)}, nil
}

func (s *Service) count(ctx context.Context, user string) (int, error) {
	var n int
	q := `SELECT COUNT(*) FROM evote_officials`
	args := []any{}
	if user != "" {
		q += ` WHERE username = $1`
		args = append(args, user)
	}
	err := s.cfg.DB.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// Bootstrap creates the first admin from the configuration if no account
// exists yet; it does nothing once any account exists.
func (s *Service) Bootstrap(ctx context.Context, user, password, totpSecret string) (created bool, err error) {
	n, err := s.count(ctx, "")
	if err != nil {
		return false, fmt.Errorf("official: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	if user == "" || password == "" || totpSecret == "" {
		return false, fmt.Errorf("%w: no official account exists and no bootstrap admin is configured", ErrInvalid)
	}
	_, err = s.CreateAccount(ctx, "config", user, password, RoleAdmin, totpSecret)
	return err == nil, err
}

// Allowed reports whether a role may do an operation: "manage" (accounts),
// "run" (create elections, actions) or "read" (the operations log).
func (r Role) Allowed(op string) bool {
	switch op {
	case "manage":
		return r == RoleAdmin
	case "run":
		return r == RoleAdmin || r == RoleOfficial
	case "read":
		return r.Valid()
	}
	return false
}

// Operation is one line of the operations log.
type Operation struct {
	ID         int64  `json:"id"`
	At         int64  `json:"at"`
	User       string `json:"user"`
	Action     string `json:"action"`
	ElectionID string `json:"election_id"`
	Outcome    string `json:"outcome"`
	Detail     string `json:"detail"`
}

// Record appends to the operations log. It never records secrets; a
// failure to record is returned so that callers that must not act
// unrecorded can refuse.
func (s *Service) Record(ctx context.Context, user, action, electionID, outcome, detail string) error {
	_, err := s.cfg.DB.ExecContext(ctx, `INSERT INTO evote_oplog (at, username, action, election_id, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.cfg.Now().Unix(), clean(user, 256), clean(action, 256), clean(electionID, 256), outcome, clean(detail, 1024))
	if err != nil {
		return fmt.Errorf("official: operations log: %w", err)
	}
	return nil
}

// clean returns s as the operations log stores it: valid UTF-8 without
// control characters (both stores take it, and a reader's terminal shows
// it as it is), at most n bytes. Invalid bytes and control characters are
// written as Go escapes (\x00, \xff, \n), so that an attempt with a NUL
// byte or invalid UTF-8 in a name is logged and recognisable.
func clean(s string, n int) string {
	ok := utf8.ValidString(s)
	for _, r := range s {
		if !ok || unicode.IsControl(r) || r == '\\' {
			ok = false
			break
		}
	}
	if !ok {
		q := strconv.QuoteToGraphic(s)
		s = q[1 : len(q)-1]
	}
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// Operations returns the latest operations, newest first.
func (s *Service) Operations(ctx context.Context, limit int) ([]Operation, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT id, at, username, action, election_id, outcome, detail FROM evote_oplog ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("official: %w", err)
	}
	defer rows.Close()
	out := []Operation{}
	for rows.Next() {
		var o Operation
		if err := rows.Scan(&o.ID, &o.At, &o.User, &o.Action, &o.ElectionID, &o.Outcome, &o.Detail); err != nil {
			return nil, fmt.Errorf("official: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// AddElection implements ballotbox.Catalog.
func (s *Service) AddElection(ctx context.Context, id, origin string) error {
	_, err := s.cfg.DB.ExecContext(ctx, `INSERT INTO evote_elections (election_id, origin, created_at) VALUES ($1, $2, $3)`, id, origin, s.cfg.Now().Unix())
	return err
}

// Elections implements ballotbox.Catalog.
func (s *Service) Elections(ctx context.Context) ([]ballotbox.CatalogEntry, error) {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT election_id, origin FROM evote_elections ORDER BY created_at, election_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ballotbox.CatalogEntry
	for rows.Next() {
		var e ballotbox.CatalogEntry
		if err := rows.Scan(&e.ElectionID, &e.Origin); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

var _ ballotbox.Catalog = (*Service)(nil)
