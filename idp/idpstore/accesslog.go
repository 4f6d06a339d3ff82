package idpstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"
)

// AccessEvent is one line of the access log: who (an opaque subject, never a
// PIN), from where, when, what, and the outcome. It is kept apart from
// ballots and purged after the retention period.
type AccessEvent struct {
	At      int64
	Client  string
	Subject string
	Event   string
	Outcome string
}

// LogAccess appends e to the access log and returns once it is written.
// Concurrent calls share one transaction (one multi-row insert, as the
// ballot box group-commits ballots): every sign-in writes two events, and
// a commit each would make the log's commits most of a sign-in's.
func (s *Store) LogAccess(ctx context.Context, e AccessEvent) error {
	a := &s.access
	a.mu.Lock()
	if a.next == nil {
		a.next = &accessBatch{done: make(chan struct{})}
	}
	b := a.next
	b.events = append(b.events, e)
	if !a.running {
		a.running = true
		go s.writeAccess()
	}
	a.mu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// accessWriter gathers the access-log events of concurrent calls: next is
// the batch the next write takes, running whether a goroutine writes.
type accessWriter struct {
	mu      sync.Mutex
	next    *accessBatch
	running bool
}

type accessBatch struct {
	events []AccessEvent
	done   chan struct{}
	err    error
}

// accessRows bounds the rows of one insert (5 parameters each: SQLite
// allows 32766).
const accessRows = 1000

// writeAccess writes the waiting batches one after the other until none
// waits.
func (s *Store) writeAccess() {
	a := &s.access
	for {
		a.mu.Lock()
		b := a.next
		a.next = nil
		if b == nil {
			a.running = false
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		b.err = s.tx(ctx, func(tx *sql.Tx) error {
			for ev := b.events; len(ev) > 0; {
				n := min(len(ev), accessRows)
				if err := insertAccess(ctx, tx, ev[:n]); err != nil {
					return err
				}
				ev = ev[n:]
			}
			return nil
		})
		cancel()
		if b.err != nil {
			b.err = fmt.Errorf("idpstore: log access: %w", b.err)
		}
		close(b.done)
	}
}

func insertAccess(ctx context.Context, tx *sql.Tx, events []AccessEvent) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO idp_access_log (at, client, subject, event, outcome) VALUES `)
	args := make([]any, 0, 5*len(events))
	for i, e := range events {
		if i > 0 {
			q.WriteByte(',')
		}
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d)", 5*i+1, 5*i+2, 5*i+3, 5*i+4, 5*i+5)
		args = append(args, e.At, e.Client, e.Subject, e.Event, e.Outcome)
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// AccessLog returns the events at or after since, oldest first, at most limit.
func (s *Store) AccessLog(ctx context.Context, since int64, limit int) ([]AccessEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at, client, subject, event, outcome FROM idp_access_log WHERE at >= $1 ORDER BY id LIMIT $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("idpstore: access log: %w", err)
	}
	defer rows.Close()
	var out []AccessEvent
	for rows.Next() {
		var e AccessEvent
		if err := rows.Scan(&e.At, &e.Client, &e.Subject, &e.Event, &e.Outcome); err != nil {
			return nil, fmt.Errorf("idpstore: access log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// PurgeAccessLog deletes events before the given Unix time and returns how
// many.
func (s *Store) PurgeAccessLog(ctx context.Context, before int64) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM idp_access_log WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("idpstore: purge access log: %w", err)
	}
	return r.RowsAffected()
}

// Key is one token-signing key in the history.
type Key struct {
	KeyID     string
	PublicKey []byte
	ValidFrom int64
	RetiredAt int64 // 0 while current
}

// AddKey records a new current key and retires the previous current one at
// the same time, atomically. Adding a kid already known is a no-op, so
// restarting with the same key is harmless.
func (s *Store) AddKey(ctx context.Context, k Key) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM idp_keys WHERE kid = $1`, k.KeyID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE idp_keys SET retired_at = CASE WHEN valid_from < $1 THEN $1 ELSE valid_from + 1 END WHERE retired_at = 0`, k.ValidFrom); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO idp_keys (kid, public_key, valid_from, retired_at) VALUES ($1, $2, $3, 0)`, k.KeyID, k.PublicKey, k.ValidFrom)
		return err
	})
	if err != nil {
		return fmt.Errorf("idpstore: add key: %w", err)
	}
	return nil
}

// Keys returns the key history in kid order.
func (s *Store) Keys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kid, public_key, valid_from, retired_at FROM idp_keys ORDER BY kid`)
	if err != nil {
		return nil, fmt.Errorf("idpstore: keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		if err := rows.Scan(&k.KeyID, &k.PublicKey, &k.ValidFrom, &k.RetiredAt); err != nil {
			return nil, fmt.Errorf("idpstore: keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
