package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"evote/store"
	"evote/store/sqlite"
)

// backupUsage is evoted backup's usage line.
const backupUsage = "usage: evoted backup --out FILE [--db-file PATH] [the server's configuration flags]"

// backup copies the embedded SQLite database while the server runs (an
// online, consistent snapshot) into a new file, and checks the copy:
//
//	evoted backup --out /var/backups/evote/evote-2027-03-01.db [--data DIR]
//	evoted backup --out idp.db --db-file /var/lib/evote-idp/idp.db
//
// The database is the data directory's evote.db, or --db-file (the
// identity service's SQLite database, say). A PostgreSQL server is backed
// up with pg_dump (docs/operator.md, Backups).
func backup(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var to, dbFile string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "out" && name != "db-file") {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 == len(args) {
				return errors.New(backupUsage)
			}
			i++
			val = args[i]
		}
		if name == "out" {
			to = val
		} else {
			dbFile = val
		}
	}
	if to == "" {
		return errors.New(backupUsage)
	}
	if dbFile == "" {
		cfg, _, err := loadConfig(rest, getenv)
		if err != nil {
			return err
		}
		if cfg.get("db") != "" {
			return errors.New("evoted backup: this server keeps its data in PostgreSQL: back it up with pg_dump --format=custom (docs/operator.md, Backups)")
		}
		dbFile = filepath.Join(cfg.get("data"), "evote.db")
	}
	n, err := backupSQLite(ctx, dbFile, to, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backup of %s written to %s (%d bytes, integrity checked)\n", dbFile, to, n)
	return nil
}

// backupSQLite writes a consistent copy of the SQLite database src into
// dst, which must not exist, with VACUUM INTO: it reads one snapshot of
// the database (a transaction), so writers (the running server) go on
// meanwhile and the copy holds every transaction committed before it
// began and none after. The ballot boxes' snapshots, kept in files beside
// src (spec §7.7.1), are carried inside the copy (sqlite.SnapshotFile), so
// the backup stays one file and a server started on it restores them
// instead of replaying every board in full; a snapshot that cannot be
// carried is reported on out and left behind, the backup being whole
// without it. The copy is then checked (PRAGMA integrity_check). It
// returns the copy's size.
func backupSQLite(ctx context.Context, src, dst string, out io.Writer) (int64, error) {
	if _, err := os.Stat(src); err != nil {
		return 0, fmt.Errorf("evoted backup: database: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return 0, fmt.Errorf("evoted backup: %s exists: a backup never overwrites a file", dst)
	}
	abs, err := filepath.Abs(dst)
	if err != nil {
		return 0, err
	}
	// The snapshot files are opened before the copy begins, so the copy
	// holds every entry and checkpoint they cover (OpenSnapshotFiles).
	snaps, err := sqlite.OpenSnapshotFiles(src)
	if err != nil {
		return 0, fmt.Errorf("evoted backup: %w", err)
	}
	defer func() {
		for _, sf := range snaps {
			sf.Close()
		}
	}()
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("evoted backup: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		os.Remove(abs)
		return 0, fmt.Errorf("evoted backup: VACUUM INTO %s: %w", abs, err)
	}
	if err := os.Chmod(abs, 0o600); err != nil {
		return 0, err
	}
	if len(snaps) > 0 {
		if err := carrySnapshots(ctx, abs, snaps, out); err != nil {
			os.Remove(abs)
			return 0, err
		}
	}
	cp, err := sql.Open("sqlite", "file:"+abs+"?mode=ro")
	if err != nil {
		return 0, fmt.Errorf("evoted backup: %w", err)
	}
	defer cp.Close()
	var res string
	if err := cp.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		return 0, fmt.Errorf("evoted backup: the copy %s does not pass the integrity check (%q, %v)", abs, res, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// carrySnapshots writes the snapshot files into the copy at path. A file
// refused (damaged, or beyond the copy's log: store.ErrInvalid) is
// reported and skipped; any other failure fails the backup.
func carrySnapshots(ctx context.Context, path string, snaps []*sqlite.SnapshotFile, out io.Writer) error {
	cp, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("evoted backup: %w", err)
	}
	defer cp.Close()
	for _, sf := range snaps {
		n, err := sf.CopyInto(ctx, cp)
		switch {
		case errors.Is(err, store.ErrInvalid):
			fmt.Fprintf(out, "snapshot %s not carried (the restored server replays that board in full once): %v\n", sf.Name, err)
		case err != nil:
			return fmt.Errorf("evoted backup: %w", err)
		default:
			fmt.Fprintf(out, "snapshot of log %x at size %d carried in the copy\n", sf.Log[:8], n)
		}
	}
	return cp.Close()
}
