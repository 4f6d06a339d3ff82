package api_test

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/andybalholm/brotli"

	"evote/api"
	"evote/bulletin"
)

// raw GETs path with the given Accept-Encoding (none sent if empty) and
// extra headers, without the client's own decompression.
func (e *env) raw(t *testing.T, path, ae string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	if ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return b
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "gzip":
		z, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = z
	default:
		t.Fatalf("unexpected encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s body: %v", enc, err)
	}
	return out
}

// TestAnswersCompressed: JSON answers under /api/v1 are compressed as the
// client asks (brotli preferred, else gzip, else none), decode to the same
// JSON, say Vary: Accept-Encoding, and small answers go uncompressed.
func TestAnswersCompressed(t *testing.T) {
	e := newEnv(t)
	path := "/api/v1/elections/" + e.f.ElectionID
	_, plain := e.raw(t, path, "")
	if len(plain) < 2048 {
		t.Fatalf("election info is %d bytes: too small to test compression", len(plain))
	}
	for _, c := range []struct{ ae, want string }{
		{"gzip, deflate, br, zstd", "br"}, {"gzip", "gzip"}, {"br;q=0, gzip", "gzip"}, {"identity", ""}, {"", ""},
	} {
		resp, body := e.raw(t, path, c.ae)
		if got := resp.Header.Get("Content-Encoding"); got != c.want {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want %q", c.ae, got, c.want)
		}
		if resp.Header.Get("Vary") != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", c.ae, resp.Header.Get("Vary"))
		}
		got := decode(t, c.want, body)
		if !bytes.Equal(got, plain) {
			t.Fatalf("Accept-Encoding %q: decoded body differs from the identity body", c.ae)
		}
		if c.want != "" && len(body) >= len(plain)/2 {
			t.Errorf("%s: %d bytes from %d", c.want, len(body), len(plain))
		}
	}
	// A small answer (an error) is not worth compressing.
	resp, body := e.raw(t, "/api/v1/elections/nosuch", "br, gzip")
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Encoding") != "" || !json.Valid(body) {
		t.Fatalf("small answer: %d, encoding %q, body %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
	}
	// A HEAD carries no body to compress.
	req, _ := http.NewRequest("HEAD", e.srv.URL+path, nil)
	req.Header.Set("Accept-Encoding", "br")
	hr, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.Header.Get("Content-Encoding") != "" {
		t.Fatalf("HEAD answered with Content-Encoding %q", hr.Header.Get("Content-Encoding"))
	}
}

// TestCompressedETag: an immutable answer sent compressed carries a weak
// ETag, and that ETag gets 304.
func TestCompressedETag(t *testing.T) {
	e := newEnv(t)
	var info api.ElectionInfo
	_, b := e.raw(t, "/api/v1/elections/"+e.f.ElectionID, "")
	json.Unmarshal(b, &info)
	path := "/api/v1/board/" + info.Log + "/entries?start=0&limit=2"
	resp, _ := e.raw(t, path, "br")
	et := resp.Header.Get("ETag")
	if resp.Header.Get("Content-Encoding") != "br" || len(et) < 4 || et[:2] != "W/" {
		t.Fatalf("compressed full page: encoding %q, ETag %q", resp.Header.Get("Content-Encoding"), et)
	}
	resp, _ = e.raw(t, path, "br", "If-None-Match", et)
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match %s: status %d, want 304", et, resp.StatusCode)
	}
	resp, _ = e.raw(t, path, "", "If-None-Match", et[2:])
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match %s: status %d, want 304", et[2:], resp.StatusCode)
	}
}

// TestAPISecurityHeaders: every answer outside the voting page, success
// or error, carries the API's security headers.
func TestAPISecurityHeaders(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{
		"/api/v1/elections", "/api/v1/elections/" + e.f.ElectionID, "/api/v1/elections/" + e.f.ElectionID + "/setup",
		"/api/v1/elections/nosuch", "/api/v1/nosuch", "/healthz",
	} {
		resp, _ := e.raw(t, p, "gzip")
		for k, want := range map[string]string{
			"Content-Security-Policy": api.APICSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
			"X-Frame-Options": "DENY", "Cross-Origin-Resource-Policy": "same-origin",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", p, k, got, want)
			}
		}
	}
}

// TestAPIStrictTransport: over TLS the API's answers carry HSTS, as the
// page's do; over plain HTTP (behind a TLS terminator) they do not.
func TestAPIStrictTransport(t *testing.T) {
	e := newEnv(t)
	s := api.NewServer()
	s.Registry = e.f.Registry
	h := s.Handler()
	for _, secure := range []bool{true, false} {
		req := httptest.NewRequest("GET", "/api/v1/elections", nil)
		if secure {
			req.TLS = &tls.ConnectionState{}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Strict-Transport-Security"); (got == "max-age=63072000") != secure {
			t.Errorf("TLS %v: Strict-Transport-Security %q", secure, got)
		}
	}
}

// TestSetupEntries: /elections/{id}/setup serves the board's manifest
// entry, the key generation's qualified set and each dealer's extraction
// commitments (what a device checks the election key against), and the
// election-context entry, canonical, with their positions in board order,
// and is immutable once the context is posted.
func TestSetupEntries(t *testing.T) {
	e := newEnv(t)
	path := "/api/v1/elections/" + e.f.ElectionID + "/setup"
	resp, b := e.raw(t, path, "")
	var s api.Setup
	if err := json.Unmarshal(b, &s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("setup: %d %v", resp.StatusCode, err)
	}
	lid := e.f.Box.Log().ID()
	// The fixture: 3 trustees, all qualified.
	if s.ElectionID != e.f.ElectionID || s.Log != hexs(lid[:]) || s.Origin != e.f.Box.Log().Origin() || len(s.Entries) != 6 {
		t.Fatalf("setup: %d entries", len(s.Entries))
	}
	want := []bulletin.Type{bulletin.TypeManifest, bulletin.TypeKeygenQualified, bulletin.TypeKeygenExtraction, bulletin.TypeKeygenExtraction,
		bulletin.TypeKeygenExtraction, bulletin.TypeElectionContext}
	for i, se := range s.Entries {
		if i > 0 && se.Index <= s.Entries[i-1].Index {
			t.Fatalf("setup entries out of board order: %d after %d", se.Index, s.Entries[i-1].Index)
		}
		raw, err := base64.StdEncoding.DecodeString(se.Canonical)
		if err != nil {
			t.Fatal(err)
		}
		en, err := bulletin.DecodeEntry(raw)
		if err != nil || en.Type != want[i] || en.Verify() != nil {
			t.Fatalf("setup entry %d: type %v, %v", i, en.Type, err)
		}
		_, pb := e.raw(t, "/api/v1/board/"+s.Log+"/entries?start="+itoa(se.Index)+"&limit=1", "")
		var page api.EntriesPage
		json.Unmarshal(pb, &page)
		if len(page.Entries) != 1 || page.Entries[0].Canonical != se.Canonical {
			t.Fatalf("setup entry %d is not the board's entry at %d", i, se.Index)
		}
		if i == 0 && se.Index != 0 {
			t.Fatalf("manifest at %d", se.Index)
		}
	}
	// No other election-context entry precedes the one served.
	_, pb := e.raw(t, "/api/v1/board/"+s.Log+"/entries?start=0&limit="+itoa(s.Entries[len(s.Entries)-1].Index), "")
	var page api.EntriesPage
	json.Unmarshal(pb, &page)
	for _, en := range page.Entries {
		if en.Type == bulletin.TypeElectionContext.String() {
			t.Fatalf("an earlier context at %d", en.Index)
		}
	}
	if resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("setup after the context: Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	if r, _ := e.raw(t, path, "", "If-None-Match", resp.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Fatalf("setup If-None-Match: %d", r.StatusCode)
	}
	if r, _ := e.raw(t, "/api/v1/elections/nosuch/setup", ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("setup of no election: %d", r.StatusCode)
	}
}

func hexs(b []byte) string { return hex.EncodeToString(b) }

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
