package asset

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestServe: a versioned URL is cached for a year, any other revalidates;
// the ETag gives 304; the encoding follows Accept-Encoding (q=0 refuses);
// HEAD sends headers only.
func TestServe(t *testing.T) {
	a := New("app.js", bytes.Repeat([]byte("x"), 2000))
	a.BR = []byte("brotli")
	get := func(method, url string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, url, nil)
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		a.Serve(w, r, true)
		return w
	}
	if w := get("GET", "/app.js?v="+a.Version, nil); w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || w.Body.Len() != 2000 || w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("versioned: %v %d", w.Header(), w.Body.Len())
	}
	if w := get("GET", "/app.js?v=old", nil); w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("other version: %v", w.Header())
	}
	if w := get("GET", "/app.js", map[string]string{"If-None-Match": `"` + a.Version + `"`}); w.Code != http.StatusNotModified {
		t.Fatalf("ETag: %d", w.Code)
	}
	if w := get("GET", "/app.js", map[string]string{"Accept-Encoding": "gzip, br"}); w.Header().Get("Content-Encoding") != "br" || w.Body.String() != "brotli" {
		t.Fatalf("br: %v", w.Header())
	}
	if w := get("GET", "/app.js", map[string]string{"Accept-Encoding": "br;q=0, gzip"}); w.Header().Get("Content-Encoding") != "gzip" || !bytes.Equal(w.Body.Bytes(), a.GZ) {
		t.Fatalf("gzip: %v", w.Header())
	}
	if w := get("HEAD", "/app.js", nil); w.Body.Len() != 0 || w.Header().Get("Content-Length") != "2000" {
		t.Fatalf("HEAD: %d %v", w.Body.Len(), w.Header())
	}
	lazy := New("m.wasm", []byte("module"))
	if lazy.GZ != nil {
		t.Fatal("a module got an eager gzip copy")
	}
	lazy.LazyGz = func() []byte { return []byte("gz") }
	w := httptest.NewRecorder()
	lazy.Serve(w, httptest.NewRequest("GET", "/m.wasm", nil), false)
	if w.Body.String() != "module" {
		t.Fatalf("no Accept-Encoding: %q", w.Body.String())
	}
	r := httptest.NewRequest("GET", "/m.wasm", nil)
	r.Header.Set("Accept-Encoding", "gzip")
	w = httptest.NewRecorder()
	lazy.Serve(w, r, false)
	if w.Body.String() != "gz" || w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("lazy gzip: %q %v", w.Body.String(), w.Header())
	}
}
