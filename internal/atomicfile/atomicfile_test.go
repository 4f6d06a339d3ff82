package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	put := func(s string) error {
		return Write(path, 0o600, func(w io.Writer) error { _, err := io.WriteString(w, s); return err })
	}
	if err := put("first"); err != nil {
		t.Fatal(err)
	}
	if err := put("second"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "second" {
		t.Fatalf("content %q, %v; want second", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	// A fill that fails leaves the file as it was, and no temporary file.
	boom := errors.New("boom")
	err := Write(path, 0o600, func(w io.Writer) error {
		io.WriteString(w, "torn")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want the fill's", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "second" {
		t.Fatalf("after a failed write the file holds %q, want second", b)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only the file", names)
	}
	// A directory that does not exist is an error, not a panic.
	if err := Write(filepath.Join(dir, "no", "such"), 0o600, func(io.Writer) error { return nil }); err == nil {
		t.Fatal("a write into a missing directory succeeded")
	}
}
