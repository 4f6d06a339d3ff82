package console_test

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"evote/api"
	"evote/ballotbox"
	"evote/election"
	"evote/web/console"
)

func get(t *testing.T, h http.Handler, method, path string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func translations(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, l := range console.Languages {
		raw, err := os.ReadFile("static/i18n/" + l + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out[l] = m
	}
	return out
}

// usedKeys lists the translation keys the page uses: data-i18n in the
// index, every dotted literal of the script ("form.title"), and the
// families the script builds from the server's names (actions, their
// confirmations, phases, roles).
func usedKeys(t *testing.T) []string {
	keys := map[string]bool{}
	index, err := os.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`data-i18n="([^"]+)"`).FindAllSubmatch(index, -1) {
		keys[string(m[1])] = true
	}
	js, err := os.ReadFile("static/console.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`["']([a-z]+(?:\.[a-z0-9-]+)+)["']`).FindAllSubmatch(js, -1) {
		keys[string(m[1])] = true
	}
	for _, a := range ballotbox.Actions {
		keys["action."+a], keys["confirm."+a] = true, true
	}
	for p := election.PhaseSetup; p <= election.PhaseTallied; p++ {
		keys["phase."+p.String()] = true
	}
	for _, r := range []string{"admin", "election-official", "observer"} {
		keys["role."+r] = true
	}
	var out []string
	for k := range keys {
		out = append(out, k)
	}
	sort.Strings(out)
	if len(out) < 100 {
		t.Fatalf("only %d keys found: the extraction is broken", len(out))
	}
	return out
}

// TestTranslationsComplete fails on a key the page uses that some
// language lacks or leaves empty, and on a key one language has and
// another lacks.
func TestTranslationsComplete(t *testing.T) {
	tr := translations(t)
	for _, k := range usedKeys(t) {
		for _, l := range console.Languages {
			if strings.TrimSpace(tr[l][k]) == "" {
				t.Errorf("%s: no translation of %q", l, k)
			}
		}
	}
	for _, l := range console.Languages {
		for k := range tr[l] {
			for _, o := range console.Languages {
				if _, ok := tr[o][k]; !ok {
					t.Errorf("%s has %q, %s does not", l, k, o)
				}
			}
		}
		// Placeholders must survive translation.
		for k, v := range tr["en"] {
			for _, p := range regexp.MustCompile(`\{[a-z]+\}`).FindAllString(v, -1) {
				if !strings.Contains(tr[l][k], p) {
					t.Errorf("%s: %q lacks the placeholder %s", l, k, p)
				}
			}
		}
	}
	// Uzbek in Latin script.
	for k, v := range tr["uz"] {
		if regexp.MustCompile(`\p{Cyrillic}`).MatchString(v) {
			t.Errorf("uz: %q is not in Latin script: %q", k, v)
		}
	}
}

// TestIndexIntegrity: the index names every script, stylesheet and
// translation with the SHA-384 of exactly what the handler serves, and
// every answer carries the strict CSP.
func TestIndexIntegrity(t *testing.T) {
	h, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	w := get(t, h, "GET", "/console/", nil, nil)
	if w.Code != 200 || w.Header().Get("Content-Security-Policy") != console.CSP || !strings.Contains(console.CSP, "script-src 'self';") {
		t.Fatalf("index: %d %v", w.Code, w.Header())
	}
	page := w.Body.String()
	refs := regexp.MustCompile(`(?:src|href)="(/console/[^"?]+)\?v=[0-9a-f]{16}" integrity="(sha384-[^"]+)"`).FindAllStringSubmatch(page, -1)
	m := regexp.MustCompile(`<meta name="evote-i18n" content="([^"]+)">`).FindStringSubmatch(page)
	if len(refs) != 2 || m == nil {
		t.Fatalf("index refs %v, i18n meta %v:\n%s", refs, m, page)
	}
	var langs map[string]struct{ Path, Integrity string }
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &langs); err != nil || len(langs) != 4 {
		t.Fatalf("i18n meta %q: %v", m[1], err)
	}
	for _, l := range langs {
		p, _, _ := strings.Cut(l.Path, "?")
		refs = append(refs, []string{"", p, l.Integrity})
	}
	for _, r := range refs {
		r[2] = html.UnescapeString(r[2])
		w := get(t, h, "GET", r[1], nil, nil)
		sum := sha512.Sum384(w.Body.Bytes())
		if w.Code != 200 || "sha384-"+base64.StdEncoding.EncodeToString(sum[:]) != r[2] || w.Header().Get("Content-Security-Policy") != console.CSP {
			t.Errorf("%s: %d, integrity %s", r[1], w.Code, r[2])
		}
	}
	if w := get(t, h, "GET", "/console/nope.js", nil, nil); w.Code != 404 {
		t.Errorf("unknown file: %d", w.Code)
	}
	if w := get(t, h, "POST", "/console/console.js", nil, nil); w.Code != 405 {
		t.Errorf("POST of a file: %d", w.Code)
	}
	if w := get(t, h, "GET", "/console", nil, nil); w.Code != 301 || w.Header().Get("Location") != "/console/" {
		t.Errorf("/console: %d %v", w.Code, w.Header())
	}
}

// TestQR: the enrolment QR code is drawn from a POSTed body (the secret
// never in a URL), as a square module matrix; bad requests are refused.
func TestQR(t *testing.T) {
	h, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	js := map[string]string{"Content-Type": "application/json"}
	uri := "otpauth://totp/evote:alice?secret=JBSWY3DPEHPK3PXP&issuer=evote"
	w := get(t, h, "POST", "/console/qr", []byte(`{"data":"`+uri+`"}`), js)
	var m console.QRMatrix
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &m) != nil || m.Size < 21 || len(m.Modules) != m.Size*m.Size || strings.Trim(m.Modules, "01") != "" || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("qr: %d %s", w.Code, w.Body)
	}
	// Mounted behind the API's router (whose not-found hook presets 404),
	// as cmd/evoted mounts it, the answer is still 200.
	srv := api.NewServer()
	srv.Web = h
	if w := get(t, srv.Handler(), "POST", "/console/qr", []byte(`{"data":"x"}`), js); w.Code != 200 {
		t.Fatalf("qr behind the API's router: %d", w.Code)
	}
	// The finder pattern's corner (after the quiet zone) is dark, its
	// inside ring light.
	if !strings.Contains(m.Modules[:m.Size*5], "1111111") {
		t.Fatalf("no finder pattern in %s", m.Modules[:m.Size*5])
	}
	for _, c := range []struct {
		method, body string
		hdr          map[string]string
		want         int
	}{
		{"GET", "", nil, 405},
		{"POST", `{"data":"` + uri + `"}`, nil, 415},
		{"POST", `{"data":""}`, js, 400},
		{"POST", `{"data":"` + strings.Repeat("x", 513) + `"}`, js, 400},
		{"POST", `{"data":"x","more":1}`, js, 400},
		{"POST", `{"data":"` + strings.Repeat("x", 5000) + `"}`, js, 413},
	} {
		if w := get(t, h, c.method, "/console/qr", []byte(c.body), c.hdr); w.Code != c.want {
			b, _ := io.ReadAll(w.Body)
			t.Errorf("%s %.40s: %d %s, want %d", c.method, c.body, w.Code, b, c.want)
		}
	}
}
