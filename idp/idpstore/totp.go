package idpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// TOTPEnrolment is a voter's authenticator-app secret, sealed (encrypted and
// authenticated) by the identity service before it reaches the database.
type TOTPEnrolment struct {
	Sealed   []byte
	Active   bool
	LastStep int64 // last time step accepted; a code of a step ≤ this is a replay
}

// PutTOTP stores a new, inactive enrolment for a voter, replacing any
// earlier one.
func (s *Store) PutTOTP(ctx context.Context, election string, p [32]byte, sealed []byte, at int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO idp_totp (election_id, pseudonym, sealed, active, last_step, created_at) VALUES ($1, $2, $3, 0, 0, $4)
		ON CONFLICT (election_id, pseudonym) DO UPDATE SET sealed = $3, active = 0, last_step = 0, created_at = $4`, election, p[:], sealed, at)
	if err != nil {
		return fmt.Errorf("idpstore: put totp: %w", err)
	}
	return nil
}

// TOTP returns a voter's enrolment, or ErrNotFound.
func (s *Store) TOTP(ctx context.Context, election string, p [32]byte) (*TOTPEnrolment, error) {
	e := &TOTPEnrolment{}
	var active int
	err := s.db.QueryRowContext(ctx, `SELECT sealed, active, last_step FROM idp_totp WHERE election_id = $1 AND pseudonym = $2`, election, p[:]).Scan(&e.Sealed, &active, &e.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("idpstore: totp: %w", err)
	}
	e.Active = active != 0
	return e, nil
}

// UseTOTPStep records that time step was used, and activates the
// enrolment, only if step is later than the last one used: it reports false
// for a replayed (or concurrently used) code.
func (s *Store) UseTOTPStep(ctx context.Context, election string, p [32]byte, step int64) (bool, error) {
	r, err := s.db.ExecContext(ctx, `UPDATE idp_totp SET last_step = $3, active = 1 WHERE election_id = $1 AND pseudonym = $2 AND last_step < $3`, election, p[:], step)
	if err != nil {
		return false, fmt.Errorf("idpstore: use totp step: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("idpstore: use totp step: %w", err)
	}
	return n == 1, nil
}
