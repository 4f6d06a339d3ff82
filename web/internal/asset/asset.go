// Package asset serves the web pages' static files (the voting page, the
// officials' console, the observers' portal) one way: each file with its
// media type, a version and a subresource-integrity hash of its bytes,
// precompressed copies, an ETag, caching that is immutable only for a
// versioned URL, and the security headers every page answer carries.
package asset

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"

	"evote/web/internal/wasmbuild"
)

// An Asset is one served file with its precomputed encodings.
type Asset struct {
	Body, GZ, BR []byte
	// LazyGz, if set, makes the gzip copy on first use (a module's, a few
	// seconds of CPU that browsers taking brotli never need).
	LazyGz    func() []byte
	Type      string // media type
	Version   string // first 16 hex digits of the SHA-256
	Integrity string // sha384-…
}

// New returns the asset of file name (its extension gives the media
// type) with body b, and a gzip copy of it unless it is a module or tiny.
func New(name string, b []byte) *Asset {
	s384 := sha512.Sum384(b)
	s256 := sha256.Sum256(b)
	a := &Asset{Body: b, Version: hex.EncodeToString(s256[:8]), Integrity: "sha384-" + base64.StdEncoding.EncodeToString(s384[:])}
	switch path.Ext(name) {
	case ".js":
		a.Type = "text/javascript; charset=utf-8"
	case ".css":
		a.Type = "text/css; charset=utf-8"
	case ".json":
		a.Type = "application/json; charset=utf-8"
	case ".wasm":
		a.Type = "application/wasm"
	case ".svg":
		a.Type = "image/svg+xml"
	case ".html":
		a.Type = "text/html; charset=utf-8"
	default:
		a.Type = "application/octet-stream"
	}
	if a.Type != "application/wasm" && len(b) > 512 {
		a.GZ = wasmbuild.Gzip(b)
	}
	return a
}

// Gzip returns the asset's gzip copy (made now if it is lazy), or nil.
func (a *Asset) Gzip() []byte {
	if a.GZ == nil && a.LazyGz != nil {
		return a.LazyGz()
	}
	return a.GZ
}

// Serve answers a GET or HEAD for the asset: cacheable for a year when
// versioned says the URL names this version (?v=…), else revalidated by
// its ETag; brotli or gzip as the client accepts.
func (a *Asset) Serve(w http.ResponseWriter, r *http.Request, versioned bool) {
	hd := w.Header()
	hd.Set("Content-Type", a.Type)
	hd.Set("Vary", "Accept-Encoding")
	etag := `"` + a.Version + `"`
	hd.Set("ETag", etag)
	if versioned && r.URL.Query().Get("v") == a.Version {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.Body
	ae := r.Header.Get("Accept-Encoding")
	switch {
	case a.BR != nil && AcceptsEncoding(ae, "br"):
		body = a.BR
		hd.Set("Content-Encoding", "br")
	case (a.GZ != nil || a.LazyGz != nil) && AcceptsEncoding(ae, "gzip"):
		body = a.Gzip()
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	// Explicit status: a router's not-found hook may have preset another.
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// SecurityHeaders sets the headers of every page answer: the page's
// Content-Security-Policy csp, no sniffing, no referrer, no framing, an
// isolated browsing context, no powerful features, and HSTS when the
// server itself terminates TLS.
func SecurityHeaders(w http.ResponseWriter, r *http.Request, csp string) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
	if r.TLS != nil {
		hd.Set("Strict-Transport-Security", "max-age=63072000")
	}
}

// AcceptsEncoding reports whether an Accept-Encoding header lists enc with
// a non-zero quality.
func AcceptsEncoding(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
