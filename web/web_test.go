package web_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"evote/web"
	"evote/web/internal/wasmbuild"
)

func newHandler(t *testing.T, o web.Options) *web.Handler {
	t.Helper()
	h, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func sri(b []byte) string {
	s := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(s[:])
}

// TestIndexIntegrityAndPolicy: the page has no inline script or style,
// every script, stylesheet, translation and the module carry the
// integrity of exactly what the server serves, and every answer carries
// the strict policy.
func TestIndexIntegrityAndPolicy(t *testing.T) {
	h := newHandler(t, web.Options{})
	w := get(t, h, "/")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("index: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	csp := w.Header().Get("Content-Security-Policy")
	if csp != web.CSP || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "'unsafe-eval'") || !strings.Contains(csp, "'wasm-unsafe-eval'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, d := range []string{"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP lacks %q", d)
		}
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Error("missing nosniff or referrer policy")
	}
	page := w.Body.String()
	if regexp.MustCompile(`<script(\s[^>]*)?>[^<]`).MatchString(page) || strings.Contains(page, "<style") || strings.Contains(page, " style=") || regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Fatal("inline script, style or handler in the page")
	}
	// Each external resource: integrity = SHA-384 of the served body.
	refs := regexp.MustCompile(`(?:src|href|data-wasm)="([^"]+)"[^>]*?(?:integrity|data-wasm-integrity)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) != 4 { // style.css, wasm_exec.js, app.js, evote.wasm (fetched by app.js after the shell)
		t.Fatalf("%d resources with integrity: %v", len(refs), refs)
	}
	for _, m := range refs {
		u, integ := html.UnescapeString(m[1]), html.UnescapeString(m[2])
		r := get(t, h, u)
		if r.Code != 200 || sri(r.Body.Bytes()) != integ {
			t.Errorf("%s: status %d, integrity %s, want %s", u, r.Code, integ, sri(r.Body.Bytes()))
		}
		if !strings.Contains(r.Header().Get("Cache-Control"), "immutable") {
			t.Errorf("%s not cacheable", u)
		}
	}
	if !regexp.MustCompile(`<script [^>]*src="/wasm_exec.js`).MatchString(page) {
		t.Fatal("no wasm_exec.js script")
	}
	// Translations: the same check through the JSON map.
	lf := regexp.MustCompile(`data-lang-files='([^']+)'`).FindStringSubmatch(page)
	if lf == nil {
		t.Fatal("no translation map")
	}
	var files map[string]struct{ Path, Integrity string }
	if err := json.Unmarshal([]byte(html.UnescapeString(lf[1])), &files); err != nil || len(files) != 4 {
		t.Fatalf("translation map: %v %v", files, err)
	}
	for l, f := range files {
		r := get(t, h, f.Path)
		if r.Code != 200 || sri(r.Body.Bytes()) != f.Integrity {
			t.Errorf("translation %s: integrity mismatch", l)
		}
	}
	if r := get(t, h, "/nope.js"); r.Code != 404 || r.Header().Get("Content-Security-Policy") == "" {
		t.Errorf("unknown path: %d", r.Code)
	}
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	pw := httptest.NewRecorder()
	h.ServeHTTP(pw, r)
	if pw.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", pw.Code)
	}
}

// TestModuleEncodings: the module is served as brotli or gzip by the
// client's Accept-Encoding, each decoding to the same bytes, whose SHA-256
// is ClientHash; revalidation answers 304.
func TestModuleEncodings(t *testing.T) {
	h := newHandler(t, web.Options{})
	raw := get(t, h, "/evote.wasm")
	if raw.Code != 200 || raw.Header().Get("Content-Type") != "application/wasm" || raw.Header().Get("Content-Encoding") != "" {
		t.Fatalf("raw: %d %v", raw.Code, raw.Header())
	}
	if sha256.Sum256(raw.Body.Bytes()) != web.ClientHash() {
		t.Fatal("ClientHash is not the served module's hash")
	}
	br := get(t, h, "/evote.wasm", "Accept-Encoding", "gzip, deflate, br")
	if br.Header().Get("Content-Encoding") != "br" || br.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("br: %v", br.Header())
	}
	dec, err := io.ReadAll(brotli.NewReader(br.Body))
	if err != nil || !bytes.Equal(dec, raw.Body.Bytes()) {
		t.Fatal("brotli copy differs from the module")
	}
	gz := get(t, h, "/evote.wasm", "Accept-Encoding", "gzip, br;q=0")
	if gz.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v", gz.Header())
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	if dec, err = io.ReadAll(zr); err != nil || !bytes.Equal(dec, raw.Body.Bytes()) {
		t.Fatal("gzip copy differs from the module")
	}
	brLen, _ := strconv.Atoi(br.Header().Get("Content-Length"))
	gzLen, _ := strconv.Atoi(gz.Header().Get("Content-Length"))
	t.Logf("module: %d bytes, brotli %d, gzip %d", raw.Body.Len(), brLen, gzLen)
	if brLen == 0 || brLen > 1000*1000 {
		t.Errorf("compressed module is %d bytes, budget 1 MB", brLen)
	}
	if r := get(t, h, "/evote.wasm", "If-None-Match", raw.Header().Get("ETag")); r.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d", r.Code)
	}
	if r := get(t, h, "/evote.wasm?v=stale"); r.Header().Get("Cache-Control") != "no-cache" {
		t.Error("a stale version is cached as immutable")
	}
}

// TestTranslationsComplete: the four languages have the same keys, none
// empty, and every key the page uses exists.
func TestTranslationsComplete(t *testing.T) {
	keys := map[string][]string{}
	var all map[string]string
	for _, l := range []string{"ky", "ru", "uz", "en"} {
		b, err := os.ReadFile(filepath.Join("static", "i18n", l+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		for k, v := range m {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: %s is empty", l, k)
			}
			keys[l] = append(keys[l], k)
		}
		sort.Strings(keys[l])
		if l == "en" {
			all = m
		}
	}
	for _, l := range []string{"ky", "ru", "uz"} {
		if fmt.Sprint(keys[l]) != fmt.Sprint(keys["en"]) {
			t.Errorf("%s has other keys than en", l)
		}
	}
	page, _ := os.ReadFile(filepath.Join("static", "index.html"))
	app, _ := os.ReadFile(filepath.Join("static", "app.js"))
	var used []string
	for _, m := range regexp.MustCompile(`data-i18n="([a-z_]+)"`).FindAllStringSubmatch(string(page), -1) {
		used = append(used, m[1])
	}
	for _, m := range regexp.MustCompile(`\b(?:t|status|shareStatus)\("([a-z_]+)"\)`).FindAllStringSubmatch(string(app), -1) {
		used = append(used, m[1])
	}
	for _, m := range regexp.MustCompile(`\bperr\("([a-z_]+)"[,)]|\bcheck\([^;]*, "([a-z_]+)"\)`).FindAllStringSubmatch(string(app), -1) {
		used = append(used, "err_"+m[1]+m[2])
	}
	for _, m := range regexp.MustCompile(`\bplural\("([a-z_]+)"`).FindAllStringSubmatch(string(app), -1) {
		used = append(used, m[1])
	}
	// Texts kept to be redrawn in another language: [key, {placeholders}].
	for _, m := range regexp.MustCompile(`\b(?:receiptText|checkText) = \["([a-z_]+)"`).FindAllStringSubmatch(string(app), -1) {
		used = append(used, m[1])
	}
	if len(used) < 40 {
		t.Fatalf("only %d keys found in use", len(used))
	}
	for _, k := range used {
		if _, ok := all[k]; !ok {
			t.Errorf("key %s is used but not translated", k)
		}
	}
	// Review, audit and check have distinct verbs (issue 13: the audit
	// was "check this ballot" in ky, ru and uz, so voters would spoil
	// ballots by accident): the check's verb is in neither of the others.
	for _, l := range []string{"ky", "ru", "uz", "en"} {
		b, _ := os.ReadFile(filepath.Join("static", "i18n", l+".json"))
		var m map[string]string
		json.Unmarshal(b, &m)
		verb := strings.ToLower(m["check"])
		for _, k := range []string{"review", "audit"} {
			if verb == "" || strings.Contains(strings.ToLower(m[k]), verb) {
				t.Errorf("%s: %s %q uses the check's verb %q", l, k, m[k], m["check"])
			}
		}
		if strings.EqualFold(m["review"], m["audit"]) {
			t.Errorf("%s: review and audit read the same", l)
		}
	}
	// Plural strings ("_count") have one form per CLDR cardinal category
	// of their language (what Intl.PluralRules selects), "#" for the number.
	categories := map[string]string{"en": "one other", "ky": "one other", "uz": "one other", "ru": "few many one other"}
	for _, l := range []string{"ky", "ru", "uz", "en"} {
		b, _ := os.ReadFile(filepath.Join("static", "i18n", l+".json"))
		var m map[string]string
		json.Unmarshal(b, &m)
		for k, v := range m {
			if !strings.HasSuffix(k, "_count") {
				continue
			}
			var cats []string
			for _, form := range strings.Split(v, "|") {
				c, text, ok := strings.Cut(form, ":")
				if !ok || !strings.Contains(text, "#") {
					t.Errorf("%s: %s: form %q is not category:text with #", l, k, form)
				}
				cats = append(cats, c)
			}
			sort.Strings(cats)
			if strings.Join(cats, " ") != categories[l] {
				t.Errorf("%s: %s has plural forms %v, want %s", l, k, cats, categories[l])
			}
		}
	}
	// Uzbek in the official Latin alphabet (1995, amended): oʻ and gʻ
	// with U+02BB, the tutuq belgisi U+02BC; no Cyrillic, no look-alike
	// quotes or ASCII apostrophes.
	uz, _ := os.ReadFile(filepath.Join("static", "i18n", "uz.json"))
	if regexp.MustCompile(`\p{Cyrillic}`).Match(uz) {
		t.Error("Uzbek translation has Cyrillic letters")
	}
	if m := regexp.MustCompile(`[A-Za-z][‘’'\x60][A-Za-z]`).Find(uz); m != nil {
		t.Errorf("Uzbek translation writes %q: want oʻ, gʻ (U+02BB) or ʼ (U+02BC)", m)
	}
	// Kyrgyz has its own letters: a translation copied from Russian would
	// lack them.
	ky, _ := os.ReadFile(filepath.Join("static", "i18n", "ky.json"))
	if !bytes.ContainsAny(ky, "ңөү") {
		t.Error("Kyrgyz translation has none of ң, ө, ү")
	}
}

// TestErrorCodesTranslated: every error code the APIs the page calls can
// answer (the ballot box's Code table, the API's own, the identity
// service's) has a message in every language, so the page never shows a
// raw code (an unknown one gets err_unknown, with the code in small print).
func TestErrorCodesTranslated(t *testing.T) {
	sources := map[string]*regexp.Regexp{
		"../ballotbox/errors.go":    regexp.MustCompile(`\{[A-Za-z.]+, "([a-z_]+)"\}|return "([a-z_]+)"\n`),
		"../api/*.go":               regexp.MustCompile(`[Ff]ail\(c, [A-Za-z.]+, "([a-z_]+)"`),
		"../idp/idpapi/api.go":      regexp.MustCompile(`m\{\d+, "([a-z_]+)"`),
		"../idp/idpapi/*.go":        regexp.MustCompile(`[Ff]ail\(c, [A-Za-z.]+, "([a-z_]+)"`),
		"../internal/httpedge/*.go": regexp.MustCompile(`Code[A-Za-z0-9]+ += "([a-z0-9_]+)"`),
	}
	codes := map[string]bool{}
	for glob, re := range sources {
		files, _ := filepath.Glob(glob)
		if len(files) == 0 {
			t.Fatalf("no %s", glob)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				codes[strings.Join(m[1:], "")] = true
			}
		}
	}
	if len(codes) < 50 {
		t.Fatalf("only %d error codes found: %v", len(codes), codes)
	}
	for _, l := range []string{"ky", "ru", "uz", "en"} {
		b, _ := os.ReadFile(filepath.Join("static", "i18n", l+".json"))
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for c := range codes {
			if m["err_"+c] == "" {
				t.Errorf("%s: error code %s has no message (err_%s)", l, c, c)
			}
		}
		if m["err_unknown"] == "" {
			t.Errorf("%s: no generic message", l)
		}
	}
}

// TestPageScriptRules: the page's script keeps the token out of storage
// and never evaluates strings or writes HTML.
func TestPageScriptRules(t *testing.T) {
	app, err := os.ReadFile(filepath.Join("static", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"localStorage", "sessionStorage", "document.cookie", "indexedDB", "eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "http://", "https://"} {
		if bytes.Contains(app, []byte(bad)) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	if !bytes.Contains(app, []byte(`credentials: "omit"`)) {
		t.Error("requests send credentials")
	}
}

func TestQRCode(t *testing.T) {
	h := newHandler(t, web.Options{})
	w := get(t, h, "/qr.svg?d="+url.QueryEscape("http://127.0.0.1/#check?c=ABCD"))
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	body := w.Body.String()
	if !strings.HasPrefix(body, "<svg") || strings.Contains(body, "<script") || strings.Count(body, "h1v1h-1z") < 100 {
		t.Fatalf("not a QR image: %.200s", body)
	}
	if w := get(t, h, "/qr.svg?d="+strings.Repeat("a", 513)); w.Code != 400 {
		t.Errorf("oversized: %d", w.Code)
	}
	if w := get(t, h, "/qr.svg"); w.Code != 400 {
		t.Errorf("empty: %d", w.Code)
	}
	svg := string(web.QRSVG([][]bool{{true, false}, {false, true}}))
	if strings.Count(svg, "h1v1h-1z") != 2 || !strings.Contains(svg, `viewBox="0 0 2 2"`) {
		t.Fatalf("QRSVG: %s", svg)
	}
}

func TestIdentityRoute(t *testing.T) {
	var got string
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Method + " " + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer idp.Close()
	u, _ := url.Parse(idp.URL)
	h := newHandler(t, web.Options{Identity: u})
	r := httptest.NewRequest(http.MethodPost, "/idp/v1/auth/start", strings.NewReader(`{}`))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || got != "POST /v1/auth/start" {
		t.Fatalf("%d %q", w.Code, got)
	}
	got = ""
	for _, p := range []string{"/idp/v1/officials/marks", "/idp/v1/auth/../officials/marks", "/idp/healthz"} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		r.URL.Path = p
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 404 || got != "" {
			t.Errorf("%s forwarded: %d %q", p, w.Code, got)
		}
	}
	if w := get(t, newHandler(t, web.Options{}), "/idp/v1/auth/start"); w.Code != 404 {
		t.Errorf("without an identity service: %d", w.Code)
	}
}

// TestReproducibleBuild rebuilds the module from source with the fixed
// flags and compares it with the committed module, web/static/evote.wasm.br
// (the only form committed): the rebuilt module's SHA-256 is the one
// evote.wasm.sha256 names, the committed brotli bytes decompress to the
// rebuilt module, and compressing the rebuilt module gives the committed
// bytes exactly (the brotli step is deterministic too). So the served
// module is the source's, and anyone can recompute the hash the manifest
// publishes.
func TestReproducibleBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the module (about a minute)")
	}
	root, _ := filepath.Abs("..")
	line, err := os.ReadFile(filepath.Join("static", "evote.wasm.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(line))
	if len(fields) != 3 {
		t.Fatalf("evote.wasm.sha256: %q", line)
	}
	wantHash, wantGo, wantSrc := fields[0], fields[1], fields[2]
	ver, err := wasmbuild.GoVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if ver != wantGo {
		t.Skipf("the module was built with %s, this toolchain is %s", wantGo, ver)
	}
	for _, stale := range []string{"evote.wasm", "evote.wasm.gz"} {
		if _, err := os.Stat(filepath.Join("static", stale)); err == nil {
			t.Errorf("static/%s exists: only evote.wasm.br is kept (go generate ./web removes the others)", stale)
		}
	}
	committed, _, _, err := wasmbuild.ReadModule(os.DirFS("static"), "evote.wasm")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%x", sha256.Sum256(committed)) != wantHash {
		t.Fatal("evote.wasm.sha256 is not the committed module's hash")
	}
	built, err := wasmbuild.Build(root)
	if err != nil {
		t.Fatal(err)
	}
	src, err := wasmbuild.SourceDigest(root)
	if err != nil {
		t.Fatal(err)
	}
	if src != wantSrc {
		// Another package the module links changed since it was built: the
		// committed module is stale (go generate ./web refreshes it). The
		// build must still be deterministic.
		again, err := wasmbuild.Build(root)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(built, again) {
			t.Fatal("two builds of the same source differ")
		}
		// The served module must be the build of the committed sources, or
		// the hash published in manifests vouches for code nobody can
		// rebuild: a change to a package the module links must come with
		// the rebuilt module, in the same commit.
		t.Fatal("sources changed since web/static/evote.wasm was built: run go generate ./web and commit the module")
	}
	if !bytes.Equal(built, committed) {
		t.Fatalf("rebuilt module %x differs from the committed %s although its sources are the same", sha256.Sum256(built), wantHash)
	}
	br, _ := os.ReadFile(filepath.Join("static", "evote.wasm.br"))
	if !bytes.Equal(wasmbuild.Brotli(built), br) {
		t.Fatal("compressing the rebuilt module does not give the committed evote.wasm.br")
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	execJS, _ := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	ours, _ := os.ReadFile(filepath.Join("static", "wasm_exec.js"))
	if !bytes.Equal(execJS, ours) {
		t.Fatal("static/wasm_exec.js is not the toolchain's")
	}
}

// TestModuleCommittedOnce: the repository marks committed modules binary
// (.gitattributes) and ignores raw and gzip copies, which the server
// derives from the brotli form.
func TestModuleCommittedOnce(t *testing.T) {
	attrs, err := os.ReadFile(filepath.Join("..", ".gitattributes"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\*\.wasm\.br\s+binary\b`).Match(attrs) {
		t.Fatal(".gitattributes does not mark *.wasm.br binary")
	}
	ign, err := os.ReadFile(filepath.Join("..", ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/web/static/*.wasm", "/web/static/*.wasm.gz"} {
		if !bytes.Contains(ign, []byte(p+"\n")) {
			t.Errorf(".gitignore lacks %s", p)
		}
	}
}

// TestAxeNotServed: the accessibility checker vendored for the browser
// tests (testdata/axe) is not part of what the page serves.
func TestAxeNotServed(t *testing.T) {
	h := newHandler(t, web.Options{})
	for _, p := range []string{"/axe.min.js", "/testdata/axe/axe.min.js", "/axe/axe.min.js"} {
		if r := get(t, h, p); r.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.Code)
		}
	}
	for _, p := range []string{"/", "/app.js"} {
		if r := get(t, h, p); strings.Contains(r.Body.String(), "axe") {
			t.Errorf("%s mentions axe", p)
		}
	}
}
