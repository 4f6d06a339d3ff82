package idpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrPaddingExhausted: the voter has as many padding credentials as
// allowed (spec §15.16.2).
var ErrPaddingExhausted = errors.New("idpstore: the voter's padding credentials are exhausted")

// IssuePadding records padding credentials for the voter's device keys
// atomically: it fails with ErrNotOnList unless the voter is listed with
// that ballot style, with ErrPaddingExhausted if the voter would have more
// than max in all, and with ErrDeviceKeyBound if a key is already bound
// to a padding credential; on error nothing is recorded.
func (s *Store) IssuePadding(ctx context.Context, election string, p [32]byte, style string, keys [][32]byte, max int, at int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The update locks the voter's row (as IssueCredential does), so
		// that two requests for one voter are counted one after the other.
		res, err := tx.ExecContext(ctx, `UPDATE idp_voters SET notify_phone = notify_phone WHERE election_id = $1 AND pseudonym = $2 AND removed = 0 AND ballot_style = $3`,
			election, p[:], style)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotOnList
		}
		var have int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM idp_padding WHERE election_id = $1 AND pseudonym = $2`, election, p[:]).Scan(&have); err != nil {
			return err
		}
		if have+len(keys) > max {
			return fmt.Errorf("%w: %d issued, %d asked, at most %d", ErrPaddingExhausted, have, len(keys), max)
		}
		for _, k := range keys {
			_, err := tx.ExecContext(ctx, `INSERT INTO idp_padding (election_id, pseudonym, device_key, issued_at) VALUES ($1, $2, $3, $4)`, election, p[:], k[:], at)
			if isUnique(err) {
				return ErrDeviceKeyBound
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("idpstore: issue padding: %w", err)
	}
	return nil
}

// ListedVoters returns the pseudonym and ballot style of every voter on
// the election's list (removed ones excluded), for the roll (spec §15.7).
func (s *Store) ListedVoters(ctx context.Context, election string) ([]Voter, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pseudonym, ballot_style FROM idp_voters WHERE election_id = $1 AND removed = 0`, election)
	if err != nil {
		return nil, fmt.Errorf("idpstore: listed voters: %w", err)
	}
	defer rows.Close()
	var out []Voter
	for rows.Next() {
		v := Voter{ElectionID: election}
		var p []byte
		if err := rows.Scan(&p, &v.BallotStyle); err != nil {
			return nil, fmt.Errorf("idpstore: listed voters: %w", err)
		}
		if len(p) != 32 {
			return nil, errors.New("idpstore: stored pseudonym of the wrong size")
		}
		v.Pseudonym = [32]byte(p)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("idpstore: listed voters: %w", err)
	}
	return out, nil
}
