package wasmbuild

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"
)

// TestReadModule: the raw module comes from the committed brotli form
// only if it has the hash the .sha256 file names; a truncated or swapped
// brotli file is refused.
func TestReadModule(t *testing.T) {
	raw := bytes.Repeat([]byte("\x00asm module bytes "), 4096)
	br := Brotli(raw)
	line := fmt.Appendf(nil, "%x go1.x 00\n", sha256.Sum256(raw))
	fsys := fstest.MapFS{"m.wasm.br": {Data: br}, "m.wasm.sha256": {Data: line}}
	got, gotBr, sum, err := ReadModule(fsys, "m.wasm")
	if err != nil || !bytes.Equal(got, raw) || !bytes.Equal(gotBr, br) || sum != sha256.Sum256(raw) {
		t.Fatalf("ReadModule: %v", err)
	}
	other := Brotli(append(raw, 1))
	fsys["m.wasm.br"] = &fstest.MapFile{Data: other}
	if _, _, _, err := ReadModule(fsys, "m.wasm"); !errors.Is(err, ErrModule) {
		t.Fatalf("another module: %v, want ErrModule", err)
	}
	fsys["m.wasm.br"] = &fstest.MapFile{Data: br[:len(br)/2]}
	if _, _, _, err := ReadModule(fsys, "m.wasm"); err == nil {
		t.Fatal("a truncated module was accepted")
	}
	if _, _, _, err := ReadModule(fsys, "none.wasm"); err == nil {
		t.Fatal("a missing module was accepted")
	}
	// Brotli and Gzip are deterministic: the committed form can be
	// recomputed from the module.
	if !bytes.Equal(Brotli(raw), br) || !bytes.Equal(Gzip(raw), Gzip(raw)) {
		t.Fatal("compression is not deterministic")
	}
}
