package sqlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"evote/store"
	"evote/store/sqlite"
)

// TestSnapshotFile: a file database keeps its snapshot in a file beside it
// (read sequentially at a restart, spec §7.7.1); a damaged, truncated,
// misplaced or foreign file is refused with ErrInvalid, never handed out
// as a snapshot, and a missing one is ErrNotFound. A snapshot stored in
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
