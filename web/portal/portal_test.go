package portal

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"evote/bulletin"
	"evote/election"
	"evote/web/internal/wasmbuild"
	"evote/web/portal/view"
)

func get(t *testing.T, h http.Handler, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestServe: the index and every file carry the policy; the index names
// each script, stylesheet and the module with the integrity of what is
// served at that (versioned) path, which is then immutable; the module is
// sent brotli- or gzip-compressed and decodes to the published hash.
func TestServe(t *testing.T) {
	h, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := Mount(h, http.NotFoundHandler())
	idx := get(t, srv, "/portal/")
	if idx.Code != 200 || idx.Header().Get("Content-Security-Policy") != CSP || idx.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("index: %d %v", idx.Code, idx.Header())
	}
	if r := get(t, srv, "/portal"); r.Code != http.StatusMovedPermanently || r.Header().Get("Location") != "/portal/" {
		t.Errorf("/portal: %d %v", r.Code, r.Header())
	}
	if r := get(t, srv, "/other"); r.Code != 404 {
		t.Errorf("outside the prefix: %d", r.Code)
	}
	body := idx.Body.String()
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script>") {
		t.Error("index loads from elsewhere or inlines script")
	}
	refs := regexp.MustCompile(`(?:src|href|data-[a-z]+)="([a-z_/0-9.]+\?v=[0-9a-f]{16})"(?:\s+(?:integrity|data-[a-z-]+integrity)="(sha384-[^"]+)")?`).FindAllStringSubmatch(body, -1)
	seen := map[string]bool{}
	for _, m := range refs {
		r := get(t, srv, "/portal/"+m[1])
		if r.Code != 200 || r.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || r.Header().Get("Content-Security-Policy") != CSP {
			t.Errorf("%s: %d %v", m[1], r.Code, r.Header())
		}
		if m[2] != "" {
			s := sha512.Sum384(r.Body.Bytes())
			if "sha384-"+base64.StdEncoding.EncodeToString(s[:]) != html.UnescapeString(m[2]) {
				t.Errorf("%s: integrity differs", m[1])
			}
		}
		seen[strings.Split(m[1], "?")[0]] = m[2] != ""
	}
	for _, f := range []string{"portal.css", "portal.js", "wasm_exec.js", "portal.wasm"} {
		if !seen[f] {
			t.Errorf("index does not name %s with its integrity (%v)", f, seen)
		}
	}
	if _, ok := seen["worker.js"]; !ok {
		t.Error("index does not name the worker")
	}
	sum, err := ModuleHash()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `data-wasm-sha256="`+hex.EncodeToString(sum[:])+`"`) {
		t.Error("index does not publish the module's hash")
	}
	wasmPath := regexp.MustCompile(`data-wasm="([^"]+)"`).FindStringSubmatch(body)[1]
	r := get(t, srv, "/portal/"+wasmPath, "Accept-Encoding", "gzip, br")
	if r.Header().Get("Content-Encoding") != "br" || r.Header().Get("Content-Type") != "application/wasm" {
		t.Fatalf("module: %v", r.Header())
	}
	plain, err := io.ReadAll(brotli.NewReader(r.Body))
	if err != nil || sha256.Sum256(plain) != sum {
		t.Fatalf("module served is not the published one: %v", err)
	}
	if r := get(t, srv, "/portal/"+wasmPath); r.Header().Get("Content-Encoding") != "" || sha256.Sum256(r.Body.Bytes()) != sum {
		t.Error("module without compression is not the published one")
	}
	if !testing.Short() {
		r := get(t, srv, "/portal/"+wasmPath, "Accept-Encoding", "gzip")
		zr, err := gzip.NewReader(r.Body)
		if err != nil || r.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("gzip module: %v %v", err, r.Header())
		}
		if b, _ := io.ReadAll(zr); sha256.Sum256(b) != sum {
			t.Error("gzip module is not the published one")
		}
	}
	if r := get(t, srv, "/portal/portal.js", "If-None-Match", r.Header().Get("ETag")); r.Code != 200 {
		t.Errorf("another file's ETag: %d", r.Code)
	}
	req := httptest.NewRequest("POST", "/portal/", nil)
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, req)
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	if h2, _ := New(Options{API: "https://mirror.example/api/v1"}); !strings.Contains(string(h2.assets["/"].Body), `data-api="https://mirror.example/api/v1"`) {
		t.Error("API option not in the index")
	}
}

// TestTranslations fails on a key the pages use that a language lacks or
// leaves empty: the static texts (data-i18n), the script's literal keys,
// and the keys it composes from the record's vocabulary (phases, entry
// types, authors' roles, decoded fields, decryption targets, the
// verifier's stages).
func TestTranslations(t *testing.T) {
	page, _ := staticFS.ReadFile("static/index.html")
	js, _ := staticFS.ReadFile("static/portal.js")
	need := map[string]bool{}
	for _, m := range regexp.MustCompile(`data-i18n="([a-z_]+)"`).FindAllStringSubmatch(string(page), -1) {
		need[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\bT\("([a-z_]+)"[,)]`).FindAllStringSubmatch(string(js), -1) {
		need[m[1]] = true
	}
	for p := election.PhaseSetup; p <= election.PhaseTallied; p++ {
		need["phase_"+p.String()] = true
	}
	for _, ty := range bulletin.Types() {
		need["type_"+ty.String()] = true
	}
	for _, r := range view.Roles {
		need["role_"+r] = true
	}
	for _, f := range append(slices.Clone(view.FieldNames), "signature") {
		need["f_"+f] = true
	}
	for _, tg := range view.Targets {
		need["target_"+tg] = true
	}
	for _, s := range []string{"download", "signatures", "replay"} {
		need["stage_"+s] = true
	}
	if len(need) < 100 {
		t.Fatalf("only %d keys found: the patterns no longer match the pages", len(need))
	}
	for _, l := range Languages {
		b, err := staticFS.ReadFile("static/i18n/" + l + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]string
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		for k := range need {
			if strings.TrimSpace(d[k]) == "" {
				t.Errorf("%s: no translation for %q", l, k)
			}
		}
		for k, v := range d {
			// Placeholders must be the English text's.
			en := map[string]string{}
			eb, _ := staticFS.ReadFile("static/i18n/en.json")
			json.Unmarshal(eb, &en)
			if ph := regexp.MustCompile(`\{\d\}`); !sameSet(ph.FindAllString(v, -1), ph.FindAllString(en[k], -1)) {
				t.Errorf("%s: %q has placeholders %v, English %v", l, k, ph.FindAllString(v, -1), ph.FindAllString(en[k], -1))
			}
		}
		if l == "uz" && regexp.MustCompile(`[А-Яа-яЁё]`).Match(b) {
			t.Error("uz: Cyrillic letters (Uzbek is in Latin script)")
		}
	}
}

func sameSet(a, b []string) bool {
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// TestModuleCommittedOnce: only the brotli form of the module is in the
// repository; the others are derived when the server starts.
func TestModuleCommittedOnce(t *testing.T) {
	for _, f := range []string{"portal.wasm", "portal.wasm.gz"} {
		if _, err := os.Stat(filepath.Join("static", f)); err == nil {
			t.Errorf("static/%s is committed: commit only portal.wasm.br", f)
		}
	}
}

// TestReproducibleBuild rebuilds the portal's module from source and
// compares it with the committed one, as web's TestReproducibleBuild does
// for the voting page's: the published hash is the source's.
func TestReproducibleBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module (a minute or more)")
	}
	root, _ := filepath.Abs("../..")
	line, _ := os.ReadFile(filepath.Join("static", "portal.wasm.sha256"))
	f := strings.Fields(string(line))
	if len(f) != 3 {
		t.Fatalf("portal.wasm.sha256: %q", line)
	}
	ver, err := wasmbuild.GoVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if ver != f[1] {
		t.Skipf("the module was built with %s, this toolchain is %s", f[1], ver)
	}
	src, err := wasmbuild.SourceDigestOf(root, "./web/portal/wasm")
	if err != nil {
		t.Fatal(err)
	}
	if src != f[2] {
		t.Fatal("sources changed since web/portal/static/portal.wasm.br was built: run go generate ./web/portal and commit it")
	}
	built, err := wasmbuild.BuildPackage(root, "./web/portal/wasm")
	if err != nil {
		t.Fatal(err)
	}
	committed, sum, err := Module()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, committed) {
		t.Fatalf("rebuilt module %x differs from the committed %x although its sources are the same", sha256.Sum256(built), sum)
	}
}

// TestWriteStatic: the static copy has the index and every versioned
// file, the module in its three forms.
func TestWriteStatic(t *testing.T) {
	dir := t.TempDir()
	if err := WriteStatic(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "portal.js", "worker.js", "wasm_exec.js", "portal.css", "i18n/uz.json", "portal.wasm", "portal.wasm.br", "portal.wasm.gz"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "portal.wasm"))
	if sum, _ := ModuleHash(); sha256.Sum256(b) != sum {
		t.Error("static module is not the published one")
	}
}

// TestWasmExecIsTheToolchains: the portal's wasm_exec.js and the voting
// page's are the same file, the toolchain's (go generate writes both from
// it), whether or not the committed modules are fresh: a module runs only
// with the support code of the toolchain that built it.
func TestWasmExecIsTheToolchains(t *testing.T) {
	want, err := wasmbuild.WasmExec(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join("static", "wasm_exec.js"), filepath.Join("..", "static", "wasm_exec.js")} {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not the toolchain's wasm_exec.js: run go generate ./web/portal (and ./web)", p)
		}
	}
}
