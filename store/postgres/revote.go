package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"evote/store"
)

var _ store.RevoteLedger = (*Store)(nil)

// revoteVoterLock is the advisory lock of one voter's casts in one log:
// the count and the insert of AddRevoteCast hold it, so that two
// processes casting for one voter are counted one after the other.
// It is in the one-key space, the first 8 bytes of SHA-256(log || voter):
// apart from the log's own locks except with probability 2^-64.
func revoteVoterLock(log store.LogID, voter [32]byte) int64 {
	h := sha256.Sum256(append(log[:], voter[:]...))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// revoteCastsLock is the advisory lock that orders a log's casts for its
// readers: every AddRevoteCast holds it shared from before its Seq is
// drawn until it commits, and RevoteCasts takes it exclusive, so a read
// waits for the casts in flight and every cast committed later has a
// higher Seq than any it returns. Without it a sequence hands out Seqs
// before the inserts commit, in any order: a reader that has seen Seq 5
// never reads a Seq 4 committed after it, and the box that follows the
// ledger by Seq lost that cast (storetest RevoteCastsFollowed). Casts
// still run concurrently with one another. The key is the first 8 bytes
// of SHA-256("revote-casts" || log).
func revoteCastsLock(log store.LogID) int64 {
	h := sha256.Sum256(append([]byte("revote-casts"), log[:]...))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// AddRevoteCast implements store.RevoteLedger.
func (s *Store) AddRevoteCast(ctx context.Context, log store.LogID, c store.RevoteCast, maxOnline int) (uint64, error) {
	if err := store.CheckRevoteCast(c, maxOnline); err != nil {
		return 0, err
	}
	extra := c.Extra
	if extra == nil {
		extra = []byte{}
	}
	var seq int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The log's casts lock first (shared), then the voter's: a
		// reader waiting for the first holds nothing a cast waits for.
		if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', true), pg_advisory_xact_lock_shared($1)`, revoteCastsLock(log)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, revoteVoterLock(log, c.Voter)); err != nil {
			return err
		}
		var marks, online int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE mark), count(*) FILTER (WHERE NOT mark) FROM ballotbox_revote_casts WHERE log_id = $1 AND voter = $2`,
			log[:], c.Voter[:]).Scan(&marks, &online); err != nil {
			return err
		}
		switch {
		case marks > 0:
			return store.ErrRevoteMarked
		case !c.Mark && online >= int64(maxOnline):
			return fmt.Errorf("%w (%d)", store.ErrRevoteLimit, maxOnline)
		}
		return tx.QueryRow(ctx, `INSERT INTO ballotbox_revote_casts (log_id, row_hash, style, voter, mark, row, extra) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`,
			log[:], c.RowHash[:], c.Style, c.Voter[:], c.Mark, c.Row, extra).Scan(&seq)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return 0, fmt.Errorf("%w: cast row %x", store.ErrDuplicate, c.RowHash[:8])
	}
	if errors.Is(err, store.ErrRevoteMarked) || errors.Is(err, store.ErrRevoteLimit) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("store/postgres: add cast: %w", err)
	}
	return uint64(seq), nil
}

// RevoteCasts implements store.RevoteLedger. It reads under the log's
// casts lock (revoteCastsLock), once the casts in flight have committed.
func (s *Store) RevoteCasts(ctx context.Context, log store.LogID, after uint64) ([]store.RevoteCast, error) {
	var out []store.RevoteCast
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = nil
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, revoteCastsLock(log)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT seq, row_hash, style, voter, mark, row, extra FROM ballotbox_revote_casts WHERE log_id = $1 AND seq > $2 ORDER BY seq`, log[:], int64(after))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c store.RevoteCast
			var seq int64
			var h, v []byte
			if err := rows.Scan(&seq, &h, &c.Style, &v, &c.Mark, &c.Row, &c.Extra); err != nil {
				return err
			}
			if len(h) != 32 || len(v) != 32 {
				return errors.New("stored cast hash or voter of the wrong size")
			}
			c.Seq, c.RowHash, c.Voter = uint64(seq), [32]byte(h), [32]byte(v)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store/postgres: casts: %w", err)
	}
	return out, nil
}

// PutRevotePlan implements store.RevoteLedger.
func (s *Store) PutRevotePlan(ctx context.Context, log store.LogID, p store.RevotePlan) error {
	if err := store.CheckRevotePlan(p); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO ballotbox_revote_plans (log_id, style, slot, plan)
		SELECT $1, $2, $3, $4 FROM (SELECT set_config('synchronous_commit', 'on', true)) AS durable
		ON CONFLICT (log_id, style, slot) DO UPDATE SET plan = excluded.plan`, log[:], p.Style, int64(p.Slot), p.Plan); err != nil {
		return fmt.Errorf("store/postgres: put plan: %w", err)
	}
	return nil
}

// RevotePlans implements store.RevoteLedger.
func (s *Store) RevotePlans(ctx context.Context, log store.LogID) ([]store.RevotePlan, error) {
	rows, err := s.pool.Query(ctx, `SELECT style, slot, plan FROM ballotbox_revote_plans WHERE log_id = $1 ORDER BY style, slot`, log[:])
	if err != nil {
		return nil, fmt.Errorf("store/postgres: plans: %w", err)
	}
	defer rows.Close()
	var out []store.RevotePlan
	for rows.Next() {
		var p store.RevotePlan
		var slot int64
		if err := rows.Scan(&p.Style, &slot, &p.Plan); err != nil {
			return nil, fmt.Errorf("store/postgres: plans: %w", err)
		}
		p.Slot = uint32(slot)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/postgres: plans: %w", err)
	}
	return out, nil
}

// RevotePlan implements store.RevoteLedger.
func (s *Store) RevotePlan(ctx context.Context, log store.LogID, style string, slot uint32) (store.RevotePlan, error) {
	p := store.RevotePlan{Style: style, Slot: slot}
	err := s.pool.QueryRow(ctx, `SELECT plan FROM ballotbox_revote_plans WHERE log_id = $1 AND style = $2 AND slot = $3`, log[:], style, int64(slot)).Scan(&p.Plan)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("%w: plan of slot %d of %s", store.ErrNotFound, slot, style)
	}
	if err != nil {
		return p, fmt.Errorf("store/postgres: plan: %w", err)
	}
	return p, nil
}
