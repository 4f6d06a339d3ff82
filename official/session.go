package official

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Sessions (spec/10-api.md §10.5) live in the officials' store, so that a
// restart of the server does not sign every official out (an attacker who
// can crash the server must not thereby keep the officials from closing or
// tallying). The store keeps only the SHA-256 of each token: a copy of the
// database does not yield a usable session. Each session has a public id,
// distinct from its token, by which it is listed and revoked; it expires
// SessionTTL after the login, and expired rows are deleted at the next
// login.

// Session is a signed-in official.
type Session struct {
	ID      string // public id (32 hex digits), for listing and revocation
	User    string
	Role    Role
	Created time.Time
	Expires time.Time
}

// ErrNotFound: no such session (or none the caller may see).
var ErrNotFound = errors.New("official: no such session")

// tokenHash is what the store keeps of a session token.
func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// newSession stores a session for user and returns its token, shown once.
func (s *Service) newSession(ctx context.Context, user string, role Role, now time.Time) (string, *Session, error) {
	tok, err := randomHex(32)
	if err != nil {
		return "", nil, err
	}
	id, err := randomHex(16)
	if err != nil {
		return "", nil, err
	}
	sess := &Session{ID: id, User: user, Role: role, Created: now, Expires: now.Add(s.cfg.SessionTTL)}
	if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM evote_official_sessions WHERE expires_at <= $1`, now.Unix()); err != nil {
		return "", nil, fmt.Errorf("official: sessions: %w", err)
	}
	_, err = s.cfg.DB.ExecContext(ctx, `INSERT INTO evote_official_sessions (id, token_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		id, tokenHash(tok), user, now.Unix(), sess.Expires.Unix())
	if err != nil {
		return "", nil, fmt.Errorf("official: sessions: %w", err)
	}
	return tok, sess, nil
}

// Authenticate returns the session of a token: stored, not expired, of
// an account that still exists (its role as the account has it now).
func (s *Service) Authenticate(ctx context.Context, tok string) (*Session, error) {
	if len(tok) != 64 {
		return nil, ErrSession
	}
	if _, err := hex.DecodeString(tok); err != nil {
		return nil, ErrSession
	}
	var (
		sess             Session
		role             string
		created, expires int64
	)
	h := tokenHash(tok)
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT s.id, s.username, o.role, s.created_at, s.expires_at FROM evote_official_sessions s
		JOIN evote_officials o ON o.username = s.username WHERE s.token_hash = $1`, h).Scan(&sess.ID, &sess.User, &role, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrSession
	}
	if err != nil {
		return nil, fmt.Errorf("official: sessions: %w", err)
	}
	sess.Role, sess.Created, sess.Expires = Role(role), time.Unix(created, 0), time.Unix(expires, 0)
	if !s.cfg.Now().Before(sess.Expires) {
		s.cfg.DB.ExecContext(ctx, `DELETE FROM evote_official_sessions WHERE token_hash = $1`, h)
		return nil, ErrSession
	}
	return &sess, nil
}

// Logout ends the session of a token.
func (s *Service) Logout(ctx context.Context, tok string) error {
	if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM evote_official_sessions WHERE token_hash = $1`, tokenHash(tok)); err != nil {
		return fmt.Errorf("official: sessions: %w", err)
	}
	return nil
}

// Sessions lists the unexpired sessions the caller may see, newest first:
// an admin sees everyone's, any other official their own.
func (s *Service) Sessions(ctx context.Context, caller *Session) ([]Session, error) {
	q := `SELECT s.id, s.username, o.role, s.created_at, s.expires_at FROM evote_official_sessions s
		JOIN evote_officials o ON o.username = s.username WHERE s.expires_at > $1`
	args := []any{s.cfg.Now().Unix()}
	if caller.Role != RoleAdmin {
		q += ` AND s.username = $2`
		args = append(args, caller.User)
	}
	rows, err := s.cfg.DB.QueryContext(ctx, q+` ORDER BY s.created_at DESC, s.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("official: sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var (
			x                Session
			role             string
			created, expires int64
		)
		if err := rows.Scan(&x.ID, &x.User, &role, &created, &expires); err != nil {
			return nil, fmt.Errorf("official: sessions: %w", err)
		}
		x.Role, x.Created, x.Expires = Role(role), time.Unix(created, 0), time.Unix(expires, 0)
		out = append(out, x)
	}
	return out, rows.Err()
}

// Revoke ends the session with that public id: the caller's own, or
// anyone's for an admin (ErrNotFound otherwise, so that ids of others'
// sessions are not confirmed). It is written to the operations log.
func (s *Service) Revoke(ctx context.Context, caller *Session, id string) error {
	if _, err := hex.DecodeString(id); err != nil || len(id) != 32 {
		return ErrNotFound
	}
	q := `DELETE FROM evote_official_sessions WHERE id = $1`
	args := []any{id}
	if caller.Role != RoleAdmin {
		q += ` AND username = $2`
		args = append(args, caller.User)
	}
	res, err := s.cfg.DB.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("official: sessions: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		s.Record(ctx, caller.User, "revoke-session", "", "not_found", id)
		return ErrNotFound
	}
	return s.Record(ctx, caller.User, "revoke-session", "", "ok", id)
}
