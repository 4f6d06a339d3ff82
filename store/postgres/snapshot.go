package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"evote/store"
)

// PutSnapshot implements store.Store: the log's parts are replaced in one
// transaction, under the log's append lock so the size check holds.
func (s *Store) PutSnapshot(ctx context.Context, log store.LogID, snap store.Snapshot) error {
	if err := store.CheckSnapshot(snap); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(log)); err != nil {
			return err
		}
		var size int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = $1`, log[:]).Scan(&size); err != nil {
			return err
		}
		if snap.Size > uint64(size) {
			return fmt.Errorf("%w: snapshot size %d beyond log size %d", store.ErrInvalid, snap.Size, size)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM bulletin_snapshots WHERE log_id = $1`, log[:]); err != nil {
			return err
		}
		for i, p := range store.SnapshotParts(snap.Data) {
			if _, err := tx.Exec(ctx, `INSERT INTO bulletin_snapshots (log_id, part, size, data) VALUES ($1, $2, $3, $4)`, log[:], i, int64(snap.Size), p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return err
		}
		return fmt.Errorf("store/postgres: put snapshot: %w", err)
	}
	return nil
}

// LatestSnapshot implements store.Store. The parts are read in one
// repeatable-read transaction, so a concurrent PutSnapshot is seen whole
// or not at all.
func (s *Store) LatestSnapshot(ctx context.Context, log store.LogID) (store.Snapshot, error) {
	return store.ReadSnapshot(ctx, log, s.StreamSnapshot)
}

var _ store.SnapshotStreamer = (*Store)(nil)

// StreamSnapshot implements store.SnapshotStreamer, in one repeatable-read
// transaction like LatestSnapshot.
func (s *Store) StreamSnapshot(ctx context.Context, log store.LogID, begin func(size uint64, length int64) error, part func([]byte) error) error {
	var cbErr error // begin's or part's, returned as is
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var total *int64
		if err := tx.QueryRow(ctx, `SELECT sum(length(data)) FROM bulletin_snapshots WHERE log_id = $1`, log[:]).Scan(&total); err != nil {
			return err
		}
		if total == nil {
			return fmt.Errorf("%w: snapshot", store.ErrNotFound)
		}
		if *total > store.MaxSnapshot {
			return fmt.Errorf("%w: stored snapshot of %d bytes", store.ErrInvalid, *total)
		}
		// One part per query: pgx buffers a whole result row set only up
		// to the row being read, so this holds one part at a time.
		var first, read int64
		for n := int64(0); ; n++ {
			var size int64
			var data []byte
			err := tx.QueryRow(ctx, `SELECT size, data FROM bulletin_snapshots WHERE log_id = $1 AND part = $2`, log[:], n).Scan(&size, &data)
			if errors.Is(err, pgx.ErrNoRows) {
				break
			}
			if err != nil {
				return err
			}
			if n > 0 && size != first || size < 0 || read+int64(len(data)) > *total {
				return fmt.Errorf("%w: snapshot parts disagree on the size", store.ErrInvalid)
			}
			if n == 0 {
				first = size
				if cbErr = begin(uint64(size), *total); cbErr != nil {
					return cbErr
				}
			}
			read += int64(len(data))
			if cbErr = part(data); cbErr != nil {
				return cbErr
			}
		}
		if read != *total {
			return fmt.Errorf("%w: snapshot parts are not numbered 0, 1, …", store.ErrInvalid)
		}
		if read == 0 {
			return fmt.Errorf("%w: empty snapshot", store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		if cbErr != nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			return err
		}
		return fmt.Errorf("store/postgres: snapshot: %w", err)
	}
	return nil
}
