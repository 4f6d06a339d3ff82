// Package sqlite is the embedded store.Store backend on modernc.org/sqlite
// (pure Go, no cgo), so evote runs on a fresh machine with nothing to set
// up. The database runs in WAL mode with synchronous=FULL: a commit returns
// only after the write-ahead log is fsynced, which is what makes an
// acknowledged append durable. Append-only is enforced by triggers.
// Subscriptions are in-process only (one process owns an SQLite file).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"evote/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the SQLite backend.
type Store struct {
	db  *sql.DB
	hub store.Hub
	// path is the database file's path ("" for an in-memory database):
	// snapshots are kept in files beside it (snapshot.go).
	path   string
	snapMu sync.Mutex // one PutSnapshot at a time
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Sizer = (*Store)(nil)
)

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: open %s: %w", path, err)
	}
	s := &Store{db: db}
	if path != "" && !strings.Contains(path, ":memory:") && !strings.HasPrefix(path, "file:") {
		s.path = path
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB exposes the database so packages that append their own migrations can
// share it.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate(ctx context.Context) error {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("store/sqlite: migrations table: %w", err)
	}
	for _, m := range ms {
		tx, err := s.db.BeginTx(ctx, nil) // IMMEDIATE: serialises migrators
		if err != nil {
			return fmt.Errorf("store/sqlite: migration %d: %w", m.Version, err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
			tx.Rollback()
			return fmt.Errorf("store/sqlite: migration %d: %w", m.Version, err)
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				tx.Rollback()
				return fmt.Errorf("store/sqlite: migration %d (%s): %w", m.Version, m.Name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.Version, m.Name); err != nil {
				tx.Rollback()
				return fmt.Errorf("store/sqlite: migration %d: %w", m.Version, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store/sqlite: migration %d: %w", m.Version, err)
		}
	}
	return nil
}

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, log store.LogID, first uint64, recs []store.Record) error {
	if err := store.CheckRecords(recs); err != nil {
		return err
	}
	if first+uint64(len(recs)) > 1<<62 {
		return fmt.Errorf("%w: index overflow", store.ErrInvalid)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: append: %w", err)
	}
	defer tx.Rollback()
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = ?`, log[:]).Scan(&size); err != nil {
		return fmt.Errorf("store/sqlite: append: %w", err)
	}
	if uint64(size) != first {
		return fmt.Errorf("%w: log has %d entries, append at %d", store.ErrConflict, size, first)
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO bulletin_entries (log_id, idx, hash, type, data) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store/sqlite: append: %w", err)
	}
	defer st.Close()
	for i, r := range recs {
		if _, err := st.ExecContext(ctx, log[:], int64(first)+int64(i), r.Hash[:], int64(r.Type), r.Data); err != nil {
			if isUnique(err) {
				return fmt.Errorf("%w: record %d (%x)", store.ErrDuplicate, i, r.Hash)
			}
			return fmt.Errorf("store/sqlite: append: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store/sqlite: append commit: %w", err)
	}
	s.hub.Publish(log, first+uint64(len(recs)))
	return nil
}

// Size implements store.Store.
func (s *Store) Size(ctx context.Context, log store.LogID) (uint64, error) {
	var size int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = ?`, log[:]).Scan(&size); err != nil {
		return 0, fmt.Errorf("store/sqlite: size: %w", err)
	}
	return uint64(size), nil
}

func scanRecord(sc interface{ Scan(...any) error }) (store.Record, error) {
	var r store.Record
	var idx, typ int64
	var h []byte
	if err := sc.Scan(&idx, &h, &typ, &r.Data); err != nil {
		return r, err
	}
	if len(h) != 32 {
		return r, fmt.Errorf("store/sqlite: stored hash of %d bytes", len(h))
	}
	r.Index, r.Type = uint64(idx), uint16(typ)
	copy(r.Hash[:], h)
	return r, nil
}

// Range implements store.Store.
func (s *Store) Range(ctx context.Context, log store.LogID, start, end uint64) ([]store.Record, error) {
	if err := store.CheckRange(start, end); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT idx, hash, type, data FROM bulletin_entries WHERE log_id = ? AND idx >= ? AND idx < ? ORDER BY idx`, log[:], int64(start), int64(end))
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: range: %w", err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: range: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: range: %w", err)
	}
	return out, nil
}

// Sizes implements store.Sizer: length(data) reads the stored value's length,
// not the value.
func (s *Store) Sizes(ctx context.Context, log store.LogID, start, end uint64) ([]uint64, error) {
	if err := store.CheckRange(start, end); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT length(data) FROM bulletin_entries WHERE log_id = ? AND idx >= ? AND idx < ? ORDER BY idx`, log[:], int64(start), int64(end))
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: sizes: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store/sqlite: sizes: %w", err)
		}
		out = append(out, uint64(n))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: sizes: %w", err)
	}
	return out, nil
}

// ByHash implements store.Store.
func (s *Store) ByHash(ctx context.Context, log store.LogID, hash [32]byte) (store.Record, error) {
	r, err := scanRecord(s.db.QueryRowContext(ctx, `SELECT idx, hash, type, data FROM bulletin_entries WHERE log_id = ? AND hash = ?`, log[:], hash[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("%w: entry %x", store.ErrNotFound, hash)
	}
	if err != nil {
		return r, fmt.Errorf("store/sqlite: by hash: %w", err)
	}
	return r, nil
}

// PutCheckpoint implements store.Store.
func (s *Store) PutCheckpoint(ctx context.Context, log store.LogID, cp store.Checkpoint) error {
	if len(cp.Note) == 0 || cp.Size > 1<<62 {
		return fmt.Errorf("%w: empty checkpoint note", store.ErrInvalid)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: put checkpoint: %w", err)
	}
	defer tx.Rollback()
	var latest sql.NullInt64
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT max(size) FROM bulletin_checkpoints WHERE log_id = ?`, log[:]).Scan(&latest); err != nil {
		return fmt.Errorf("store/sqlite: put checkpoint: %w", err)
	}
	if latest.Valid && uint64(latest.Int64) >= cp.Size {
		return fmt.Errorf("%w: latest %d, new %d", store.ErrCheckpointOrder, latest.Int64, cp.Size)
	}
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = ?`, log[:]).Scan(&size); err != nil {
		return fmt.Errorf("store/sqlite: put checkpoint: %w", err)
	}
	if cp.Size > uint64(size) {
		return fmt.Errorf("%w: checkpoint size %d beyond log size %d", store.ErrInvalid, cp.Size, size)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO bulletin_checkpoints (log_id, size, note) VALUES (?, ?, ?)`, log[:], int64(cp.Size), cp.Note); err != nil {
		return fmt.Errorf("store/sqlite: put checkpoint: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store/sqlite: put checkpoint: %w", err)
	}
	return nil
}

func (s *Store) checkpoint(ctx context.Context, q string, args ...any) (store.Checkpoint, error) {
	var cp store.Checkpoint
	var size int64
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&size, &cp.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return cp, fmt.Errorf("%w: checkpoint", store.ErrNotFound)
	}
	if err != nil {
		return cp, fmt.Errorf("store/sqlite: checkpoint: %w", err)
	}
	cp.Size = uint64(size)
	return cp, nil
}

// LatestCheckpoint implements store.Store.
func (s *Store) LatestCheckpoint(ctx context.Context, log store.LogID) (store.Checkpoint, error) {
	return s.checkpoint(ctx, `SELECT size, note FROM bulletin_checkpoints WHERE log_id = ? ORDER BY size DESC LIMIT 1`, log[:])
}

// CheckpointAt implements store.Store.
func (s *Store) CheckpointAt(ctx context.Context, log store.LogID, size uint64) (store.Checkpoint, error) {
	if size > 1<<62 {
		return store.Checkpoint{}, fmt.Errorf("%w: checkpoint", store.ErrNotFound)
	}
	return s.checkpoint(ctx, `SELECT size, note FROM bulletin_checkpoints WHERE log_id = ? AND size = ?`, log[:], int64(size))
}

// AddAudit implements store.Store.
func (s *Store) AddAudit(ctx context.Context, log store.LogID, a store.Audit) error {
	if err := store.CheckAudit(a); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO ballotbox_audits (log_id, code, entry_hash, entry, ballot) VALUES (?, ?, ?, ?, ?)`,
		log[:], a.Code[:], a.EntryHash[:], a.Entry, a.Ballot)
	if isUnique(err) {
		return fmt.Errorf("%w: audit %x", store.ErrDuplicate, a.Code)
	}
	if err != nil {
		return fmt.Errorf("store/sqlite: add audit: %w", err)
	}
	return nil
}

func scanAudit(sc interface{ Scan(...any) error }) (store.Audit, error) {
	var a store.Audit
	var code, h []byte
	var pub int64
	if err := sc.Scan(&code, &h, &a.Entry, &a.Ballot, &pub); err != nil {
		return a, err
	}
	if len(code) != 32 || len(h) != 32 {
		return a, errors.New("store/sqlite: stored audit code or hash of the wrong size")
	}
	copy(a.Code[:], code)
	copy(a.EntryHash[:], h)
	a.Published = pub == 1
	return a, nil
}

// Audits implements store.Store.
func (s *Store) Audits(ctx context.Context, log store.LogID, pendingOnly bool) ([]store.Audit, error) {
	q := `SELECT code, entry_hash, entry, ballot, published FROM ballotbox_audits WHERE log_id = ?`
	if pendingOnly {
		q += ` AND published = 0`
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY code`, log[:])
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: audits: %w", err)
	}
	defer rows.Close()
	var out []store.Audit
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store/sqlite: audits: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: audits: %w", err)
	}
	return out, nil
}

// AuditByCode implements store.Store.
func (s *Store) AuditByCode(ctx context.Context, log store.LogID, code [32]byte) (store.Audit, error) {
	a, err := scanAudit(s.db.QueryRowContext(ctx, `SELECT code, entry_hash, entry, ballot, published FROM ballotbox_audits WHERE log_id = ? AND code = ?`, log[:], code[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("%w: audit %x", store.ErrNotFound, code)
	}
	if err != nil {
		return a, fmt.Errorf("store/sqlite: audit by code: %w", err)
	}
	return a, nil
}

// MarkAuditsPublished implements store.Store.
func (s *Store) MarkAuditsPublished(ctx context.Context, log store.LogID, codes [][32]byte) error {
	if len(codes) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: mark audits published: %w", err)
	}
	defer tx.Rollback()
	for _, c := range codes {
		if _, err := tx.ExecContext(ctx, `UPDATE ballotbox_audits SET published = 1 WHERE log_id = ? AND code = ? AND published = 0`, log[:], c[:]); err != nil {
			return fmt.Errorf("store/sqlite: mark audits published: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store/sqlite: mark audits published: %w", err)
	}
	return nil
}

// Subscribe implements store.Store (in-process notifications).
func (s *Store) Subscribe(ctx context.Context, log store.LogID) (<-chan uint64, error) {
	return s.hub.Subscribe(ctx, log)
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.hub.Close()
	if err := s.db.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
		return fmt.Errorf("store/sqlite: close: %w", err)
	}
	return nil
}
