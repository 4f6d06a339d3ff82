package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"evote/store"
)

// SnapshotFile is a snapshot file beside a database file, opened for a
// backup to carry (OpenSnapshotFiles).
type SnapshotFile struct {
	Log  store.LogID // the log the file's name says; its header must agree
	Name string      // the file's path
	f    *os.File
}

// OpenSnapshotFiles opens the snapshot files beside the database file at
// path (spec §7.7.1), so that a backup carries them: a backup of the
// database alone replays every board in full at its first start.
//
// Open them before the database is copied: a snapshot's entries and its
// signed checkpoint are committed before its file is renamed into place,
// so a copy of the database begun after the open holds everything the
// open files cover. An open file keeps its content when a newer snapshot
// replaces it (by a rename), so each file is carried as it was when
// opened, never newer than the copy. Close each one.
func OpenSnapshotFiles(path string) ([]*SnapshotFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store/sqlite: snapshot files: %w", err)
	}
	prefix := base + ".snapshot-"
	var out []*SnapshotFile
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), prefix)
		id, err := hex.DecodeString(name)
		if !ok || err != nil || len(id) != len(store.LogID{}) || !e.Type().IsRegular() {
			continue // not a snapshot file (a .tmp left by a crash, say)
		}
		sf := &SnapshotFile{Log: store.LogID(id), Name: filepath.Join(dir, e.Name())}
		if sf.f, err = os.Open(sf.Name); err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("store/sqlite: snapshot files: %w", err)
		}
		out = append(out, sf)
	}
	return out, nil
}

// Close closes the file.
func (sf *SnapshotFile) Close() error { return sf.f.Close() }

// CopyInto writes the snapshot into the table form of db, a copy of the
// database the file was beside, replacing any snapshot of its log stored
// there, in one transaction. A store opened on the copy has no file beside
// it and reads the snapshot from the table, until its next snapshot writes
// a file. The file is checked as a restart checks it (magic, log id,
// length, checksum) and its size against the copy's log before the
// transaction commits: a file that fails is not carried (ErrInvalid) and
// the copy is left as it was. It returns the tree size the snapshot
// covers. Nothing else is checked here: the ballot box authenticates the
// snapshot and checks it against the log when it uses it.
func (sf *SnapshotFile) CopyInto(ctx context.Context, db *sql.DB) (uint64, error) {
	if _, err := sf.f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("store/sqlite: carry snapshot %s: %w", sf.Name, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: carry snapshot %s: %w", sf.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM bulletin_snapshots WHERE log_id = ?`, sf.Log[:]); err != nil {
		return 0, fmt.Errorf("store/sqlite: carry snapshot %s: %w", sf.Name, err)
	}
	var size uint64
	part := 0
	err = streamSnapshotFrom(sf.f, sf.Log, func(n uint64, _ int64) error {
		size = n
		return checkSnapshotSize(ctx, tx, sf.Log, n)
	}, func(p []byte) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO bulletin_snapshots (log_id, part, size, data) VALUES (?, ?, ?, ?)`, sf.Log[:], part, int64(size), p)
		part++
		return err
	})
	if err == nil && part == 0 {
		err = errors.New("empty")
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return 0, fmt.Errorf("store/sqlite: carry snapshot %s: %w", sf.Name, err)
	}
	return size, nil
}
