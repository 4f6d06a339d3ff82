package idpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Backoff returns the failures recorded for subject and the Unix time before
// which it may not try again (0, 0 if none).
func (s *Store) Backoff(ctx context.Context, subject string) (failures int, nextAt int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT failures, next_at FROM idp_backoff WHERE subject = $1`, subject).Scan(&failures, &nextAt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("idpstore: backoff: %w", err)
	}
	return failures, nextAt, nil
}

// RecordFailure adds one failure for subject at time now and sets its next
// allowed time to now + delay(failures), atomically. It returns the new
// count and next time.
func (s *Store) RecordFailure(ctx context.Context, subject string, now int64, delay func(failures int) int64) (int, int64, error) {
	var n int
	var next int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT failures FROM idp_backoff WHERE subject = $1`, subject).Scan(&n)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		n++
		next = now + delay(n)
		_, err = tx.ExecContext(ctx, `INSERT INTO idp_backoff (subject, failures, next_at, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (subject) DO UPDATE SET failures = idp_backoff.failures + 1, next_at = $3, updated_at = $4`, subject, n, next, now)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("idpstore: record failure: %w", err)
	}
	return n, next, nil
}

// ResetFailures forgets subject's failures (after a successful sign-in).
func (s *Store) ResetFailures(ctx context.Context, subject string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM idp_backoff WHERE subject = $1`, subject); err != nil {
		return fmt.Errorf("idpstore: reset failures: %w", err)
	}
	return nil
}

// PurgeBackoff forgets failures last updated before the given Unix time.
func (s *Store) PurgeBackoff(ctx context.Context, before int64) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM idp_backoff WHERE updated_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("idpstore: purge backoff: %w", err)
	}
	return r.RowsAffected()
}

// AccessEvent is one line of the access log: who (an opaque subject, never a
// PIN), from where, when, what, and the outcome. It is kept apart from
// ballots and purged after the retention period.
type AccessEvent struct {
	At      int64
	Client  string
	Subject string
	Event   string
	Outcome string
}

// LogAccess appends e to the access log.
func (s *Store) LogAccess(ctx context.Context, e AccessEvent) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO idp_access_log (at, client, subject, event, outcome) VALUES ($1, $2, $3, $4, $5)`,
		e.At, e.Client, e.Subject, e.Event, e.Outcome)
	if err != nil {
		return fmt.Errorf("idpstore: log access: %w", err)
	}
	return nil
}

// AccessLog returns the events at or after since, oldest first, at most limit.
func (s *Store) AccessLog(ctx context.Context, since int64, limit int) ([]AccessEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, client, subject, event, outcome FROM idp_access_log WHERE at >= $1 ORDER BY id LIMIT $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("idpstore: access log: %w", err)
	}
	defer rows.Close()
	var out []AccessEvent
	for rows.Next() {
		var e AccessEvent
		if err := rows.Scan(&e.At, &e.Client, &e.Subject, &e.Event, &e.Outcome); err != nil {
			return nil, fmt.Errorf("idpstore: access log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PurgeAccessLog deletes events before the given Unix time and returns how
// many.
func (s *Store) PurgeAccessLog(ctx context.Context, before int64) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM idp_access_log WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("idpstore: purge access log: %w", err)
	}
	return r.RowsAffected()
}

// Key is one token-signing key in the history.
type Key struct {
	KeyID     string
	PublicKey []byte
	ValidFrom int64
	RetiredAt int64 // 0 while current
}

// AddKey records a new current key and retires the previous current one at
// the same time, atomically. Adding a kid already known is a no-op, so
// restarting with the same key is harmless.
func (s *Store) AddKey(ctx context.Context, k Key) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_keys WHERE kid = $1`, k.KeyID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE idp_keys SET retired_at = CASE WHEN valid_from < $1 THEN $1 ELSE valid_from + 1 END WHERE retired_at = 0`, k.ValidFrom); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO idp_keys (kid, public_key, valid_from, retired_at) VALUES ($1, $2, $3, 0)`, k.KeyID, k.PublicKey, k.ValidFrom)
		return err
	})
	if err != nil {
		return fmt.Errorf("idpstore: add key: %w", err)
	}
	return nil
}

// Keys returns the key history in kid order.
func (s *Store) Keys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, public_key, valid_from, retired_at FROM idp_keys ORDER BY kid`)
	if err != nil {
		return nil, fmt.Errorf("idpstore: keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.KeyID, &k.PublicKey, &k.ValidFrom, &k.RetiredAt); err != nil {
			return nil, fmt.Errorf("idpstore: keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
