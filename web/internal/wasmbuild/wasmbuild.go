// Package wasmbuild builds the voting page's WebAssembly module
// reproducibly (spec/13-web.md §13.4): fixed flags, no VCS stamp, trimmed
// paths, so that anyone with the same Go toolchain and the same source
// gets the same bytes, whose SHA-256 the election manifest publishes. It
// also writes the precompressed copies the server sends (brotli quality
// 11, gzip level 9, both deterministic).
package wasmbuild

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/andybalholm/brotli"
)

// Flags are the go build flags of the module; changing them changes the
// published hash.
var Flags = []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

// Build compiles evote/web/wasm with the go command and returns the module.
// moduleRoot is the directory holding go.mod.
func Build(moduleRoot string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "evote-wasm-")
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "evote.wasm")
	args := append(append([]string{}, Flags...), "-o", out, "./web/wasm")
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOEXPERIMENT=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wasmbuild: go build: %w: %s", err, msg)
	}
	return os.ReadFile(out)
}

// GoVersion returns the version of the go command that Build uses.
func GoVersion(moduleRoot string) (string, error) {
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Dir = moduleRoot
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("wasmbuild: go env: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Gzip compresses deterministically at level 9 (no name, no time).
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Brotli compresses at quality 11 with a 16 MiB window.
func Brotli(b []byte) []byte {
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: 11, LGWin: 24})
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Write builds the module and writes evote.wasm, evote.wasm.br,
// evote.wasm.gz, evote.wasm.sha256 (hex and the toolchain) and a copy of
// the toolchain's wasm_exec.js into dir.
func Write(moduleRoot, dir string) error {
	wasm, err := Build(moduleRoot)
	if err != nil {
		return err
	}
	ver, err := GoVersion(moduleRoot)
	if err != nil {
		return err
	}
	root, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("wasmbuild: go env GOROOT: %w", err)
	}
	exec, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return fmt.Errorf("wasmbuild: %w", err)
	}
	sum := sha256.Sum256(wasm)
	files := map[string][]byte{
		"evote.wasm":        wasm,
		"evote.wasm.gz":     Gzip(wasm),
		"evote.wasm.br":     Brotli(wasm),
		"evote.wasm.sha256": fmt.Appendf(nil, "%x %s\n", sum, ver),
		"wasm_exec.js":      exec,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("wasmbuild: %w", err)
		}
	}
	return nil
}
