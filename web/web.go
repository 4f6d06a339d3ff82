// Package web serves the voting page (spec/14-web.md): the static files
// embedded from web/static, with a strict Content-Security-Policy, the
// page's index rendered with subresource-integrity hashes of every script,
// stylesheet, translation and of the WebAssembly module, the module sent
// precompressed (brotli or gzip) and cacheable, a QR-code image of the
// receipt link, and an optional same-origin route to the identity service
// (/idp/…), so that the page talks to its own origin only.
//
// Mount it as api.Server.Web; the ballot box's API stays under /api/.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	webasset "evote/web/internal/asset"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"

	qrcode "github.com/skip2/go-qrcode"

	"evote/web/internal/wasmbuild"
)

// asset is one served file (package asset).
type asset = webasset.Asset

var newAsset = webasset.New

//go:generate go run ./internal/cmd/buildwasm

//go:embed static
var staticFS embed.FS

// CSP is the Content-Security-Policy of the page: only this origin's
// scripts, styles, images and connections; WebAssembly compilation
// ('wasm-unsafe-eval') but no eval, no inline script or style, no frames,
// no forms posted anywhere. Images may also be blob: URLs, which only the
// page's own script can mint: the authority's emblem is drawn from the
// bytes of the manifest the module checked (under the fingerprint), not
// fetched from the server, whose answer would be outside the page's
// integrity chain (spec §14.5). An image runs no script, SVG included.
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'"

// Options configure the handler.
type Options struct {
	// Identity, if set, is the identity service's base URL; /idp/v1/auth/…
	// (the voter's sign-in routes) is forwarded to <Identity>/v1/auth/….
	Identity *url.URL
}

// Handler serves the page.
type Handler struct {
	assets map[string]*asset
	index  []byte
	idp    http.Handler
}

// moduleGz holds each module's gzip copy (name → func() []byte).
var moduleGz sync.Map

// ref is what the index template needs of an asset.
type ref struct{ Version, Integrity string }

// New builds the handler from the embedded files.
func New(o Options) (*Handler, error) {
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
		case strings.HasSuffix(p, ".wasm.br"):
			// A WebAssembly module, committed only in brotli form
			// (wasmbuild): the raw bytes (checked against its .sha256)
			// and a gzip copy are derived here.
			name := strings.TrimSuffix(p, ".br")
			raw, br, _, err := wasmbuild.ReadModule(sub, name)
			if err != nil {
				return err
			}
			a := newAsset(name, raw)
			a.BR = br
			// The embedded files never change: one gzip copy per process,
			// started now so that it is ready by the first request.
			f, _ := moduleGz.LoadOrStore(name, sync.OnceValue(func() []byte { return wasmbuild.Gzip(raw) }))
			a.LazyGz = f.(func() []byte)
			go a.LazyGz()
			h.assets["/"+name] = a
			return nil
		case p == "index.html", strings.HasSuffix(p, ".wasm"), strings.HasSuffix(p, ".br"), strings.HasSuffix(p, ".gz"), strings.HasSuffix(p, ".sha256"):
			// Raw or gzip modules left by an older build are not served.
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
		return nil, fmt.Errorf("web: %w", err)
	}
	w := h.assets["/evote.wasm"]
	if w == nil {
		return nil, fmt.Errorf("web: no evote.wasm.br embedded")
	}
	langs := map[string]map[string]string{}
	for _, l := range []string{"ky", "ru", "uz", "en"} {
		a := h.assets["/i18n/"+l+".json"]
		if a == nil {
			return nil, fmt.Errorf("web: no translation %s", l)
		}
		langs[l] = map[string]string{"path": "/i18n/" + l + ".json?v=" + a.Version, "integrity": a.Integrity}
	}
	lj, _ := json.Marshal(langs)
	src, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	tpl, err := template.New("index").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	r := func(n string) ref { a := h.assets[n]; return ref{a.Version, a.Integrity} }
	var buf bytes.Buffer
	err = tpl.Execute(&buf, map[string]any{"CSS": r("/style.css"), "Exec": r("/wasm_exec.js"), "App": r("/app.js"), "Wasm": r("/evote.wasm"), "WasmSize": len(w.Body), "I18N": string(lj)})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	h.index = buf.Bytes()
	h.assets["/"] = newAsset("index.html", h.index)
	if o.Identity != nil {
		target := o.Identity
		h.idp = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.URL.Path = strings.TrimSuffix(target.Path, "/") + strings.TrimPrefix(pr.In.URL.Path, "/idp")
				pr.Out.URL.RawPath = ""
				pr.SetXForwarded()
			},
		}
	}
	return h, nil
}

// ClientHash returns the SHA-256 of the embedded WebAssembly module (of
// its raw bytes, decompressed from evote.wasm.br and checked against
// evote.wasm.sha256), the value an election's manifest publishes as
// ClientHash; all zeros if the module is missing or does not match.
func ClientHash() [32]byte { return clientHash() }

var clientHash = sync.OnceValue(func() [32]byte {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return [32]byte{}
	}
	_, _, sum, err := wasmbuild.ReadModule(sub, "evote.wasm")
	if err != nil {
		return [32]byte{}
	}
	return sum
})

// ServeHTTP answers GET and HEAD for the page's files, /qr.svg and, when
// configured, /idp/… for any method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	webasset.SecurityHeaders(w, r, CSP)
	p := r.URL.Path
	if strings.HasPrefix(p, "/idp/") {
		// Only the voter's routes: officials reach the identity service
		// directly, never through the public voting page's origin.
		if h.idp == nil || !strings.HasPrefix(p, "/idp/v1/auth/") || strings.Contains(p, "..") {
			http.NotFound(w, r)
			return
		}
		h.idp.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if p == "/qr.svg" {
		h.serveQR(w, r)
		return
	}
	if p == "/index.html" {
		p = "/"
	}
	a := h.assets[p]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	a.Serve(w, r, p != "/")
}

// maxQR bounds the text a QR image encodes (a receipt link).
const maxQR = 512

// serveQR draws the QR code of ?d= as SVG: one path of unit squares, no
// script, so the image is inert.
func (h *Handler) serveQR(w http.ResponseWriter, r *http.Request) {
	d := r.URL.Query().Get("d")
	if d == "" || len(d) > maxQR {
		http.Error(w, "qr: want ?d= of 1 to 512 bytes", http.StatusBadRequest)
		return
	}
	q, err := qrcode.New(d, qrcode.Medium)
	if err != nil {
		http.Error(w, "qr: cannot encode", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.WriteHeader(http.StatusOK)
	w.Write(QRSVG(q.Bitmap()))
}

// QRSVG renders a QR bitmap (true = dark module, quiet zone included) as
// an SVG document.
func QRSVG(bm [][]bool) []byte {
	n := len(bm)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x, dark := range row {
			if dark {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}
