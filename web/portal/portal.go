// Package portal serves the observers' portal (spec/16-portal.md): the
// public pages for parties, observers and media — the election and its
// fingerprint, live turnout, the bulletin board decoded entry by entry
// with inclusion and consistency proofs, ballot lookup by tracking code,
// the result as tables, charts and CSV — and the auditor's verifier
// compiled to WebAssembly, which checks the whole record in the browser
// from the fingerprint the observer types.
//
// The pages use only the public read routes (/api/v1/elections/… and
// /api/v1/board/…), so the portal runs from any origin that serves them:
// evoted mounts it at /portal/ (Mount), and WriteStatic writes the same
// files for a static host in front of a mirror of the read API.
//
// Like the voting page (package web) every answer carries a strict
// Content-Security-Policy (with Trusted Types), the index names every
// script, stylesheet, translation and the module with its
// subresource-integrity hash, and versioned files are immutable in caches.
// The module is committed only brotli-compressed (static/portal.wasm.br,
// with its hash line static/portal.wasm.sha256); New derives the plain and
// gzip forms and refuses to start if the plain form does not have the
// committed hash.
package portal

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	webasset "evote/web/internal/asset"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"

	"evote/web/internal/wasmbuild"
)

// asset is one served file (package asset).
type asset = webasset.Asset

var newAsset = webasset.New

//go:generate go run evote/web/internal/cmd/buildwasm -pkg ./web/portal/wasm -dir web/portal/static -name portal

//go:embed static
var staticFS embed.FS

// Prefix is where evoted serves the portal.
const Prefix = "/portal/"

// CSP is the portal's Content-Security-Policy: the voting page's (package
// web), plus its own Web Worker, images from blob: URLs (the authority's
// emblem, decoded from the manifest) and one Trusted Types policy, named
// "portal", that admits only the worker's and wasm_exec.js's URLs.
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; img-src 'self' blob:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types portal"

// Languages are the portal's languages; each has static/i18n/<lang>.json.
var Languages = []string{"ky", "ru", "uz", "en"}

// Options configure the portal.
type Options struct {
	// API is the base of the public read API as the pages reach it
	// (default "/api/v1", on the portal's own origin).
	API string
}

// Handler serves the portal's files; mount it under a prefix with
// http.StripPrefix (Mount does).
type Handler struct {
	assets map[string]*asset
	hash   [32]byte
}

// Module returns the committed module (decompressed) and the hash line
// it must match.
func Module() (wasm []byte, sum [32]byte, err error) {
	br, err := staticFS.ReadFile("static/portal.wasm.br")
	if err != nil {
		return nil, sum, fmt.Errorf("portal: %w", err)
	}
	line, err := staticFS.ReadFile("static/portal.wasm.sha256")
	if err != nil {
		return nil, sum, fmt.Errorf("portal: %w", err)
	}
	f := strings.Fields(string(line))
	if len(f) != 3 {
		return nil, sum, fmt.Errorf("portal: portal.wasm.sha256 is not \"hash toolchain source-digest\"")
	}
	want, err := hex.DecodeString(f[0])
	if err != nil || len(want) != 32 {
		return nil, sum, fmt.Errorf("portal: portal.wasm.sha256: bad hash %q", f[0])
	}
	if wasm, err = io.ReadAll(brotli.NewReader(bytes.NewReader(br))); err != nil {
		return nil, sum, fmt.Errorf("portal: portal.wasm.br: %w", err)
	}
	sum = sha256.Sum256(wasm)
	if !bytes.Equal(sum[:], want) {
		return nil, sum, fmt.Errorf("portal: portal.wasm.br decompresses to %x, not the committed %x", sum, want)
	}
	return wasm, sum, nil
}

// ModuleHash returns the SHA-256 of the portal's module, the value
// published next to the voting page's (spec §16.3).
func ModuleHash() ([32]byte, error) {
	_, sum, err := Module()
	return sum, err
}

// New builds the handler from the embedded files.
func New(o Options) (*Handler, error) {
	if o.API == "" {
		o.API = "/api/v1"
	}
	h := &Handler{assets: map[string]*asset{}}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case p == "index.html", strings.HasPrefix(p, "portal.wasm"):
			return nil
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		h.assets["/"+p] = newAsset(p, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	wasm, sum, err := Module()
	if err != nil {
		return nil, err
	}
	h.hash = sum
	w := newAsset("portal.wasm", wasm)
	if w.BR, err = staticFS.ReadFile("static/portal.wasm.br"); err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	w.LazyGz = sync.OnceValue(func() []byte { return wasmbuild.Gzip(wasm) })
	h.assets["/portal.wasm"] = w
	langs := map[string]map[string]string{}
	for _, l := range Languages {
		a := h.assets["/i18n/"+l+".json"]
		if a == nil {
			return nil, fmt.Errorf("portal: no translation %s", l)
		}
		langs[l] = map[string]string{"path": "i18n/" + l + ".json?v=" + a.Version, "integrity": a.Integrity}
	}
	lj, _ := json.Marshal(langs)
	src, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	tpl, err := template.New("index").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	type ref struct{ Version, Integrity string }
	r := func(n string) ref { a := h.assets[n]; return ref{a.Version, a.Integrity} }
	var buf bytes.Buffer
	err = tpl.Execute(&buf, map[string]any{"CSS": r("/portal.css"), "App": r("/portal.js"), "Worker": r("/worker.js"), "Exec": r("/wasm_exec.js"),
		"Wasm": r("/portal.wasm"), "WasmSize": len(wasm), "WasmSHA256": hex.EncodeToString(sum[:]), "API": o.API, "I18N": string(lj)})
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	h.assets["/"] = newAsset("index.html", buf.Bytes())
	return h, nil
}

// ServeHTTP answers GET and HEAD for the portal's files (paths relative to
// the portal's prefix).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	webasset.SecurityHeaders(w, r, CSP)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "" || p == "/index.html" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	a := h.assets[p]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	a.Serve(w, r, p != "/")
}

// Mount returns a handler that serves the portal under Prefix (and
// redirects the prefix without its slash) and everything else with next.
func Mount(p *Handler, next http.Handler) http.Handler {
	strip := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), p)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == strings.TrimSuffix(Prefix, "/"):
			http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, Prefix):
			strip.ServeHTTP(w, r)
		case next != nil:
			next.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// WriteStatic writes the portal as static files into dir (index.html, the
// versioned assets, the module in its three forms), for a static host in
// front of a mirror of the read API at o.API. The host should send CSP
// (and the other headers of ServeHTTP) itself; the files work without
// them, but only the headers enforce the policy.
func WriteStatic(dir string, o Options) error {
	h, err := New(o)
	if err != nil {
		return err
	}
	for p, a := range h.assets {
		name := strings.TrimPrefix(p, "/")
		if name == "" {
			name = "index.html"
		}
		f := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return fmt.Errorf("portal: %w", err)
		}
		if err := os.WriteFile(f, a.Body, 0o644); err != nil {
			return fmt.Errorf("portal: %w", err)
		}
		gz := a.GZ
		if a.LazyGz != nil {
			gz = a.LazyGz()
		}
		for ext, b := range map[string][]byte{".br": a.BR, ".gz": gz} {
			if b != nil {
				if err := os.WriteFile(f+ext, b, 0o644); err != nil {
					return fmt.Errorf("portal: %w", err)
				}
			}
		}
	}
	return nil
}
