// Package wasmbuild builds the voting page's WebAssembly module
// reproducibly (spec/14-web.md §14.5): fixed flags, no VCS stamp, trimmed
// paths, so that anyone with the same Go toolchain and the same source
// gets the same bytes, whose SHA-256 the election manifest publishes.
//
// Repository convention for every WebAssembly module served from
// web/static: it is committed in one form only, <name>.wasm.br (brotli
// quality 11, window 2^24: deterministic, the smallest, what browsers
// ask for over HTTPS), beside <name>.wasm.sha256 (the raw module's
// SHA-256, the toolchain, the source digest). The raw module and its gzip
// copy are derived from it when the server starts (ReadModule, Gzip), so
// that each rebuild adds one compressed blob to the history instead of
// three. .gitattributes marks *.wasm.br binary.
package wasmbuild

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
func Build(moduleRoot string) ([]byte, error) { return BuildPackage(moduleRoot, "./web/wasm") }

// BuildPackage compiles the main package pkg (relative to moduleRoot, e.g.
// "./web/portal/wasm") with the same flags and returns the module.
func BuildPackage(moduleRoot, pkg string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "evote-wasm-")
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "evote.wasm")
	args := append(append([]string{}, Flags...), "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOEXPERIMENT=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wasmbuild: go build: %w: %s", err, msg)
	}
	return os.ReadFile(out)
}

// SourceDigest returns a SHA-256 over what the module is built from: the
// go command's version, go.mod, go.sum and every Go file of the module's
// own packages that the module links (for js/wasm), each framed by its path
// and length. When it is unchanged, a rebuild must give the same bytes.
func SourceDigest(moduleRoot string) (string, error) { return SourceDigestOf(moduleRoot, "./web/wasm") }

// SourceDigestOf is SourceDigest for the module built from package pkg.
func SourceDigestOf(moduleRoot, pkg string) (string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}|{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}`, pkg)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("wasmbuild: go list: %w", err)
	}
	ver, err := GoVersion(moduleRoot)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	frame := func(name string, b []byte) {
		fmt.Fprintf(h, "%s\n%d\n", name, len(b))
		h.Write(b)
	}
	frame("go", []byte(ver))
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(moduleRoot, f))
		if err != nil {
			return "", fmt.Errorf("wasmbuild: %w", err)
		}
		frame(f, b)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 4 || !strings.HasPrefix(parts[0], "evote/") {
			continue
		}
		for _, list := range parts[2:] {
			for _, f := range strings.Split(list, ",") {
				if f == "" {
					continue
				}
				b, err := os.ReadFile(filepath.Join(parts[1], f))
				if err != nil {
					return "", fmt.Errorf("wasmbuild: %w", err)
				}
				frame(parts[0]+"/"+f, b)
			}
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
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

// ErrModule reports a committed module that does not decode to the bytes
// its .sha256 file names.
var ErrModule = errors.New("wasmbuild: module does not match its hash")

// maxModule bounds a decompressed module (the voting page's is under 5 MiB).
const maxModule = 64 << 20

// ReadModule reads <name>.br and <name>.sha256 from fsys (name ends in
// .wasm) and returns the raw module, its brotli form as committed, and
// its SHA-256, after checking that the decompressed bytes have the hash
// the .sha256 file's first field names.
func ReadModule(fsys fs.FS, name string) (raw, br []byte, sum [32]byte, err error) {
	if br, err = fs.ReadFile(fsys, name+".br"); err != nil {
		return nil, nil, sum, fmt.Errorf("wasmbuild: %w", err)
	}
	line, err := fs.ReadFile(fsys, name+".sha256")
	if err != nil {
		return nil, nil, sum, fmt.Errorf("wasmbuild: %w", err)
	}
	raw, err = io.ReadAll(io.LimitReader(brotli.NewReader(bytes.NewReader(br)), maxModule+1))
	if err != nil {
		return nil, nil, sum, fmt.Errorf("wasmbuild: %s.br: %w", name, err)
	}
	if len(raw) > maxModule {
		return nil, nil, sum, fmt.Errorf("wasmbuild: %s: over %d bytes", name, maxModule)
	}
	sum = sha256.Sum256(raw)
	fields := strings.Fields(string(line))
	if len(fields) == 0 || fields[0] != hex.EncodeToString(sum[:]) {
		return nil, nil, sum, fmt.Errorf("%w: %s", ErrModule, name)
	}
	return raw, br, sum, nil
}

// Write builds the module and writes evote.wasm.br (the only form
// committed), evote.wasm.sha256 (hex SHA-256 of the raw module, the
// toolchain and the source digest) and a copy of the toolchain's
// wasm_exec.js into dir; raw and gzip copies left by older builds are
// removed.
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
	src, err := SourceDigest(moduleRoot)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(wasm)
	for _, old := range []string{"evote.wasm", "evote.wasm.gz"} {
		if err := os.Remove(filepath.Join(dir, old)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wasmbuild: %w", err)
		}
	}
	files := map[string][]byte{
		"evote.wasm.br":     Brotli(wasm),
		"evote.wasm.sha256": fmt.Appendf(nil, "%x %s %s\n", sum, ver, src),
		"wasm_exec.js":      exec,
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("wasmbuild: %w", err)
		}
	}
	return nil
}

// WriteBrotliOnly builds the main package pkg and writes into dir only
// NAME.wasm.br (the module, brotli-compressed) and NAME.wasm.sha256 (the
// module's hash, the toolchain and the source digest, as Write does), plus
// the toolchain's wasm_exec.js: a server derives the other forms when it
// starts, so the repository holds one copy of the module, not three.
func WriteBrotliOnly(moduleRoot, dir, pkg, name string) error {
	wasm, err := BuildPackage(moduleRoot, pkg)
	if err != nil {
		return err
	}
	ver, err := GoVersion(moduleRoot)
	if err != nil {
		return err
	}
	src, err := SourceDigestOf(moduleRoot, pkg)
	if err != nil {
		return err
	}
	execJS, err := WasmExec(moduleRoot)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(wasm)
	files := map[string][]byte{
		name + ".wasm.br":     Brotli(wasm),
		name + ".wasm.sha256": fmt.Appendf(nil, "%x %s %s\n", sum, ver, src),
		"wasm_exec.js":        execJS,
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			return fmt.Errorf("wasmbuild: %w", err)
		}
	}
	return nil
}

// WasmExec returns the toolchain's wasm_exec.js, the JavaScript support
// code of modules built with it.
func WasmExec(moduleRoot string) ([]byte, error) {
	cmd := exec.Command("go", "env", "GOROOT")
	cmd.Dir = moduleRoot
	root, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: go env GOROOT: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	return b, nil
}
