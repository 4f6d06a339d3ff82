package board

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"evote/bulletin"
	"evote/bulletin/recordfile"
	"evote/store"
	"os"
	"path/filepath"
	"testing"
)

func splitEntries(t *testing.T, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := binary.BigEndian.Uint32(b)
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out
}

func joinEntries(es [][]byte) []byte {
	var b []byte
	for _, e := range es {
		b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		b = append(b, e...)
	}
	return b
}

func TestRecordExportVerifyImport(t *testing.T) {
	ctx := context.Background()
	k := testLogKey("evote.example/record", true)
	l := openLog(t, openSQLite(t), k)
	var es []*bulletin.Entry
	for i := range 300 {
		es = append(es, testEntry(t, l.ID(), bulletin.TypeBallot, "voter", i))
	}
	if _, err := l.Append(ctx, es...); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "record")
	if err := ExportDir(ctx, l, cp, dir); err != nil {
		t.Fatal(err)
	}
	if got, err := recordfile.VerifyDir(dir, k.Verifier()); err != nil || got.Root != cp.Root {
		t.Fatalf("verify dir: %v", err)
	}
	var arch bytes.Buffer
	if err := ExportArchive(ctx, l, cp, &arch); err != nil {
		t.Fatal(err)
	}
	if _, err := recordfile.VerifyArchive(bytes.NewReader(arch.Bytes()), k.Verifier()); err != nil {
		t.Fatalf("verify archive: %v", err)
	}
	archPath := filepath.Join(t.TempDir(), "record.tar")
	os.WriteFile(archPath, arch.Bytes(), 0o644)

	// Import into a fresh store, and the imported log opens and matches.
	st2 := openSQLite(t)
	if _, err := ImportDir(ctx, dir, k.Verifier(), st2); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, st2, k)
	if l2.Size() != cp.Size || l2.LatestCheckpoint().Root != cp.Root {
		t.Fatal("imported log differs")
	}
	st3 := openSQLite(t)
	if _, err := ImportArchive(ctx, archPath, k.Verifier(), st3); err != nil {
		t.Fatal(err)
	}
	if _, err := ImportArchive(ctx, archPath, k.Verifier(), st3); err == nil {
		t.Error("import into a non-empty log accepted")
	}

	// Tampering with the exported directory is detected.
	orig, _ := os.ReadFile(filepath.Join(dir, recordfile.EntriesFile))
	origNote, _ := os.ReadFile(filepath.Join(dir, recordfile.CheckpointFile))
	entries := splitEntries(t, orig)
	other := testEntry(t, l.ID(), bulletin.TypeBallot, "forger", 1).Encode()
	clone := func() [][]byte {
		out := make([][]byte, len(entries))
		for i := range entries {
			out[i] = bytes.Clone(entries[i])
		}
		return out
	}
	cases := map[string]func() ([]byte, []byte){
		"modified payload": func() ([]byte, []byte) {
			es := clone()
			es[123][80] ^= 1
			return joinEntries(es), origNote
		},
		"modified signature": func() ([]byte, []byte) {
			es := clone()
			es[299][len(es[299])-5] ^= 1
			return joinEntries(es), origNote
		},
		"reordered": func() ([]byte, []byte) {
			es := clone()
			es[10], es[11] = es[11], es[10]
			return joinEntries(es), origNote
		},
		"deleted": func() ([]byte, []byte) {
			es := clone()
			return joinEntries(append(es[:50], es[51:]...)), origNote
		},
		"deleted last": func() ([]byte, []byte) { return joinEntries(clone()[:299]), origNote },
		"replaced by a valid entry": func() ([]byte, []byte) {
			es := clone()
			es[5] = other
			return joinEntries(es), origNote
		},
		"duplicated": func() ([]byte, []byte) {
			es := clone()
			es[6] = es[5]
			return joinEntries(es), origNote
		},
		"extra entry": func() ([]byte, []byte) { return joinEntries(append(clone(), other)), origNote },
		"truncated":   func() ([]byte, []byte) { return orig[:len(orig)-3], origNote },
		"trailing":    func() ([]byte, []byte) { return append(bytes.Clone(orig), 0, 0), origNote },
		"checkpoint size edited": func() ([]byte, []byte) {
			return orig, bytes.Replace(origNote, []byte("\n300\n"), []byte("\n299\n"), 1)
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			eb, nb := mk()
			os.WriteFile(filepath.Join(d, recordfile.EntriesFile), eb, 0o644)
			os.WriteFile(filepath.Join(d, recordfile.CheckpointFile), nb, 0o644)
			if _, err := recordfile.VerifyDir(d, k.Verifier()); !errors.Is(err, recordfile.ErrRecord) {
				t.Fatalf("not detected: %v", err)
			}
			st := openSQLite(t)
			if _, err := ImportDir(ctx, d, k.Verifier(), st); err == nil {
				t.Fatal("tampered record imported")
			}
			if n, _ := st.Size(ctx, store.LogID(l.ID())); n != 0 {
				t.Fatalf("failed import wrote %d entries", n)
			}
		})
	}

	// Archive structure is checked too.
	var bad bytes.Buffer
	tw := tar.NewWriter(&bad)
	tw.WriteHeader(&tar.Header{Name: recordfile.EntriesFile, Mode: 0o644, Size: int64(len(orig)), Typeflag: tar.TypeReg})
	tw.Write(orig)
	tw.WriteHeader(&tar.Header{Name: recordfile.CheckpointFile, Mode: 0o644, Size: int64(len(origNote)), Typeflag: tar.TypeReg})
	tw.Write(origNote)
	tw.Close()
	if _, err := recordfile.VerifyArchive(&bad, k.Verifier()); !errors.Is(err, recordfile.ErrRecord) {
		t.Errorf("archive with files swapped: %v", err)
	}
	if _, err := recordfile.VerifyArchive(bytes.NewReader(arch.Bytes()), testLogKey("evote.example/record", false).Verifier()); err != nil {
		t.Errorf("Ed25519-only verifier: %v", err)
	}
	if _, err := recordfile.VerifyArchive(bytes.NewReader(arch.Bytes()), testLogKey("evote.example/other", false).Verifier()); !errors.Is(err, recordfile.ErrRecord) {
		t.Errorf("wrong log key: %v", err)
	}
}

// TestLargestEntryFitsStore: the board admits payloads of up to
// bulletin.MaxPayload bytes (a mix of about 1.2 million rows); the store
// must take the encoded entry, or the box accepts an entry it then fails
// to store (a million-ballot mix was refused this way, 224 MB against a
// 64 MiB store bound, and the trustee's tool retried it for half an hour).
func TestLargestEntryFitsStore(t *testing.T) {
	var e bulletin.Entry
	largest := bulletin.HeaderSize + bulletin.MaxPayload + len(e.Signature)
	if largest > store.MaxRecordSize {
		t.Fatalf("the largest entry is %d bytes, the store takes %d", largest, store.MaxRecordSize)
	}
}
