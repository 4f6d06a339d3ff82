package idpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Roles of a registered polling key.
const (
	RoleStation  uint8 = 1 // a polling station
	RoleOfficial uint8 = 2 // an official who marks in-person votes
)

// PollingKey is a polling station's or official's key, registered on the
// board by a PollingRegistration entry (spec/08-identity.md §8.8.6).
type PollingKey struct {
	Role      uint8
	ID        string
	PublicKey [32]byte
}

// RegisterPolling records keys atomically with their board entry (queued
// in the outbox). It fails with ErrRegistered if an id of the same role or
// a key is already registered in the election, and with ErrVotingStarted
// once a credential or a mark has been issued in it: registrations precede
// the opening of voting on the board.
func (s *Store) RegisterPolling(ctx context.Context, election string, keys []PollingKey, at int64, entryType uint16, payload []byte) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM idp_credentials WHERE election_id = $1) + (SELECT COUNT(*) FROM idp_marks WHERE election_id = $1)`, election).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrVotingStarted
		}
		for _, k := range keys {
			_, err := tx.ExecContext(ctx, `INSERT INTO idp_polling_keys (election_id, role, id, public_key, registered_at) VALUES ($1, $2, $3, $4, $5)`,
				election, int(k.Role), k.ID, k.PublicKey[:], at)
			if isUnique(err) {
				return fmt.Errorf("%w: %s", ErrRegistered, k.ID)
			}
			if err != nil {
				return err
			}
		}
		var err error
		id, err = enqueue(ctx, tx, entryType, payload, at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("idpstore: register polling keys: %w", err)
	}
	return id, nil
}

// PollingKeyOf returns the registered key of a station or official, or
// ErrNotFound.
func (s *Store) PollingKeyOf(ctx context.Context, election string, role uint8, id string) ([32]byte, error) {
	var k []byte
	err := s.db.QueryRowContext(ctx, `SELECT public_key FROM idp_polling_keys WHERE election_id = $1 AND role = $2 AND id = $3`, election, int(role), id).Scan(&k)
	if errors.Is(err, sql.ErrNoRows) {
		return [32]byte{}, ErrNotFound
	}
	if err != nil {
		return [32]byte{}, fmt.Errorf("idpstore: polling key: %w", err)
	}
	if len(k) != 32 {
		return [32]byte{}, errors.New("idpstore: polling key: corrupt row")
	}
	return [32]byte(k), nil
}
