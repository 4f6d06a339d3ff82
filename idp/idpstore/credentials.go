package idpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Credential is one issued voting token, as the identity service remembers
// it.
type Credential struct {
	ElectionID  string
	TokenID     [16]byte
	Pseudonym   [32]byte
	DeviceKey   [32]byte
	BallotStyle string
	KeyID       string
	IssuedAt    int64
	ExpiresAt   int64
	// NotifyPhone, when set, becomes the voter's notify phone (the number
	// of their last online sign-in, §8.8.3) in the same transaction; it is
	// not kept with the credential.
	NotifyPhone string
	// NotifyLang, with NotifyPhone, becomes the language of the voter's
	// notices (the one that sign-in named).
	NotifyLang string
}

// IssueCredential records c atomically with its board entry (queued in the
// outbox) and the voter's notify phone: it fails with ErrNotOnList if the voter is not on the list, with
// ErrVotedInPerson if the voter was marked as having voted in person, and
// with ErrDeviceKeyBound if the device key is bound to any credential.
// A nil payload queues no board entry (and returns 0): in deniable
// re-voting mode the credential is published inside its row.
func (s *Store) IssueCredential(ctx context.Context, c *Credential, entryType uint16, payload []byte) (int64, error) {
	var id int64
	// Three statements (a sign-in makes this transaction): the first
	// locks the voter's row while listed, so that a concurrent removal
	// (ApplyChange locks it too) either sees this credential or made the
	// voter unlisted first, and sets the notify phone and language; the insert takes
	// place only if the voter has no in-person mark, and the device key's
	// uniqueness is the table's constraint.
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE idp_voters SET notify_phone = CASE WHEN $3 = '' THEN notify_phone ELSE $3 END,
			notify_lang = CASE WHEN $3 = '' THEN notify_lang ELSE $4 END
			WHERE election_id = $1 AND pseudonym = $2 AND removed = 0`, c.ElectionID, c.Pseudonym[:], c.NotifyPhone, c.NotifyLang)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotOnList
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO idp_credentials (election_id, token_id, pseudonym, device_key, ballot_style, key_id, issued_at, expires_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8
			WHERE NOT EXISTS (SELECT 1 FROM idp_marks WHERE election_id = $1 AND pseudonym = $3)`,
			c.ElectionID, c.TokenID[:], c.Pseudonym[:], c.DeviceKey[:], c.BallotStyle, c.KeyID, c.IssuedAt, c.ExpiresAt)
		if isUnique(err) {
			return ErrDeviceKeyBound
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrVotedInPerson
		}
		if payload == nil {
			return nil // deniable re-voting: the credential goes on the board inside its row (spec §15.16.1)
		}
		id, err = enqueue(ctx, tx, entryType, payload, c.IssuedAt)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("idpstore: issue credential: %w", err)
	}
	return id, nil
}

// DeviceKeyBound reports whether key is bound to any credential.
func (s *Store) DeviceKeyBound(ctx context.Context, key [32]byte) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_credentials WHERE device_key = $1`, key[:]).Scan(&n); err != nil {
		return false, fmt.Errorf("idpstore: device key bound: %w", err)
	}
	return n > 0, nil
}

// Credentials returns the credentials issued to a voter, oldest first.
func (s *Store) Credentials(ctx context.Context, election string, p [32]byte) ([]Credential, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token_id, device_key, ballot_style, key_id, issued_at, expires_at
		FROM idp_credentials WHERE election_id = $1 AND pseudonym = $2 ORDER BY issued_at, token_id`, election, p[:])
	if err != nil {
		return nil, fmt.Errorf("idpstore: credentials: %w", err)
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		c := Credential{ElectionID: election, Pseudonym: p}
		var tid, dk []byte
		if err := rows.Scan(&tid, &dk, &c.BallotStyle, &c.KeyID, &c.IssuedAt, &c.ExpiresAt); err != nil {
			return nil, fmt.Errorf("idpstore: credentials: %w", err)
		}
		if len(tid) != 16 || len(dk) != 32 {
			return nil, errors.New("idpstore: credentials: corrupt row")
		}
		copy(c.TokenID[:], tid)
		copy(c.DeviceKey[:], dk)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Mark is one in-person vote.
type Mark struct {
	ElectionID string
	Pseudonym  [32]byte
	StationID  string
	OfficialID string
	MarkedAt   int64
}

// MarkInPerson records an in-person vote atomically with its board entry:
// ErrNotOnList if the voter is not on the list, ErrAlreadyMarked if marked
// before. Online credentials already issued stay: their ballots are cancelled
// at cleansing, which reads Marks.
func (s *Store) MarkInPerson(ctx context.Context, m *Mark, entryType uint16, payload []byte) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		v, err := voterQ(ctx, tx, m.ElectionID, m.Pseudonym)
		if errors.Is(err, ErrNotFound) || err == nil && v.Removed {
			return ErrNotOnList
		}
		if err != nil {
			return err
		}
		if v.MarkedAt != 0 {
			return ErrAlreadyMarked
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO idp_marks (election_id, pseudonym, station_id, official_id, marked_at) VALUES ($1, $2, $3, $4, $5)`,
			m.ElectionID, m.Pseudonym[:], m.StationID, m.OfficialID, m.MarkedAt)
		if isUnique(err) {
			return ErrAlreadyMarked
		}
		if err != nil {
			return err
		}
		if payload == nil {
			return nil // deniable re-voting: the mark is a row of a slot (spec §15.16.4)
		}
		id, err = enqueue(ctx, tx, entryType, payload, m.MarkedAt)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("idpstore: mark in person: %w", err)
	}
	return id, nil
}

// Marks returns the pseudonyms marked as having voted in person in an
// election, in pseudonym order: the list the cleansing step cancels online
// ballots for.
func (s *Store) Marks(ctx context.Context, election string) ([]Mark, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pseudonym, station_id, official_id, marked_at FROM idp_marks WHERE election_id = $1 ORDER BY pseudonym`, election)
	if err != nil {
		return nil, fmt.Errorf("idpstore: marks: %w", err)
	}
	defer rows.Close()
	var out []Mark
	for rows.Next() {
		m := Mark{ElectionID: election}
		var p []byte
		if err := rows.Scan(&p, &m.StationID, &m.OfficialID, &m.MarkedAt); err != nil {
			return nil, fmt.Errorf("idpstore: marks: %w", err)
		}
		if len(p) != 32 {
			return nil, errors.New("idpstore: marks: corrupt row")
		}
		copy(m.Pseudonym[:], p)
		out = append(out, m)
	}
	return out, rows.Err()
}
