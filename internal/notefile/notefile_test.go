package notefile

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"evote/bulletin"
)

// signedNote makes a real checkpoint note signed by a fresh log key.
func signedNote(t *testing.T) ([]byte, bulletin.LogVerifier) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &bulletin.LogKey{Origin: "box.example/board/x", Ed25519: bulletin.NewEd25519Signer(priv), Ed25519Public: [32]byte(pub)}
	n, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: k.Origin, Size: 3, Time: time.Unix(1700000000, 0).UTC()}, k)
	if err != nil {
		t.Fatal(err)
	}
	return n, k.Verifier()
}

func TestNormalize(t *testing.T) {
	note, lv := signedNote(t)
	crlf := bytes.ReplaceAll(note, []byte("\n"), []byte("\r\n"))
	for name, in := range map[string][]byte{
		"as saved":                note,
		"one trailing newline":    append(bytes.Clone(note), '\n'),
		"final newline missing":   note[:len(note)-1],
		"CRLF":                    crlf,
		"CRLF and a newline more": append(bytes.Clone(crlf), '\r', '\n'),
	} {
		got, err := Normalize(in)
		if err != nil || !bytes.Equal(got, note) {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
	for name, c := range map[string]struct {
		in   []byte
		want string
	}{
		"two trailing newlines": {append(bytes.Clone(note), '\n', '\n'), "blank lines after the signature lines"},
		"lone CR":               {bytes.Replace(note, []byte("\n"), []byte("\r"), 1), "carriage return not followed by a newline"},
		"empty":                 {nil, "empty"},
		"no signature":          {[]byte("box.example/board/x\n3\n"), "no blank line before signatures"},
	} {
		_, err := Normalize(c.in)
		if !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	// The normalized note verifies; a changed text still does not.
	got, err := Normalize(append(bytes.Clone(note), '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bulletin.VerifyCheckpoint(got, lv); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(note, []byte("\n3\n"), []byte("\n4\n"), 1)
	if got, err := Normalize(append(bad, '\n')); err != nil {
		t.Fatal(err)
	} else if _, _, err := bulletin.VerifyCheckpoint(got, lv); err == nil {
		t.Fatal("a tampered note verified")
	}
}

// TestRead reads a saved note, and refuses a missing file and one larger
// than any note may be, without reading it whole.
func TestRead(t *testing.T) {
	note, _ := signedNote(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "cp")
	if err := os.WriteFile(p, bytes.ReplaceAll(note, []byte("\n"), []byte("\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(p); err != nil || !bytes.Equal(got, note) {
		t.Fatalf("Read: %q, %v", got, err)
	}
	if _, err := Read(filepath.Join(dir, "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, append(bytes.Clone(note), bytes.Repeat([]byte("x"), bulletin.MaxNoteSize)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(big); !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), "larger than a note may be") {
		t.Errorf("oversized file: %v", err)
	}
}
