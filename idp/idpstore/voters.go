package idpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Voter is one entry of an election's voter list.
type Voter struct {
	ElectionID  string
	Pseudonym   [32]byte
	BallotStyle string
	Phone       string // set by a list official (e.g. a consul for a voter abroad); "" for none
	NotifyPhone string // the number the last successful sign-in used, for notices
	NotifyLang  string // the language that sign-in named ("" before any), for notices
	Removed     bool
	MarkedAt    int64 // Unix seconds of an in-person mark; 0 if none
}

// Voter returns the list entry with pseudonym p, removed or not.
func (s *Store) Voter(ctx context.Context, election string, p [32]byte) (*Voter, error) {
	return voterQ(ctx, s.db, election, p)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func voterQ(ctx context.Context, q querier, election string, p [32]byte) (*Voter, error) {
	v := &Voter{ElectionID: election, Pseudonym: p}
	var removed int
	var marked sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT v.ballot_style, v.phone, v.notify_phone, v.notify_lang, v.removed, m.marked_at
		FROM idp_voters v LEFT JOIN idp_marks m ON m.election_id = v.election_id AND m.pseudonym = v.pseudonym
		WHERE v.election_id = $1 AND v.pseudonym = $2`, election, p[:]).Scan(&v.BallotStyle, &v.Phone, &v.NotifyPhone, &v.NotifyLang, &removed, &marked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("idpstore: voter: %w", err)
	}
	v.Removed, v.MarkedAt = removed != 0, marked.Int64
	return v, nil
}

// ChangeOp is one voter touched by a list change, already reduced to its
// pseudonym.
type ChangeOp struct {
	Op          uint8 // 1 add, 2 remove, 3 phone (voterlist.Op values)
	Pseudonym   [32]byte
	BallotStyle string
	Phone       string
}

// ChangeResult is what a change did.
type ChangeResult struct {
	Added, Removed, Updated uint32
	Counts                  map[string]uint32 // voters per ballot style after the change
}

// LastSequence returns the sequence number of an election's last list
// change (0 before the first).
func (s *Store) LastSequence(ctx context.Context, election string) (uint64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM idp_list_changes WHERE election_id = $1`, election).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("idpstore: last sequence: %w", err)
	}
	return uint64(n), nil
}

// ApplyChange applies a voter-list change atomically: seq must be the next
// sequence number; adding a voter already on the list, removing or
// updating one not on it, or removing one who holds a credential
// (ErrHasCredential) fails the whole change. entry builds the board
// entry from the result; it is queued in the outbox in the same transaction,
// so a change is never applied without its board entry. It returns the
// result and the outbox id.
func (s *Store) ApplyChange(ctx context.Context, election string, seq uint64, kind uint8, officialID string, at int64, ops []ChangeOp, entryType uint16, entry func(ChangeResult) ([]byte, error)) (ChangeResult, int64, error) {
	var res ChangeResult
	var outboxID int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM idp_list_changes WHERE election_id = $1`, election).Scan(&last); err != nil {
			return err
		}
		if uint64(last)+1 != seq {
			return fmt.Errorf("%w: have %d, got %d", ErrSequence, last, seq)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO idp_list_changes (election_id, seq, kind, official_id, changed_at) VALUES ($1, $2, $3, $4, $5)`,
			election, int64(seq), int(kind), officialID, at); err != nil {
			if isUnique(err) {
				return ErrSequence
			}
			return err
		}
		for i, op := range ops {
			v, err := voterQ(ctx, tx, election, op.Pseudonym)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			present := v != nil && !v.Removed
			switch op.Op {
			case 1:
				if present {
					return fmt.Errorf("%w: item %d", ErrAlreadyOnList, i)
				}
				if v == nil {
					_, err = tx.ExecContext(ctx, `INSERT INTO idp_voters (election_id, pseudonym, ballot_style, phone, removed) VALUES ($1, $2, $3, $4, 0)`,
						election, op.Pseudonym[:], op.BallotStyle, op.Phone)
				} else {
					_, err = tx.ExecContext(ctx, `UPDATE idp_voters SET ballot_style = $3, phone = $4, removed = 0 WHERE election_id = $1 AND pseudonym = $2`,
						election, op.Pseudonym[:], op.BallotStyle, op.Phone)
				}
				res.Added++
			case 2:
				if !present {
					return fmt.Errorf("%w: item %d", ErrNotOnList, i)
				}
				// The update locks the voter's row first, so that a
				// credential being issued to them (IssueCredential locks
				// it too) is committed, and counted below, or waits.
				if _, err = tx.ExecContext(ctx, `UPDATE idp_voters SET removed = 1 WHERE election_id = $1 AND pseudonym = $2`, election, op.Pseudonym[:]); err != nil {
					return err
				}
				var n int
				if err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_credentials WHERE election_id = $1 AND pseudonym = $2`, election, op.Pseudonym[:]).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					return fmt.Errorf("%w: item %d", ErrHasCredential, i)
				}
				res.Removed++
			case 3:
				if !present {
					return fmt.Errorf("%w: item %d", ErrNotOnList, i)
				}
				_, err = tx.ExecContext(ctx, `UPDATE idp_voters SET phone = $3 WHERE election_id = $1 AND pseudonym = $2`, election, op.Pseudonym[:], op.Phone)
				res.Updated++
			default:
				return fmt.Errorf("idpstore: item %d: unknown operation %d", i, op.Op)
			}
			if err != nil {
				return err
			}
		}
		counts, err := countsQ(ctx, tx, election)
		if err != nil {
			return err
		}
		res.Counts = counts
		payload, err := entry(res)
		if err != nil {
			return err
		}
		outboxID, err = enqueue(ctx, tx, entryType, payload, at)
		return err
	})
	if err != nil {
		return ChangeResult{}, 0, fmt.Errorf("idpstore: apply change: %w", err)
	}
	return res, outboxID, nil
}

func countsQ(ctx context.Context, tx *sql.Tx, election string) (map[string]uint32, error) {
	rows, err := tx.QueryContext(ctx, `SELECT ballot_style, COUNT(*) FROM idp_voters WHERE election_id = $1 AND removed = 0 GROUP BY ballot_style`, election)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]uint32{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = uint32(n)
	}
	return out, rows.Err()
}

// Counts returns the voters per ballot style on an election's list.
func (s *Store) Counts(ctx context.Context, election string) (map[string]uint32, error) {
	var out map[string]uint32
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = countsQ(ctx, tx, election)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("idpstore: counts: %w", err)
	}
	return out, nil
}

// SetNotifyPhone records the number a voter's notices go to.
func (s *Store) SetNotifyPhone(ctx context.Context, election string, p [32]byte, phone string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE idp_voters SET notify_phone = $3 WHERE election_id = $1 AND pseudonym = $2`, election, p[:], phone)
	if err != nil {
		return fmt.Errorf("idpstore: set notify phone: %w", err)
	}
	return nil
}
