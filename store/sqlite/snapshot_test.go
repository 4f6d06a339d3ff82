package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"evote/store"
	"evote/store/sqlite"
)

// TestSnapshotFile: a file database keeps its snapshot in a file beside it
// (read sequentially at a restart, spec §7.7.1); a damaged, truncated,
// misplaced or foreign file is refused with ErrInvalid, never handed out
// as a snapshot, and a missing one is ErrNotFound. Files are written in
// version 2 (a CRC-32C trailer); version 1 (SHA-256) is still read. A snapshot stored in
// the table by an older version is still read until a file replaces it.
func TestSnapshotFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "evote.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log, other := store.LogID(sha256.Sum256([]byte("a"))), store.LogID(sha256.Sum256([]byte("b")))
	for _, l := range []store.LogID{log, other} {
		var recs []store.Record
		for i := range 4 {
			d := append([]byte{byte(i)}, l[:]...)
			recs = append(recs, store.Record{Hash: sha256.Sum256(d), Type: 1, Data: d})
		}
		if err := s.Append(ctx, l, 0, recs); err != nil {
			t.Fatal(err)
		}
	}
	// The table form, as an older version stored it.
	if _, err := s.DB().Exec(`INSERT INTO bulletin_snapshots (log_id, part, size, data) VALUES (?, 0, 3, ?)`, log[:], []byte("old")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LatestSnapshot(ctx, log); err != nil || got.Size != 3 || string(got.Data) != "old" {
		t.Fatalf("table snapshot: %d %q %v", got.Size, got.Data, err)
	}
	data := bytes.Repeat([]byte("snapshot"), 3*store.SnapshotPart/8+5)
	if err := s.PutSnapshot(ctx, log, store.Snapshot{Size: 4, Data: data}); err != nil {
		t.Fatal(err)
	}
	file := path + ".snapshot-" + hex.EncodeToString(log[:])
	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no snapshot file: %v", err)
	}
	if got, err := s.LatestSnapshot(ctx, log); err != nil || got.Size != 4 || !bytes.Equal(got.Data, data) {
		t.Fatalf("file snapshot: size %d, %d bytes, %v", got.Size, len(got.Data), err)
	}
	var n int
	s.DB().QueryRow(`SELECT count(*) FROM bulletin_snapshots WHERE log_id = ?`, log[:]).Scan(&n)
	if n != 0 {
		t.Fatalf("the table snapshot was kept beside the file (%d parts)", n)
	}
	if _, err := s.LatestSnapshot(ctx, other); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another log: %v, want ErrNotFound", err)
	}
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	for name, b := range map[string][]byte{
		"a byte of the data":      flip(len(good) / 2),
		"a byte of the last part": flip(len(good) - 40),
		"the checksum":            flip(len(good) - 1),
		"the magic":               flip(0),
		"the size":                flip(47),
		"truncated":               good[:len(good)-1],
		"extended":                append(bytes.Clone(good), 0),
		"header only":             good[:56],
	} {
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := s.LatestSnapshot(ctx, log)
		if !errors.Is(err, store.ErrInvalid) || got.Data != nil {
			t.Errorf("%s: %d bytes, %v, want ErrInvalid", name, len(got.Data), err)
		}
	}
	// Version 1 (a SHA-256 trailer, before CRC-32C) is still read, and
	// checked.
	v1 := append([]byte("EVSNAP\x00\x01"), log[:]...)
	v1 = binary.BigEndian.AppendUint64(v1, 4)
	v1 = binary.BigEndian.AppendUint64(v1, uint64(len(data)))
	v1 = append(v1, data...)
	sum := sha256.Sum256(v1)
	v1 = append(v1, sum[:]...)
	if err := os.WriteFile(file, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LatestSnapshot(ctx, log); err != nil || got.Size != 4 || !bytes.Equal(got.Data, data) {
		t.Fatalf("version 1 file: size %d, %d bytes, %v", got.Size, len(got.Data), err)
	}
	v1[100] ^= 1
	os.WriteFile(file, v1, 0o600)
	if got, err := s.LatestSnapshot(ctx, log); !errors.Is(err, store.ErrInvalid) || got.Data != nil {
		t.Errorf("damaged version 1 file: %d bytes, %v, want ErrInvalid", len(got.Data), err)
	}
	if len(good) != 56+len(data)+4 {
		t.Errorf("a version 2 file of %d bytes for %d of data, want a 4-byte CRC-32C trailer", len(good), len(data))
	}
	// The other log's file, renamed to this log's.
	if err := s.PutSnapshot(ctx, other, store.Snapshot{Size: 2, Data: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".snapshot-"+hex.EncodeToString(other[:]), file); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LatestSnapshot(ctx, log); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("another log's file: %v, want ErrInvalid", err)
	}
	os.Remove(file)
	if _, err := s.LatestSnapshot(ctx, log); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no file: %v, want ErrNotFound", err)
	}
	if err := s.PutSnapshot(ctx, log, store.Snapshot{Size: 5, Data: []byte("x")}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("snapshot beyond the log: %v, want ErrInvalid", err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a refused snapshot left a file: %v", err)
	}
}

// TestSnapshotFileCarried: a backup carries a snapshot file into the table
// form of its copy of the database (OpenSnapshotFiles, CopyInto), where a
// store opened on the copy finds it; a damaged file, or one beyond the
// copy's log, is refused with ErrInvalid and leaves the copy's table as it
// was; a file replaced after it was opened is carried as it was opened.
func TestSnapshotFileCarried(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "evote.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log := store.LogID(sha256.Sum256([]byte("a")))
	add := func(from, n int) {
		var recs []store.Record
		for i := from; i < from+n; i++ {
			d := append([]byte{byte(i)}, log[:]...)
			recs = append(recs, store.Record{Hash: sha256.Sum256(d), Type: 1, Data: d})
		}
		if err := s.Append(ctx, log, uint64(from), recs); err != nil {
			t.Fatal(err)
		}
	}
	add(0, 4)
	data := bytes.Repeat([]byte("snapshot"), store.SnapshotPart/8+5) // two parts
	if err := s.PutSnapshot(ctx, log, store.Snapshot{Size: 4, Data: data}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".snapshot-"+hex.EncodeToString(log[:])+".tmp", []byte("left by a crash"), 0o600)
	copyDB := func(name string) *sql.DB {
		t.Helper()
		p := filepath.Join(dir, name)
		if _, err := s.DB().Exec(`VACUUM INTO ?`, p); err != nil {
			t.Fatal(err)
		}
		db, err := sql.Open("sqlite", "file:"+p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	old := copyDB("old.db") // at size 4
	sfs, err := sqlite.OpenSnapshotFiles(path)
	if err != nil || len(sfs) != 1 || sfs[0].Log != log {
		t.Fatalf("OpenSnapshotFiles: %d files, %v", len(sfs), err)
	}
	sf := sfs[0]
	defer sf.Close()
	// A newer snapshot replaces the file after the open, then the copy.
	add(4, 2)
	if err := s.PutSnapshot(ctx, log, store.Snapshot{Size: 6, Data: []byte("newer")}); err != nil {
		t.Fatal(err)
	}
	cp := copyDB("copy.db")
	if n, err := sf.CopyInto(ctx, cp); err != nil || n != 4 {
		t.Fatalf("CopyInto: %d, %v", n, err)
	}
	cp.Close()
	s2, err := sqlite.Open(ctx, filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.LatestSnapshot(ctx, log)
	s2.Close()
	if err != nil || got.Size != 4 || !bytes.Equal(got.Data, data) {
		t.Fatalf("the copy's snapshot: size %d, %d bytes, %v", got.Size, len(got.Data), err)
	}

	// Refused: a damaged file; a file beyond the copy's log.
	file := path + ".snapshot-" + hex.EncodeToString(log[:])
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(b)
	damaged[60] ^= 1 // the last byte of the data
	for _, c := range []struct {
		name    string
		content []byte
		into    *sql.DB
		why     string
	}{{"damaged", damaged, copyDB("new.db"), "checksum"}, {"beyond the copy's log", b, old, "beyond log size"}} {
		name := c.name
		os.WriteFile(file, c.content, 0o600)
		sfs, err := sqlite.OpenSnapshotFiles(path)
		if err != nil || len(sfs) != 1 {
			t.Fatalf("%s: OpenSnapshotFiles: %d files, %v", name, len(sfs), err)
		}
		if _, err := sfs[0].CopyInto(ctx, c.into); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: CopyInto: %v, want ErrInvalid (%s)", name, err, c.why)
		}
		sfs[0].Close()
		var n int
		c.into.QueryRow(`SELECT count(*) FROM bulletin_snapshots`).Scan(&n)
		if n != 0 {
			t.Errorf("%s: a refused snapshot left %d parts in the copy", name, n)
		}
	}
}
