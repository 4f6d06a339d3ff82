package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"

	"evote/internal/atomicfile"
	"evote/store"
)

// PutSnapshot implements store.Store. For a database in a file the
// snapshot is written to a file beside it (snapshotFile), fsynced and
// renamed into place; for an in-memory database its parts are replaced in
// one IMMEDIATE transaction, fsynced at commit.
//
// Why a file: a snapshot of a million-voter board is about 650 MB, and
// SQLite reads a blob's overflow pages one 4 KiB page per system call; on
// a board that has taken several snapshots those pages are scattered
// through the file and a restart with a cold page cache spent 14 s in
// reads (spec §7.7.1). A file is read sequentially, with the kernel's
// read-ahead. Nothing in it is trusted: the ballot box authenticates a
// snapshot and checks it against the log before using it, and a torn,
// stale or missing file only means a slower full replay.
func (s *Store) PutSnapshot(ctx context.Context, log store.LogID, snap store.Snapshot) error {
	if err := store.CheckSnapshot(snap); err != nil {
		return err
	}
	if s.path != "" {
		return s.putSnapshotFile(ctx, log, snap)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	defer tx.Rollback()
	if err := checkSnapshotSize(ctx, tx, log, snap.Size); err != nil {
		return err
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

// checkSnapshotSize refuses a snapshot beyond the log's size.
func checkSnapshotSize(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, log store.LogID, at uint64) error {
	var size int64
	if err := q.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM bulletin_entries WHERE log_id = ?`, log[:]).Scan(&size); err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	if at > uint64(size) {
		return fmt.Errorf("%w: snapshot size %d beyond log size %d", store.ErrInvalid, at, size)
	}
	return nil
}

// snapshotFile is the file holding log's snapshot: the database's path,
// ".snapshot-" and the log id in hex.
func (s *Store) snapshotFile(log store.LogID) string {
	return s.path + ".snapshot-" + hex.EncodeToString(log[:])
}

// The snapshot file: snapFileMagic, the log id, u64 tree size, u64 data
// length (big-endian), the data, then a checksum of everything before it
// (a torn or damaged file is refused, not half read): CRC-32C (4 bytes,
// big-endian) in version 2, which is written; SHA-256 in version 1, still
// read. The checksum is for accidents (a torn write, a damaged disk), not
// for an attacker: the ballot box authenticates every snapshot with its
// MAC before using it. SHA-256 over 650 MB was a tenth of a restart's
// CPU; CRC-32C runs at memory speed (the processor's CRC32 instruction).
var (
	snapFileMagic   = [8]byte{'E', 'V', 'S', 'N', 'A', 'P', 0, 2}
	snapFileMagicV1 = [8]byte{'E', 'V', 'S', 'N', 'A', 'P', 0, 1}
	castagnoli      = crc32.MakeTable(crc32.Castagnoli)
)

const snapFileHeader = 8 + 32 + 8 + 8

func (s *Store) putSnapshotFile(ctx context.Context, log store.LogID, snap store.Snapshot) error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if err := checkSnapshotSize(ctx, s.db, log, snap.Size); err != nil {
		return err
	}
	err := atomicfile.Write(s.snapshotFile(log), 0o600, func(f io.Writer) error {
		h := crc32.New(castagnoli)
		w := io.MultiWriter(f, h)
		var hdr [snapFileHeader]byte
		copy(hdr[:8], snapFileMagic[:])
		copy(hdr[8:40], log[:])
		binary.BigEndian.PutUint64(hdr[40:], snap.Size)
		binary.BigEndian.PutUint64(hdr[48:], uint64(len(snap.Data)))
		if _, err := w.Write(hdr[:]); err != nil {
			return err
		}
		if _, err := w.Write(snap.Data); err != nil {
			return err
		}
		_, err := f.Write(h.Sum(nil))
		return err
	})
	if err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	// A snapshot of the table form (written before snapshots moved to
	// files) would be older: drop it.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM bulletin_snapshots WHERE log_id = ?`, log[:]); err != nil {
		return fmt.Errorf("store/sqlite: put snapshot: %w", err)
	}
	return nil
}

// streamSnapshotFile streams the snapshot file of log; ok is false if
// there is none.
func (s *Store) streamSnapshotFile(log store.LogID, begin func(size uint64, length int64) error, part func([]byte) error) (ok bool, err error) {
	f, err := os.Open(s.snapshotFile(log))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("store/sqlite: snapshot: %w", err)
	}
	defer f.Close()
	return true, streamSnapshotFrom(f, log, begin, part)
}

// streamSnapshotFrom streams the snapshot file f of log from its start,
// checked as streamSnapshotFile says.
func streamSnapshotFrom(f *os.File, log store.LogID, begin func(size uint64, length int64) error, part func([]byte) error) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store/sqlite: snapshot: %w", err)
	}
	var hdr [snapFileHeader]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("%w: snapshot file header: %v", store.ErrInvalid, err)
	}
	var h hash.Hash
	switch [8]byte(hdr[:8]) {
	case snapFileMagic:
		h = crc32.New(castagnoli)
	case snapFileMagicV1:
		h = sha256.New()
	default:
		return fmt.Errorf("%w: not a snapshot file", store.ErrInvalid)
	}
	h.Write(hdr[:])
	r := io.TeeReader(f, h) // parts are 8 MiB: no buffer needed, and none may read past the data
	size, length := binary.BigEndian.Uint64(hdr[40:]), binary.BigEndian.Uint64(hdr[48:])
	switch {
	case [32]byte(hdr[8:40]) != log:
		return fmt.Errorf("%w: the snapshot file is another log's", store.ErrInvalid)
	case length == 0 || length > store.MaxSnapshot || size > 1<<62:
		return fmt.Errorf("%w: snapshot file of %d bytes at size %d", store.ErrInvalid, length, size)
	case fi.Size() != int64(snapFileHeader+length)+int64(h.Size()):
		return fmt.Errorf("%w: snapshot file of %d bytes, its header says %d", store.ErrInvalid, fi.Size(), int64(snapFileHeader+length)+int64(h.Size()))
	}
	if err := begin(size, int64(length)); err != nil {
		return err
	}
	for left := length; left > 0; {
		p := make([]byte, min(left, store.SnapshotPart))
		if _, err := io.ReadFull(r, p); err != nil {
			return fmt.Errorf("%w: snapshot file: %v", store.ErrInvalid, err)
		}
		left -= uint64(len(p))
		if left == 0 {
			// The last part goes out only once the whole file is
			// checked: a damaged file ends in an error, never in a
			// complete snapshot.
			sum := h.Sum(nil)
			want := make([]byte, len(sum))
			if _, err := io.ReadFull(f, want); err != nil || !bytes.Equal(sum, want) {
				return fmt.Errorf("%w: the snapshot file's checksum does not match", store.ErrInvalid)
			}
		}
		if err := part(p); err != nil {
			return err
		}
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
	if s.path != "" {
		if ok, err := s.streamSnapshotFile(log, begin, part); ok {
			return err
		}
	}
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
