// Package postgres is the PostgreSQL store.Store backend on pgx/v5. Schema
// migrations are embedded and applied in order, each in its own
// transaction under an advisory lock. Append-only is enforced by the
// database (triggers refusing UPDATE, DELETE and TRUNCATE); durability by
// committing every append, and every other write, with
// synchronous_commit = on, whatever the server's default (so that with a
// synchronous standby everything acknowledged survives a failover); live
// following by LISTEN/NOTIFY, on a channel named
// after the schema so several schemas in one database do not cross-talk.
package postgres

import (
	"context"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"evote/store"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the advisory-lock key serialising migrators.
const migrationLock = 0x65766f7465 // "evote"

// Store is the PostgreSQL backend.
type Store struct {
	pool    *pgxpool.Pool
	channel string

	hub        store.Hub
	listenOnce sync.Mutex
	listening  bool
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

var (
	_ store.Store           = (*Store)(nil)
	_ store.Barrier         = (*Store)(nil)
	_ store.CheckpointLock  = (*Store)(nil)
	_ store.Sizer           = (*Store)(nil)
	_ store.AuditFence      = (*Store)(nil)
	_ store.CheckpointClaim = (*Store)(nil)
)

// Open connects with a pgx DSN (URL or key=value form; a search_path
// parameter selects the schema) and applies pending migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: parse DSN: %w", err)
	}
	// Every commit of every session waits for the synchronous standby (if
	// the server has one), whatever the server's default: a checkpoint,
	// a snapshot or an audit's publication acknowledged must survive a
	// failover as the entries do, or the log could sign a second
	// checkpoint at one size after it.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: connect: %w", err)
	}
	s := &Store{pool: pool}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store/postgres: connect: %w", err)
	}
	s.channel = "evote_bulletin:" + schema
	if len(s.channel) > 63 {
		s.channel = s.channel[:63]
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Pool exposes the connection pool to packages that add their own tables.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) migrate(ctx context.Context) error {
	ms, err := store.LoadMigrations(migrationFS, "migrations")
	if err != nil {
		return err
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("store/postgres: migration %d (%s): %w", m.Version, m.Name, err)
		}
	}
	return nil
}

// lockKey is the per-log advisory-lock key: the first 8 bytes of the log
// id as a signed big-endian integer (bulletin_append computes the same).
func lockKey(log store.LogID) int64 { return int64(binary.BigEndian.Uint64(log[:8])) }

// Append implements store.Store with one statement, bulletin_append
// (migration 0002): in a single round trip and one implicit transaction it
// forces synchronous_commit, takes the log's advisory lock, checks the
// start index, inserts the rows and queues the NOTIFY delivered at commit.
func (s *Store) Append(ctx context.Context, log store.LogID, first uint64, recs []store.Record) error {
	if err := store.CheckRecords(recs); err != nil {
		return err
	}
	if first+uint64(len(recs)) > 1<<62 {
		return fmt.Errorf("%w: index overflow", store.ErrInvalid)
	}
	n := len(recs)
	hashes, types, data := make([][]byte, n), make([]int32, n), make([][]byte, n)
	for i, r := range recs {
		hashes[i], types[i], data[i] = r.Hash[:], int32(r.Type), r.Data
	}
	fn := "bulletin_append"
	if store.HoldsBarrier(ctx) {
		fn = "bulletin_append_holding" // this process holds the log's barrier
	}
	var err error
	if fence, ok := store.AuditFenceOf(ctx); ok {
		// Migration 0006: the pool must still hold fence audits.
		_, err = s.pool.Exec(ctx, `SELECT bulletin_append_fenced($1, $2, $3, $4, $5, $6, $7, $8)`, log[:], int64(first), hashes, types, data, s.channel, int64(fence), store.HoldsBarrier(ctx))
	} else {
		_, err = s.pool.Exec(ctx, `SELECT `+fn+`($1, $2, $3, $4, $5, $6)`, log[:], int64(first), hashes, types, data, s.channel)
	}
	if err != nil {
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "EV002":
			return fmt.Errorf("%w: %s", store.ErrAuditFence, pe.Message)
		case errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "bulletin_entries_hash_key":
			return fmt.Errorf("%w: %s", store.ErrDuplicate, pe.Detail)
		case errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "EV001"):
			return fmt.Errorf("%w: %s", store.ErrConflict, pe.Message)
		}
		return fmt.Errorf("store/postgres: append: %w", err)
	}
	return nil
}

// barrierKeys are the log's barrier keys in the two-key advisory-lock
// space: the first 8 bytes of the log id as two signed big-endian
// integers (bulletin_append computes the same, migration 0005).
func barrierKeys(log store.LogID) (int32, int32) {
	return int32(binary.BigEndian.Uint32(log[:4])), int32(binary.BigEndian.Uint32(log[4:8]))
}

// Barrier implements store.Barrier: a session advisory lock on its own
// connection, taken once the appends in progress have committed. If the
// unlock fails the connection is closed, which releases it too; so does
// the death of this process.
func (s *Store) Barrier(ctx context.Context, log store.LogID) (func(), error) {
	k1, k2 := barrierKeys(log)
	return s.sessionLock(ctx, "barrier", `SELECT pg_advisory_lock($1::integer, $2::integer)`, `SELECT pg_advisory_unlock($1::integer, $2::integer)`, k1, k2)
}

// checkpointLockKey is the log's checkpoint-lock key in the one-key
// advisory-lock space: bytes 8–15 of the log id as a signed big-endian
// integer, apart from the append lock (bytes 0–7, lockKey) and from the
// barrier (the two-key space, barrierKeys), so that signing never stalls
// an append.
func checkpointLockKey(log store.LogID) int64 {
	return int64(binary.BigEndian.Uint64(log[8:16]))
}

// CheckpointLock implements store.CheckpointLock: a session advisory lock
// on its own connection. If the unlock fails the connection is closed,
// which releases it too; so does the death of this process.
func (s *Store) CheckpointLock(ctx context.Context, log store.LogID) (func(), error) {
	return s.sessionLock(ctx, "checkpoint lock", `SELECT pg_advisory_lock($1)`, `SELECT pg_advisory_unlock($1)`, checkpointLockKey(log))
}

// sessionLock takes a session advisory lock on a connection of its own
// and returns its release.
func (s *Store) sessionLock(ctx context.Context, what, lock, unlock string, keys ...any) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: %s: %w", what, err)
	}
	if _, err := conn.Exec(ctx, lock, keys...); err != nil {
		conn.Conn().Close(context.Background())
		conn.Release()
		return nil, fmt.Errorf("store/postgres: %s: %w", what, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := conn.Exec(ctx, unlock, keys...); err != nil {
				conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, nil
}

// Size implements store.Store.
func (s *Store) Size(ctx context.Context, log store.LogID) (uint64, error) {
	var size int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = $1`, log[:]).Scan(&size); err != nil {
		return 0, fmt.Errorf("store/postgres: size: %w", err)
	}
	return uint64(size), nil
}

func scanRecord(row pgx.Row) (store.Record, error) {
	var r store.Record
	var idx int64
	var typ int32
	var h []byte
	if err := row.Scan(&idx, &h, &typ, &r.Data); err != nil {
		return r, err
	}
	if len(h) != 32 {
		return r, fmt.Errorf("store/postgres: stored hash of %d bytes", len(h))
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
	rows, err := s.pool.Query(ctx, `SELECT idx, hash, type, data FROM bulletin_entries WHERE log_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, log[:], int64(start), int64(end))
	if err != nil {
		return nil, fmt.Errorf("store/postgres: range: %w", err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: range: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: range: %w", err)
	}
	return out, nil
}

// Sizes implements store.Sizer: octet_length(data) reads the stored value's length,
// not the value.
func (s *Store) Sizes(ctx context.Context, log store.LogID, start, end uint64) ([]uint64, error) {
	if err := store.CheckRange(start, end); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT octet_length(data) FROM bulletin_entries WHERE log_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, log[:], int64(start), int64(end))
	if err != nil {
		return nil, fmt.Errorf("store/postgres: sizes: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store/postgres: sizes: %w", err)
		}
		out = append(out, uint64(n))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: sizes: %w", err)
	}
	return out, nil
}

// ByHash implements store.Store.
func (s *Store) ByHash(ctx context.Context, log store.LogID, hash [32]byte) (store.Record, error) {
	r, err := scanRecord(s.pool.QueryRow(ctx, `SELECT idx, hash, type, data FROM bulletin_entries WHERE log_id = $1 AND hash = $2`, log[:], hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: entry %x", store.ErrNotFound, hash)
	}
	if err != nil {
		return r, fmt.Errorf("store/postgres: by hash: %w", err)
	}
	return r, nil
}

// PutCheckpoint implements store.Store.
func (s *Store) PutCheckpoint(ctx context.Context, log store.LogID, cp store.Checkpoint) error {
	if len(cp.Note) == 0 || cp.Size > 1<<62 {
		return fmt.Errorf("%w: empty checkpoint note", store.ErrInvalid)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(log)); err != nil {
			return err
		}
		var latest *int64
		var size int64
		if err := tx.QueryRow(ctx, `SELECT max(size) FROM bulletin_checkpoints WHERE log_id = $1`, log[:]).Scan(&latest); err != nil {
			return err
		}
		if latest != nil && uint64(*latest) >= cp.Size {
			return fmt.Errorf("%w: latest %d, new %d", store.ErrCheckpointOrder, *latest, cp.Size)
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = $1`, log[:]).Scan(&size); err != nil {
			return err
		}
		if cp.Size > uint64(size) {
			return fmt.Errorf("%w: checkpoint size %d beyond log size %d", store.ErrInvalid, cp.Size, size)
		}
		_, err := tx.Exec(ctx, `INSERT INTO bulletin_checkpoints (log_id, size, note) VALUES ($1, $2, $3)`, log[:], int64(cp.Size), cp.Note)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrCheckpointOrder) || errors.Is(err, store.ErrInvalid) {
			return err
		}
		return fmt.Errorf("store/postgres: put checkpoint: %w", err)
	}
	return nil
}

// ClaimCheckpoint implements store.CheckpointClaim (migration 0007): the
// insert does nothing if a body is claimed for the size already; the
// stored body is then read (by a second statement if the first one's
// snapshot predates a concurrent claim's commit).
func (s *Store) ClaimCheckpoint(ctx context.Context, log store.LogID, size uint64, body []byte) ([]byte, error) {
	if len(body) == 0 || len(body) > store.MaxRecordSize || size > 1<<62 {
		return nil, fmt.Errorf("%w: checkpoint claim of %d bytes at size %d", store.ErrInvalid, len(body), size)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO bulletin_checkpoint_claims (log_id, size, body) VALUES ($1, $2, $3) ON CONFLICT (log_id, size) DO NOTHING`, log[:], int64(size), body); err != nil {
		return nil, fmt.Errorf("store/postgres: claim checkpoint: %w", err)
	}
	var stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT body FROM bulletin_checkpoint_claims WHERE log_id = $1 AND size = $2`, log[:], int64(size)).Scan(&stored); err != nil {
		return nil, fmt.Errorf("store/postgres: claim checkpoint: %w", err)
	}
	return stored, nil
}

func (s *Store) checkpoint(ctx context.Context, q string, args ...any) (store.Checkpoint, error) {
	var cp store.Checkpoint
	var size int64
	err := s.pool.QueryRow(ctx, q, args...).Scan(&size, &cp.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return cp, fmt.Errorf("%w: checkpoint", store.ErrNotFound)
	}
	if err != nil {
		return cp, fmt.Errorf("store/postgres: checkpoint: %w", err)
	}
	cp.Size = uint64(size)
	return cp, nil
}

// LatestCheckpoint implements store.Store.
func (s *Store) LatestCheckpoint(ctx context.Context, log store.LogID) (store.Checkpoint, error) {
	return s.checkpoint(ctx, `SELECT size, note FROM bulletin_checkpoints WHERE log_id = $1 ORDER BY size DESC LIMIT 1`, log[:])
}

// CheckpointAt implements store.Store.
func (s *Store) CheckpointAt(ctx context.Context, log store.LogID, size uint64) (store.Checkpoint, error) {
	if size > 1<<62 {
		return store.Checkpoint{}, fmt.Errorf("%w: checkpoint", store.ErrNotFound)
	}
	return s.checkpoint(ctx, `SELECT size, note FROM bulletin_checkpoints WHERE log_id = $1 AND size = $2`, log[:], int64(size))
}

// AddAudit implements store.Store: one statement, committed with
// synchronous_commit = on whatever the server's default, so an audit the
// ballot box acknowledges survives a crash.
func (s *Store) AddAudit(ctx context.Context, log store.LogID, a store.Audit) error {
	if err := store.CheckAudit(a); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO ballotbox_audits (log_id, code, entry_hash, entry, ballot)
		SELECT $1, $2, $3, $4, $5 FROM (SELECT set_config('synchronous_commit', 'on', true)) AS durable`,
		log[:], a.Code[:], a.EntryHash[:], a.Entry, a.Ballot)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("%w: audit %x: %s", store.ErrDuplicate, a.Code, pe.ConstraintName)
	}
	if err != nil {
		return fmt.Errorf("store/postgres: add audit: %w", err)
	}
	return nil
}

// AuditCount implements store.AuditFence.
func (s *Store) AuditCount(ctx context.Context, log store.LogID) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM ballotbox_audits WHERE log_id = $1`, log[:]).Scan(&n); err != nil {
		return 0, fmt.Errorf("store/postgres: audit count: %w", err)
	}
	return uint64(n), nil
}

func scanAudit(row pgx.Row) (store.Audit, error) {
	var a store.Audit
	var code, h []byte
	if err := row.Scan(&code, &h, &a.Entry, &a.Ballot, &a.Published); err != nil {
		return a, err
	}
	if len(code) != 32 || len(h) != 32 {
		return a, errors.New("store/postgres: stored audit code or hash of the wrong size")
	}
	copy(a.Code[:], code)
	copy(a.EntryHash[:], h)
	return a, nil
}

// Audits implements store.Store.
func (s *Store) Audits(ctx context.Context, log store.LogID, pendingOnly bool) ([]store.Audit, error) {
	rows, err := s.pool.Query(ctx, `SELECT code, entry_hash, entry, ballot, published FROM ballotbox_audits
		WHERE log_id = $1 AND (NOT $2 OR NOT published) ORDER BY code`, log[:], pendingOnly)
	if err != nil {
		return nil, fmt.Errorf("store/postgres: audits: %w", err)
	}
	defer rows.Close()
	var out []store.Audit
	for rows.Next() {
		a, err := scanAudit(rows)
		if err != nil {
			return nil, fmt.Errorf("store/postgres: audits: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: audits: %w", err)
	}
	return out, nil
}

// AuditByCode implements store.Store.
func (s *Store) AuditByCode(ctx context.Context, log store.LogID, code [32]byte) (store.Audit, error) {
	a, err := scanAudit(s.pool.QueryRow(ctx, `SELECT code, entry_hash, entry, ballot, published FROM ballotbox_audits WHERE log_id = $1 AND code = $2`, log[:], code[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("%w: audit %x", store.ErrNotFound, code)
	}
	if err != nil {
		return a, fmt.Errorf("store/postgres: audit by code: %w", err)
	}
	return a, nil
}

// MarkAuditsPublished implements store.Store.
func (s *Store) MarkAuditsPublished(ctx context.Context, log store.LogID, codes [][32]byte) error {
	if len(codes) == 0 {
		return nil
	}
	cs := make([][]byte, len(codes))
	for i := range codes {
		cs[i] = codes[i][:]
	}
	_, err := s.pool.Exec(ctx, `UPDATE ballotbox_audits SET published = true WHERE log_id = $1 AND code = ANY($2) AND NOT published`, log[:], cs)
	if err != nil {
		return fmt.Errorf("store/postgres: mark audits published: %w", err)
	}
	return nil
}

// Subscribe implements store.Store. The first call starts one listener
// connection for the store; it returns once the LISTEN is active, so no
// append committed after Subscribe returns goes unnoticed.
func (s *Store) Subscribe(ctx context.Context, log store.LogID) (<-chan uint64, error) {
	if err := s.startListener(ctx); err != nil {
		return nil, err
	}
	return s.hub.Subscribe(ctx, log)
}

func (s *Store) startListener(ctx context.Context) error {
	s.listenOnce.Lock()
	defer s.listenOnce.Unlock()
	if s.listening {
		return nil
	}
	conn, err := s.listen(ctx)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stop, s.listening = cancel, true
	s.wg.Add(1)
	go s.follow(lctx, conn)
	return nil
}

func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("store/postgres: listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("store/postgres: listen: %w", err)
	}
	return conn, nil
}

// follow relays notifications to the hub, reconnecting after errors. The
// NOTIFYs sent while the listener was down are lost, so once it listens
// again it publishes the current size of every followed log: a follower
// never stays behind an append it was not told of.
func (s *Store) follow(ctx context.Context, conn *pgx.Conn) {
	defer s.wg.Done()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			conn.Close(context.Background())
			for {
				if ctx.Err() != nil {
					return
				}
				time.Sleep(time.Second)
				if conn, err = s.listen(ctx); err == nil {
					break
				}
			}
			for _, log := range s.hub.Subscribed() {
				if size, err := s.Size(ctx, log); err == nil {
					s.hub.Publish(log, size)
				}
			}
			continue
		}
		logHex, sizeStr, ok := strings.Cut(n.Payload, " ")
		raw, err1 := hex.DecodeString(logHex)
		size, err2 := strconv.ParseUint(sizeStr, 10, 64)
		if !ok || err1 != nil || err2 != nil || len(raw) != 32 {
			continue
		}
		var log store.LogID
		copy(log[:], raw)
		s.hub.Publish(log, size)
	}
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.listenOnce.Lock()
	if s.stop != nil {
		s.stop()
	}
	s.listenOnce.Unlock()
	s.wg.Wait()
	s.hub.Close()
	s.pool.Close()
	return nil
}
