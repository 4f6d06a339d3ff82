package idpstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// A Budget is a rate limit per subject (spec/08-identity.md §8.11): at most
// Size units at once, one more every Interval seconds. It is kept as the
// generic cell rate algorithm's theoretical arrival time (TAT), one
// integer per subject and kind: a unit can be taken at time now if
// max(TAT, now) + Interval <= now + Size·Interval, and taking it sets TAT to
// the left side. A row whose TAT has passed is a full budget, so rows need
// no reset and old ones can be deleted at any time.
type Budget struct {
	Kind     string // names the budget, e.g. "answers" or "codes"
	Size     int64
	Interval int64 // seconds
}

// Take takes one unit of each of subject's budgets bs at Unix time now,
// each independently of the others, in one atomic statement (concurrent
// takes never overdraw, on either database). It returns, for each budget,
// 0 if a unit was taken and otherwise the seconds until one will be left.
func (s *Store) Take(ctx context.Context, subject string, now int64, bs ...Budget) ([]int64, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	args := []any{subject, now}
	seen := map[string]bool{}
	for _, b := range bs {
		if b.Size < 1 || b.Interval < 1 || b.Kind == "" || seen[b.Kind] {
			return nil, fmt.Errorf("idpstore: budget %q: kind (once), size and interval must be given", b.Kind)
		}
		seen[b.Kind] = true
		args = append(args, b.Kind, b.Interval, b.Size*b.Interval)
	}
	st, err := s.takeStmt(ctx, len(bs))
	if err != nil {
		return nil, fmt.Errorf("idpstore: take budgets: %w", err)
	}
	r, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("idpstore: take budgets: %w", err)
	}
	taken := map[string]bool{}
	for r.Next() {
		var k string
		if err := r.Scan(&k); err != nil {
			r.Close()
			return nil, fmt.Errorf("idpstore: take budgets: %w", err)
		}
		taken[k] = true
	}
	if err := r.Close(); err != nil {
		return nil, fmt.Errorf("idpstore: take budgets: %w", err)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("idpstore: take budgets: %w", err)
	}
	waits := make([]int64, len(bs))
	for i, b := range bs {
		if taken[b.Kind] {
			continue
		}
		var tat int64
		if err := s.db.QueryRowContext(ctx, `SELECT tat FROM idp_budgets WHERE subject = $1 AND kind = $2`, subject, b.Kind).Scan(&tat); err != nil {
			return nil, fmt.Errorf("idpstore: take %s: %w", b.Kind, err)
		}
		waits[i] = max(max(tat, now)+b.Interval-now-b.Size*b.Interval, 1)
	}
	return waits, nil
}

// takeStmt returns Take's statement for n budgets, prepared on first use:
// one row of VALUES per budget (kind, interval, Size·Interval); in the
// update, excluded.tat - now is the budget's interval and excluded.span its
// Size·Interval, and a row the WHERE refuses is neither changed nor
// returned.
func (s *Store) takeStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	s.takeMu.Lock()
	defer s.takeMu.Unlock()
	if st := s.takes[n]; st != nil {
		return st, nil
	}
	rows := make([]string, n)
	for i := range rows {
		k := 3 + 3*i
		rows[i] = fmt.Sprintf("($1, $%d, CAST($2 AS BIGINT) + CAST($%d AS BIGINT), CAST($%d AS BIGINT))", k, k+1, k+2)
	}
	const next = `(CASE WHEN idp_budgets.tat > CAST($2 AS BIGINT) THEN idp_budgets.tat ELSE CAST($2 AS BIGINT) END) + (excluded.tat - CAST($2 AS BIGINT))`
	st, err := s.db.PrepareContext(ctx, `INSERT INTO idp_budgets (subject, kind, tat, span) VALUES `+strings.Join(rows, ", ")+`
		ON CONFLICT (subject, kind) DO UPDATE SET tat = `+next+`, span = excluded.span
		WHERE `+next+` <= CAST($2 AS BIGINT) + excluded.span
		RETURNING kind`)
	if err != nil {
		return nil, err
	}
	if s.takes == nil {
		s.takes = map[int]*sql.Stmt{}
	}
	s.takes[n] = st
	return st, nil
}

// GiveBack returns a unit that Take took (the work it paid for did not
// happen).
func (s *Store) GiveBack(ctx context.Context, subject string, b Budget) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE idp_budgets SET tat = tat - CAST($3 AS BIGINT) WHERE subject = $1 AND kind = $2`, subject, b.Kind, b.Interval); err != nil {
		return fmt.Errorf("idpstore: give back %s: %w", b.Kind, err)
	}
	return nil
}

// PurgeBudgets deletes the budgets that are full at Unix time before (as if
// never used) and returns how many.
func (s *Store) PurgeBudgets(ctx context.Context, before int64) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM idp_budgets WHERE tat <= $1`, before)
	if err != nil {
		return 0, fmt.Errorf("idpstore: purge budgets: %w", err)
	}
	return r.RowsAffected()
}
