// Package console serves the officials' web console under /console/: the
// static files embedded from web/console/static (plain JavaScript modules,
// no framework, no third-party code) with a strict Content-Security-Policy,
// the index rendered with subresource-integrity hashes of its script,
// stylesheet and translations, and one route of its own, POST
// /console/qr, which draws a QR code as a module matrix (the enrolment's
// otpauth URI carries a TOTP secret: it travels in a request body, never
// in a URL that logs or caches keep).
//
// The console talks only to the officials' API (/api/v1, package api):
// every action it offers is an API call any other client could make, so it
// holds no privilege of its own. cmd/evoted mounts it beside the voting
// page; the voting page's origin never forwards officials' routes.
package console

import (
	"bytes"
	"embed"
	"encoding/json"
	webasset "evote/web/internal/asset"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// asset is one served file (package asset).
type asset = webasset.Asset

var newAsset = webasset.New

// Prefix is the path the console is served under.
const Prefix = "/console/"

//go:embed static
var staticFS embed.FS

// Languages are the console's languages, in the manifest's order.
var Languages = []string{"ky", "ru", "uz", "en"}

// CSP is the console's Content-Security-Policy: this origin's script,
// style and connections only, no eval and no WebAssembly, no inline script
// or style, Trusted Types required for every DOM sink; images from this
// origin or from blob: URLs the page made itself (the emblem being
// uploaded, shown in an <img>, where an SVG runs no script).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// Handler serves the console.
type Handler struct {
	assets map[string]*asset
}

type ref struct{ Path, Integrity string }

// New builds the handler from the embedded files.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]*asset{}}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "index.html" {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		h.assets[p] = newAsset(p, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	r := func(n string) ref {
		a := h.assets[n]
		return ref{Prefix + n + "?v=" + a.Version, a.Integrity}
	}
	langs := map[string]ref{}
	for _, l := range Languages {
		if h.assets["i18n/"+l+".json"] == nil {
			return nil, fmt.Errorf("console: no translation %s", l)
		}
		langs[l] = r("i18n/" + l + ".json")
	}
	lj, err := json.Marshal(langs)
	if err != nil {
		return nil, err
	}
	src, err := fs.ReadFile(sub, "index.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	tpl, err := template.New("index").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	var buf bytes.Buffer
	if err := tpl.Execute(&buf, map[string]any{"CSS": r("console.css"), "JS": r("console.js"), "Icon": r("favicon.svg"), "I18N": string(lj)}); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	h.assets[""] = newAsset("index.html", buf.Bytes())
	return h, nil
}

// ServeHTTP answers GET and HEAD for the console's files under Prefix
// (/console redirects to it) and POST Prefix+"qr".
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	webasset.SecurityHeaders(w, r, CSP)
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if p == "qr" {
		h.serveQR(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "console: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if p == "index.html" {
		p = ""
	}
	a := h.assets[p]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	a.Serve(w, r, p != "")
}

// maxQR bounds the text a QR code encodes (an otpauth URI).
const maxQR = 512

// QRRequest is the body of POST /console/qr.
type QRRequest struct {
	Data string `json:"data"`
}

// QRMatrix is its answer: Size×Size modules, row by row, "1" dark and "0"
// light, quiet zone included.
type QRMatrix struct {
	Size    int    `json:"size"`
	Modules string `json:"modules"`
}

// serveQR encodes the body's data as a QR matrix the page draws on a
// canvas; nothing is kept.
func (h *Handler) serveQR(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "console: qr: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		http.Error(w, "console: qr: want application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<10+1))
	if err != nil || len(body) > 4<<10 {
		http.Error(w, "console: qr: body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var req QRRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Data == "" || len(req.Data) > maxQR {
		http.Error(w, "console: qr: want {\"data\": 1 to 512 bytes}", http.StatusBadRequest)
		return
	}
	q, err := qrcode.New(req.Data, qrcode.Medium)
	if err != nil {
		http.Error(w, "console: qr: cannot encode", http.StatusBadRequest)
		return
	}
	bm := q.Bitmap()
	var m strings.Builder
	for _, row := range bm {
		for _, dark := range row {
			if dark {
				m.WriteByte('1')
			} else {
				m.WriteByte('0')
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	// Explicit status: a router's not-found hook may have preset another.
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(QRMatrix{Size: len(bm), Modules: m.String()})
}
