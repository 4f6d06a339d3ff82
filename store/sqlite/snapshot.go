package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"evote/store"
)

// PutSnapshot implements store.Store: the log's parts are replaced in one
// IMMEDIATE transaction, fsynced at commit.
func (s *Store) PutSnapshot(ctx context.Context, log store.LogID, snap store.Snapshot) error {
	if err := store.CheckSnapshot(snap); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	defer tx.Rollback()
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = ?`, log[:]).Scan(&size); err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	if snap.Size > uint64(size) {
		return fmt.Errorf("%w: snapshot size %d beyond log size %d", store.ErrInvalid, snap.Size, size)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM bulletin_snapshots WHERE log_id = ?`, log[:]); err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	for i, p := range store.SnapshotParts(snap.Data) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO bulletin_snapshots (log_id, part, size, data) VALUES (?, ?, ?, ?)`, log[:], i, int64(snap.Size), p); err != nil {
			return fmt.Errorf("store/sqlite: put snapshot: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	return nil
}

// LatestSnapshot implements store.Store. The parts are read in one
// transaction, so a concurrent PutSnapshot is seen whole or not at all.
func (s *Store) LatestSnapshot(ctx context.Context, log store.LogID) (store.Snapshot, error) {
	return store.ReadSnapshot(ctx, log, s.StreamSnapshot)
}

var _ store.SnapshotStreamer = (*Store)(nil)

// StreamSnapshot implements store.SnapshotStreamer, in one transaction
// like LatestSnapshot.
func (s *Store) StreamSnapshot(ctx context.Context, log store.LogID, begin func(size uint64, length int64) error, part func([]byte) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store/sqlite: snapshot: %w", err)
	}
	defer tx.Rollback()
	var total sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT sum(length(data)) FROM bulletin_snapshots WHERE log_id = ?`, log[:]).Scan(&total); err != nil {
		return fmt.Errorf("store/sqlite: snapshot: %w", err)
	}
	if !total.Valid {
		return fmt.Errorf("%w: snapshot", store.ErrNotFound)
	}
	if total.Int64 > store.MaxSnapshot {
		return fmt.Errorf("%w: stored snapshot of %d bytes", store.ErrInvalid, total.Int64)
	}
	if total.Int64 == 0 {
		return errors.Join(store.ErrNotFound, errors.New("store/sqlite: empty snapshot"))
	}
	rows, err := tx.QueryContext(ctx, `SELECT part, size, data FROM bulletin_snapshots WHERE log_id = ? ORDER BY part`, log[:])
	if err != nil {
		return fmt.Errorf("store/sqlite: snapshot: %w", err)
	}
	defer rows.Close()
	var first int64
	read := int64(0)
	for want := int64(0); rows.Next(); want++ {
		var pn, size int64
		var data sql.RawBytes
		if err := rows.Scan(&pn, &size, &data); err != nil {
			return fmt.Errorf("store/sqlite: snapshot: %w", err)
		}
		if pn != want || (want > 0 && size != first) || size < 0 || read+int64(len(data)) > total.Int64 {
			return fmt.Errorf("%w: snapshot parts out of order", store.ErrInvalid)
		}
		if want == 0 {
			first = size
			if err := begin(uint64(size), total.Int64); err != nil {
				return err
			}
		}
		read += int64(len(data))
		if err := part(bytes.Clone(data)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store/sqlite: snapshot: %w", err)
	}
	if read != total.Int64 {
		return fmt.Errorf("%w: snapshot parts changed while read", store.ErrInvalid)
	}
	return nil
}
