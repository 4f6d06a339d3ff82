// Package idpstore is the identity service's durable state (spec/08-identity.md
// §8.9): the voter list by pseudonym, voter-list changes, issued credentials
// and their bound device keys, in-person marks, the registered polling
// stations' and officials' keys, the per-PIN budgets of answers and
// codes, the access log with its retention, the history of token-signing keys, and an
// outbox of board entries not yet posted. It runs the same SQL on SQLite
// (modernc.org/sqlite, driver "sqlite") and PostgreSQL (pgx stdlib, driver
// "pgx"); only column types differ, substituted per dialect in the
// migrations.
//
// The store holds no PIN, name or document number: voters are keyed by their
// pseudonym, the budgets and access log by an opaque subject string the
// service derives with a keyed hash.
package idpstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

// Dialect names a supported database.
type Dialect int

// Supported dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("idpstore: not found")
	ErrAlreadyOnList  = errors.New("idpstore: voter already on the list")
	ErrNotOnList      = errors.New("idpstore: voter not on the list")
	ErrSequence       = errors.New("idpstore: change sequence is not the next one")
	ErrDeviceKeyBound = errors.New("idpstore: device key already bound to a credential")
	ErrVotedInPerson  = errors.New("idpstore: voter already voted in person")
	ErrAlreadyMarked  = errors.New("idpstore: voter already marked as voted in person")
	// ErrHasCredential: a removal of a voter who holds a credential (their
	// ballot may be in the box; the board refuses a list that counts fewer
	// voters of a style than hold credentials, spec §8.8.4).
	ErrHasCredential = errors.New("idpstore: voter holds a credential and cannot be removed")
	// ErrRegistered: a polling station or official id, or a key, is
	// already registered.
	ErrRegistered = errors.New("idpstore: station, official or key already registered")
	// ErrVotingStarted: a registration after the first credential or mark
	// (voting is open on the board, and the rules would refuse it).
	ErrVotingStarted = errors.New("idpstore: credentials or marks already issued")
)

// Store is the identity service's database.
type Store struct {
	db      *sql.DB
	dialect Dialect

	// takes holds Take's statements, prepared once per number of budgets:
	// Take runs on every sign-in, and parsing its upsert each time cost
	// about as much as executing it.
	takeMu sync.Mutex
	takes  map[int]*sql.Stmt

	access accessWriter // LogAccess's group commit
}

// PostgresConns is how many connections to PostgreSQL a Store keeps.
const PostgresConns = 32

// Open connects with driver "sqlite" or "pgx" and dsn, and migrates. For
// SQLite it keeps one connection (SQLite has one writer anyway) with a busy
// timeout and WAL; for PostgreSQL, PostgresConns.
func Open(ctx context.Context, driver, dsn string) (*Store, error) {
	var d Dialect
	switch driver {
	case "sqlite":
		d = SQLite
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	case "pgx":
		d = Postgres
	default:
		return nil, fmt.Errorf("idpstore: unsupported driver %q", driver)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("idpstore: open: %w", err)
	}
	if d == SQLite {
		db.SetMaxOpenConns(1)
	} else {
		// Every sign-in makes a few short statements: keep the
		// connections open (database/sql keeps 2 idle by default, so
		// under load most statements would open a new backend).
		db.SetMaxOpenConns(PostgresConns)
		db.SetMaxIdleConns(PostgresConns)
	}
	s, err := New(ctx, db, d)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// New wraps an open database and migrates it.
func New(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	s := &Store{db: db, dialect: d}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the underlying database (for tests and health checks).
func (s *Store) DB() *sql.DB { return s.db }

// migrations is the ordered, append-only schema history. {{blob}} and
// {{serial}} are replaced per dialect.
var migrations = []string{
	// 1: initial schema.
	`CREATE TABLE idp_voters (
		election_id  TEXT NOT NULL,
		pseudonym    {{blob}} NOT NULL,
		ballot_style TEXT NOT NULL,
		phone        TEXT NOT NULL DEFAULT '',
		notify_phone TEXT NOT NULL DEFAULT '',
		removed      INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (election_id, pseudonym)
	);
	CREATE TABLE idp_list_changes (
		election_id TEXT NOT NULL,
		seq         BIGINT NOT NULL,
		kind        INTEGER NOT NULL,
		official_id TEXT NOT NULL,
		changed_at  BIGINT NOT NULL,
		PRIMARY KEY (election_id, seq)
	);
	CREATE TABLE idp_credentials (
		election_id  TEXT NOT NULL,
		token_id     {{blob}} NOT NULL,
		pseudonym    {{blob}} NOT NULL,
		device_key   {{blob}} NOT NULL UNIQUE,
		ballot_style TEXT NOT NULL,
		key_id       TEXT NOT NULL,
		issued_at    BIGINT NOT NULL,
		expires_at   BIGINT NOT NULL,
		PRIMARY KEY (election_id, token_id)
	);
	CREATE INDEX idp_credentials_voter ON idp_credentials (election_id, pseudonym);
	CREATE TABLE idp_marks (
		election_id TEXT NOT NULL,
		pseudonym   {{blob}} NOT NULL,
		station_id  TEXT NOT NULL,
		official_id TEXT NOT NULL,
		marked_at   BIGINT NOT NULL,
		PRIMARY KEY (election_id, pseudonym)
	);
	CREATE TABLE idp_outbox (
		id          {{serial}},
		entry_type  INTEGER NOT NULL,
		payload     {{blob}} NOT NULL,
		created_at  BIGINT NOT NULL,
		board_index BIGINT,
		posted_at   BIGINT
	);
	CREATE TABLE idp_backoff (
		subject    TEXT PRIMARY KEY,
		failures   INTEGER NOT NULL,
		next_at    BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE idp_access_log (
		id      {{serial}},
		at      BIGINT NOT NULL,
		client  TEXT NOT NULL,
		subject TEXT NOT NULL,
		event   TEXT NOT NULL,
		outcome TEXT NOT NULL
	);
	CREATE INDEX idp_access_log_at ON idp_access_log (at);
	CREATE TABLE idp_keys (
		kid        TEXT PRIMARY KEY,
		public_key {{blob}} NOT NULL,
		valid_from BIGINT NOT NULL,
		retired_at BIGINT NOT NULL DEFAULT 0
	)`,
	// 2: authenticator-app (TOTP) enrolments, secrets sealed by the service.
	`CREATE TABLE idp_totp (
		election_id TEXT NOT NULL,
		pseudonym   {{blob}} NOT NULL,
		sealed      {{blob}} NOT NULL,
		active      INTEGER NOT NULL DEFAULT 0,
		last_step   BIGINT NOT NULL DEFAULT 0,
		created_at  BIGINT NOT NULL,
		PRIMARY KEY (election_id, pseudonym)
	)`,
	// 3: polling stations' and officials' keys registered on the board.
	`CREATE TABLE idp_polling_keys (
		election_id   TEXT NOT NULL,
		role          INTEGER NOT NULL,
		id            TEXT NOT NULL,
		public_key    {{blob}} NOT NULL,
		registered_at BIGINT NOT NULL,
		PRIMARY KEY (election_id, role, id)
	);
	CREATE UNIQUE INDEX idp_polling_keys_key ON idp_polling_keys (election_id, public_key)`,
	// 4: per-PIN budgets (answers, codes), one GCRA arrival time each.
	`CREATE TABLE idp_budgets (
		subject TEXT NOT NULL,
		kind    TEXT NOT NULL,
		tat     BIGINT NOT NULL,
		span    BIGINT NOT NULL,
		PRIMARY KEY (subject, kind)
	)`,
	// 5: the per-PIN backoff is gone (the budgets replace it, §8.11).
	`DROP TABLE idp_backoff`,
	// 6: the language of the voter's last online sign-in, for notices
	// sent without one (an in-person mark, §8.8.3).
	`ALTER TABLE idp_voters ADD COLUMN notify_lang TEXT NOT NULL DEFAULT ''`,
	// 7: the padding credentials issued to the ballot box for voters in
	// deniable re-voting mode (spec §15.16.2), at most M − 1 per voter.
	`CREATE TABLE idp_padding (
		election_id TEXT NOT NULL,
		pseudonym   {{blob}} NOT NULL,
		device_key  {{blob}} NOT NULL UNIQUE,
		issued_at   BIGINT NOT NULL,
		PRIMARY KEY (election_id, device_key)
	);
	CREATE INDEX idp_padding_voter ON idp_padding (election_id, pseudonym)`,
}

func (s *Store) sqlFor(m string) string {
	blob, serial := "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.dialect == Postgres {
		blob, serial = "BYTEA", "BIGSERIAL PRIMARY KEY"
	}
	return strings.NewReplacer("{{blob}}", blob, "{{serial}}", serial).Replace(m)
}

// migrate applies the migrations not yet applied, each in its own
// transaction together with its row in idp_schema.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS idp_schema (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("idpstore: migrate: %w", err)
	}
	var have int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM idp_schema`).Scan(&have); err != nil {
		return fmt.Errorf("idpstore: migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("idpstore: database schema %d is newer than this program (%d)", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			for _, stmt := range strings.Split(s.sqlFor(migrations[v-1]), ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO idp_schema (version) VALUES ($1)`, v)
			return err
		})
		if err != nil {
			return fmt.Errorf("idpstore: migration %d: %w", v, err)
		}
	}
	return nil
}

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
