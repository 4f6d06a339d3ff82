package idpstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// OutboxEntry is a board entry queued for posting.
type OutboxEntry struct {
	ID        int64
	EntryType uint16
	Payload   []byte
	CreatedAt int64
}

func enqueue(ctx context.Context, tx *sql.Tx, entryType uint16, payload []byte, at int64) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO idp_outbox (entry_type, payload, created_at) VALUES ($1, $2, $3) RETURNING id`,
		int(entryType), payload, at).Scan(&id)
	return id, err
}

// Enqueue queues a board entry on its own (the key set, for example).
func (s *Store) Enqueue(ctx context.Context, entryType uint16, payload []byte, at int64) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = enqueue(ctx, tx, entryType, payload, at)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("idpstore: enqueue: %w", err)
	}
	return id, nil
}

// Pending returns the entries not yet posted, in queue order, at most limit.
func (s *Store) Pending(ctx context.Context, limit int) ([]OutboxEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, entry_type, payload, created_at FROM idp_outbox WHERE board_index IS NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("idpstore: pending: %w", err)
	}
	defer rows.Close()
	var out []OutboxEntry
	for rows.Next() {
		var e OutboxEntry
		var t int
		if err := rows.Scan(&e.ID, &t, &e.Payload, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("idpstore: pending: %w", err)
		}
		e.EntryType = uint16(t)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Posted is an outbox entry on the board: its id and board index.
type Posted struct {
	ID    int64
	Index uint64
}

// MarkPosted records, in one transaction, that the outbox entries are on
// the board at their indices, at the given time: one statement per
// markRows entries (a round of posting marks hundreds).
func (s *Store) MarkPosted(ctx context.Context, at int64, entries ...Posted) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for len(entries) > 0 {
			n := min(len(entries), markRows)
			if err := markPosted(ctx, tx, at, entries[:n]); err != nil {
				return err
			}
			entries = entries[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("idpstore: mark posted: %w", err)
	}
	return nil
}

// markRows bounds the entries of one update (2 parameters each; a test
// lowers it).
var markRows = 1000

// markPosted sets board_index by id in one statement:
// UPDATE … SET board_index = CASE id WHEN $2 THEN $3 … END … WHERE id IN
// ($2, $4, …).
func markPosted(ctx context.Context, tx *sql.Tx, at int64, entries []Posted) error {
	var q, in strings.Builder
	q.WriteString(`UPDATE idp_outbox SET posted_at = $1, board_index = CASE id`)
	args := make([]any, 0, 1+2*len(entries))
	args = append(args, at)
	for i, e := range entries {
		fmt.Fprintf(&q, " WHEN CAST($%d AS BIGINT) THEN CAST($%d AS BIGINT)", 2*i+2, 2*i+3)
		if i > 0 {
			in.WriteString(", ")
		}
		fmt.Fprintf(&in, "CAST($%d AS BIGINT)", 2*i+2)
		args = append(args, e.ID, int64(e.Index))
	}
	q.WriteString(" END WHERE id IN (" + in.String() + ")")
	res, err := tx.ExecContext(ctx, q.String(), args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != int64(len(entries)) {
		return fmt.Errorf("%d of %d outbox entries found", n, len(entries))
	}
	return nil
}
