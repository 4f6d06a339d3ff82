package idpstore

import (
	"context"
	"database/sql"
	"fmt"
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
// the board at their indices, at the given time.
func (s *Store) MarkPosted(ctx context.Context, at int64, entries ...Posted) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE idp_outbox SET board_index = $2, posted_at = $3 WHERE id = $1`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, e := range entries {
			if _, err := st.ExecContext(ctx, e.ID, int64(e.Index), at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("idpstore: mark posted: %w", err)
	}
	return nil
}
