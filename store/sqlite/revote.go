package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"evote/store"
)

var _ store.RevoteLedger = (*Store)(nil)

// AddRevoteCast implements store.RevoteLedger: the checks and the insert
// in one IMMEDIATE transaction, so that concurrent casts of one voter are
// counted one after the other.
func (s *Store) AddRevoteCast(ctx context.Context, log store.LogID, c store.RevoteCast, maxOnline int) (uint64, error) {
	if err := store.CheckRevoteCast(c, maxOnline); err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: add cast: %w", err)
	}
	defer tx.Rollback()
	var marks, online int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(mark), 0), coalesce(sum(1 - mark), 0) FROM ballotbox_revote_casts WHERE log_id = ? AND voter = ?`,
		log[:], c.Voter[:]).Scan(&marks, &online); err != nil {
		return 0, fmt.Errorf("store/sqlite: add cast: %w", err)
	}
	var dup int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ballotbox_revote_casts WHERE log_id = ? AND row_hash = ?`, log[:], c.RowHash[:]).Scan(&dup); err != nil {
		return 0, fmt.Errorf("store/sqlite: add cast: %w", err)
	}
	switch {
	case dup > 0:
		return 0, fmt.Errorf("%w: cast row %x", store.ErrDuplicate, c.RowHash[:8])
	case marks > 0:
		return 0, store.ErrRevoteMarked
	case !c.Mark && online >= maxOnline:
		return 0, fmt.Errorf("%w (%d)", store.ErrRevoteLimit, maxOnline)
	}
	mark := 0
	if c.Mark {
		mark = 1
	}
	extra := c.Extra
	if extra == nil {
		extra = []byte{}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ballotbox_revote_casts (log_id, row_hash, style, voter, mark, row, extra) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		log[:], c.RowHash[:], c.Style, c.Voter[:], mark, c.Row, extra)
	if isUnique(err) {
		return 0, fmt.Errorf("%w: cast row %x", store.ErrDuplicate, c.RowHash[:8])
	}
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: add cast: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: add cast: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store/sqlite: add cast: %w", err)
	}
	return uint64(seq), nil
}

// RevoteCasts implements store.RevoteLedger.
func (s *Store) RevoteCasts(ctx context.Context, log store.LogID, after uint64) ([]store.RevoteCast, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, row_hash, style, voter, mark, row, extra FROM ballotbox_revote_casts WHERE log_id = ? AND seq > ? ORDER BY seq`, log[:], int64(after))
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: casts: %w", err)
	}
	defer rows.Close()
	var out []store.RevoteCast
	for rows.Next() {
		var c store.RevoteCast
		var seq int64
		var h, v []byte
		var mark int
		if err := rows.Scan(&seq, &h, &c.Style, &v, &mark, &c.Row, &c.Extra); err != nil {
			return nil, fmt.Errorf("store/sqlite: casts: %w", err)
		}
		if len(h) != 32 || len(v) != 32 {
			return nil, errors.New("store/sqlite: stored cast hash or voter of the wrong size")
		}
		c.Seq, c.RowHash, c.Voter, c.Mark = uint64(seq), [32]byte(h), [32]byte(v), mark == 1
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: casts: %w", err)
	}
	return out, nil
}

// PutRevotePlan implements store.RevoteLedger.
func (s *Store) PutRevotePlan(ctx context.Context, log store.LogID, p store.RevotePlan) error {
	if err := store.CheckRevotePlan(p); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO ballotbox_revote_plans (log_id, style, slot, plan) VALUES (?, ?, ?, ?)
		ON CONFLICT (log_id, style, slot) DO UPDATE SET plan = excluded.plan`, log[:], p.Style, int64(p.Slot), p.Plan); err != nil {
		return fmt.Errorf("store/sqlite: put plan: %w", err)
	}
	return nil
}

// RevotePlans implements store.RevoteLedger.
func (s *Store) RevotePlans(ctx context.Context, log store.LogID) ([]store.RevotePlan, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT style, slot, plan FROM ballotbox_revote_plans WHERE log_id = ? ORDER BY style, slot`, log[:])
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: plans: %w", err)
	}
	defer rows.Close()
	return scanPlans(rows)
}

func scanPlans(rows *sql.Rows) ([]store.RevotePlan, error) {
	var out []store.RevotePlan
	for rows.Next() {
		var p store.RevotePlan
		var slot int64
		if err := rows.Scan(&p.Style, &slot, &p.Plan); err != nil {
			return nil, fmt.Errorf("store/sqlite: plans: %w", err)
		}
		p.Slot = uint32(slot)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store/sqlite: plans: %w", err)
	}
	return out, nil
}

// RevotePlan implements store.RevoteLedger.
func (s *Store) RevotePlan(ctx context.Context, log store.LogID, style string, slot uint32) (store.RevotePlan, error) {
	p := store.RevotePlan{Style: style, Slot: slot}
	err := s.db.QueryRowContext(ctx, `SELECT plan FROM ballotbox_revote_plans WHERE log_id = ? AND style = ? AND slot = ?`, log[:], style, int64(slot)).Scan(&p.Plan)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("%w: plan of slot %d of %s", store.ErrNotFound, slot, style)
	}
	if err != nil {
		return p, fmt.Errorf("store/sqlite: plan: %w", err)
	}
	return p, nil
}
