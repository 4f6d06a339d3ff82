package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"evote/api"
	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/crypto/group"
	"evote/election"
	"evote/idp"
	"evote/idp/idpapi"
	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/record"
	"evote/store/sqlite"
	"evote/web"
	"evote/web/internal/browsertest"
)

// chromium returns the browser's path (browsertest.Chromium).
func chromium(t *testing.T) string { return browsertest.Chromium(t) }

// artefacts is the directory for screenshots and measurements
// (testartifacts/web at the module root, gitignored).
func artefacts(t *testing.T) string { return browsertest.Artefacts(t, "web") }

// env is the whole system on loopback: the ballot box (api over ballotbox,
// two in-process witnesses) with the page mounted, and the identity
// service over a simulated population register, reached through the
// page's origin.
type env struct {
	f       *boxtest.Fixture
	sms     *otp.Recorder
	people  []*registry.SimPerson
	url     string
	mu      sync.Mutex
	bodies  []recorded // every request the server received
	servers []*http.Server
}

type recorded struct {
	method, path string
	body         []byte
}

type identityBoard struct{ f *boxtest.Fixture }

func (b identityBoard) Post(ctx context.Context, t uint16, payload []byte) (uint64, error) {
	p, err := b.f.PostIdentity(ctx, bulletin.Type(t), payload)
	if err != nil {
		return 0, err
	}
	return p.Index, nil
}

func serve(t *testing.T, e *env, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	e.servers = append(e.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Witnesses: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{f: f, sms: &otp.Recorder{}}
	t.Cleanup(func() {
		for _, s := range e.servers {
			s.Close()
		}
		f.Registry.Close()
		st.Close()
	})
	// The election the page votes in: the fixture's parties, and a
	// manifest that publishes the hash of the page's module.
	var ts []ballot.Trustee
	for i, k := range f.Trustees {
		hp := f.HPKE[i].Public()
		ts = append(ts, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: [32]byte(k.Public().(ed25519.PublicKey)), HPKEKey: hp[:]})
	}
	m := ballot.SampleManifest("web-e2e", ts, 2, [32]byte(f.Identity.Public().(ed25519.PublicKey)), f.Server.Anchors("evote.test/board/web-e2e"))
	m.ClientHash = web.ClientHash()
	if f.Box, err = f.Registry.Create(ctx, m.Encode()); err != nil {
		t.Fatal(err)
	}
	f.ElectionID = m.ElectionID
	if err := f.Keygen(ctx); err != nil {
		t.Fatal(err)
	}
	ext := f.Box.View().Context.ExtendedHash
	var styles []string
	f.Box.WithState(func(s *election.State) {
		for _, st := range s.Manifest.BallotStyles {
			styles = append(styles, st.ID)
		}
	})
	day := time.Now().UTC().Truncate(24 * time.Hour)
	sim, err := registry.NewSimulated(registry.SimulatedConfig{Seed: "evote-web-e2e", Constituencies: styles[:1], PerConstituency: 20, ElectionDay: day})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(dir, "idp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ids.Close() })
	iss, err := token.NewIssuer(token.IssuerConfig{Issuer: boxtest.IssuerID, Audience: boxtest.Audience, TTL: 30 * time.Minute}, f.TokenKey)
	if err != nil {
		t.Fatal(err)
	}
	f.Issuer = iss
	list := newKey()
	auth := &voterlist.Authority{ElectionID: f.ElectionID, ContextHash: ext,
		Stations: map[string]ed25519.PublicKey{"station-1": f.Station.Public().(ed25519.PublicKey)},
		Polling:  map[string]ed25519.PublicKey{"poll-1": f.Official.Public().(ed25519.PublicKey)},
		List:     map[string]ed25519.PublicKey{"list-1": list.Public().(ed25519.PublicKey)}}
	pkey := make([]byte, voterlist.PseudonymKeySize)
	rand.Read(pkey)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := idp.New(ctx, idp.Config{ElectionID: f.ElectionID, ContextHash: ext, ElectionDay: day, PseudonymKey: pkey,
		Registry: sim, Sender: e.sms, Store: ids, Board: identityBoard{f}, Issuer: iss, Authority: auth, Logger: quiet,
		Abuse: idp.AbuseConfig{ClientRate: 1e6, ClientBurst: 1e6, ClientMaxFailures: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	ih, err := idpapi.New(svc, iss, idpapi.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	idpURL := serve(t, e, ih)
	// The voter list: every eligible person of the register.
	var regs []registry.Citizen
	for _, p := range sim.People() {
		if p.Reason == nil {
			regs = append(regs, p.Citizen)
			e.people = append(e.people, p)
		}
	}
	items := voterlist.FromRegister(regs, day)
	if err := submitList(ctx, idpURL, f, ext, list, items); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionOpen, "official-1"); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(idpURL)
	wh, err := web.New(web.Options{Identity: u})
	if err != nil {
		t.Fatal(err)
	}
	srv := &api.Server{Registry: f.Registry, Web: wh}
	h := srv.Handler()
	e.url = serve(t, e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(b))
		e.mu.Lock()
		e.bodies = append(e.bodies, recorded{r.Method, r.URL.Path, b})
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	return e
}

func newKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

// submitList posts a list official's signed voter-list change with its
// items to the identity service, as an official's tool does.
func submitList(ctx context.Context, idpURL string, f *boxtest.Fixture, ext [32]byte, k ed25519.PrivateKey, items []voterlist.Item) error {
	var seq struct {
		Sequence uint64 `json:"sequence"`
	}
	if err := getJSON(idpURL+"/v1/officials/list-changes/next", &seq); err != nil {
		return err
	}
	var salt [32]byte
	rand.Read(salt[:])
	st := record.VoterListChange{ElectionID: f.ElectionID, ContextHash: ext, Sequence: seq.Sequence, Kind: record.ListBuilt,
		OfficialID: "list-1", DetailsDigest: voterlist.DetailsDigest(salt, items), ChangedAt: uint64(time.Now().Unix())}
	copy(st.OfficialKey[:], k.Public().(ed25519.PublicKey))
	st.Sign(k)
	type item struct {
		Op          string `json:"op"`
		PIN         string `json:"pin"`
		BallotStyle string `json:"ballot_style,omitempty"`
	}
	var wire []item
	for _, it := range items {
		wire = append(wire, item{Op: "add", PIN: it.PIN.Digits(), BallotStyle: it.BallotStyle})
	}
	b64 := base64.RawURLEncoding
	// The statement first: the identity service checks it before reading
	// the items (spec §8.10).
	body, _ := json.Marshal(struct {
		Statement string `json:"statement"`
		Salt      string `json:"salt"`
		Items     []item `json:"items"`
	}{b64.EncodeToString(st.Encode()), b64.EncodeToString(salt[:]), wire})
	resp, err := http.Post(idpURL+"/v1/officials/list-changes", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("list change: %d %s", resp.StatusCode, msg)
	}
	return nil
}

func getJSON(u string, out any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// browser is a fresh headless Chromium (new profile) at a phone viewport
// that records every request it makes and every console error
// (browsertest).
type browser struct {
	*browsertest.Browser
	ctx    context.Context   // the tab's
	mu     sync.Mutex        // guards titles
	axe    bool              // run axe-core on every screen checked (checkAccessible)
	titles map[string]string // document.title seen on each view
}

func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	b := browsertest.New(t, path, browsertest.Phone, 4*time.Minute)
	return &browser{Browser: b, ctx: b.Context()}
}

func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		var msg string
		chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			var err error
			msg, err = chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.dataset.view + " " + document.getElementById("error").textContent + " " + document.getElementById("status").textContent`))
			return err
		}))
		t.Fatalf("%s: %v (page: %s; problems: %v)", what, err, msg, b.Problems())
	}
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artefacts(t), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until a JavaScript condition holds.
var waitFor = browsertest.WaitFor

func visible(id string) chromedp.Action[chromedp.Void] {
	return waitFor(`!document.getElementById("` + id + `").hidden`)
}

var codeRe = regexp.MustCompile(`\b(\d{6})\b`)

// voteRun is one voter's session in the browser; timings are filled when
// measured.
type voteRun struct {
	person             *registry.SimPerson
	lang               string
	candidate          int // index in the single-choice contest
	screenshots        bool
	castCode           string
	pseudonym          string
	auditedCode        string
	loadToSignIn       time.Duration // page opened to sign-in form usable (language tapped at once)
	signInBeforeModule bool          // the sign-in form was usable before the module was ready
	loadToReady        time.Duration // page opened to module running and election checked
	moduleDownload     time.Duration // the module's fetch, start to last byte
	waitedForModule    bool          // the voter reached the ballot before the module was ready
	signInToBallot     time.Duration
	reviewToEncrypted  time.Duration
	encryptInPage      float64
	bytes              string // bytes over the wire by kind, page opened to ballot shown
}

// transferJS sums the bytes the page received (transferSize: headers and
// encoded body) by kind of resource: the shell (page, scripts, style,
// translations), the module, the ballot box's API, the identity service.
const transferJS = `(() => {
	const out = {shell: 0, module: 0, api: 0, idp: 0};
	for (const e of performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))) {
		const u = new URL(e.name);
		const k = u.pathname.startsWith("/api/") ? "api" : u.pathname.startsWith("/idp/") ? "idp" : u.pathname.endsWith(".wasm") ? "module" : "shell";
		out[k] += e.transferSize || 0;
	}
	return Object.entries(out).map(([k, v]) => k + " " + (v / 1024).toFixed(1) + " KiB").join(", ");
})()`

func (e *env) run(t *testing.T, b *browser, r *voteRun) {
	// Each step in the four languages (header buttons), each checked for
	// width, control size and labels, then back to the voter's language.
	shot := func(name string) {
		if !r.screenshots {
			return
		}
		if eval[string](t, b, `document.body.dataset.view`) == "lang" {
			checkAccessible(t, b)
			b.shot(t, name)
			b.at200(t, func() {
				checkReflow(t, b, name)
				b.shot(t, name+"-200")
			})
			return
		}
		lang := func(l string) {
			b.do(t, "switch to "+l, chromedp.Click(chromedp.CSS(`#langs button[data-lang="`+l+`"]`)),
				waitFor(`document.documentElement.lang === "`+l+`"`))
		}
		for _, l := range []string{"ky", "ru", "uz", "en"} {
			lang(l)
			checkAccessible(t, b)
			if eval[string](t, b, `document.body.dataset.ready || ""`) == "yes" {
				e.checkAuthorityShown(t, b)
			}
			// The check links on screen (audit, receipt) follow the
			// language, with their QR codes.
			if bad := eval[string](t, b, `[...document.querySelectorAll("#audit-link, #receipt-link")].filter((a) => a.offsetParent !== null)
				.map((a) => a.href.endsWith("&l=`+l+`") && decodeURIComponent(a.closest("section").querySelector("img[id$=qr]").src).endsWith(a.href) ? "" : a.id + " " + a.href).join(" ")`); strings.TrimSpace(bad) != "" {
				t.Errorf("%s in %s: link not in the page's language or not its QR code's: %s", name, l, bad)
			}
			b.shot(t, name+"-"+l)
			// 200% text (WCAG 1.4.4) at 360 px: nothing scrolls sideways.
			b.at200(t, func() {
				checkReflow(t, b, name+"-"+l)
				b.shot(t, name+"-"+l+"-200")
			})
		}
		lang(r.lang)
	}
	p := r.person
	start := time.Now()
	b.do(t, "open the page", chromedp.Navigate(e.url+"/"), visible("v-lang"))
	shot("01-language")
	b.do(t, "choose the language", chromedp.Click(chromedp.CSS(`#lang-big button[data-lang="`+r.lang+`"]`)),
		visible("v-signin"), waitFor(`!document.getElementById("pin").disabled && !document.getElementById("f-start").hidden`))
	r.loadToSignIn = time.Since(start)
	r.signInBeforeModule = eval[string](t, b, `document.body.dataset.ready || ""`) != "yes"
	if got := eval[string](t, b, `document.documentElement.lang`); got != r.lang {
		t.Fatalf("page language %q, want %q", got, r.lang)
	}
	b.do(t, "first factor",
		chromedp.SendKeys(chromedp.CSS("#pin"), p.PIN.Digits()),
		chromedp.SendKeys(chromedp.CSS("#doc"), p.DocumentNumber),
		chromedp.SetValue(chromedp.CSS("#birth"), p.BirthDate.Format(time.DateOnly)))
	shot("02-sign-in")
	checkAccessible(t, b)
	if !eval[bool](t, b, `document.getElementById("birth").autocomplete === "bday"`) {
		t.Fatal(`the date of birth lacks autocomplete="bday"`)
	}
	if r.screenshots {
		checkFocusRing(t, b, 12)
	}
	starts := e.count("POST", "/idp/v1/auth/start")
	// A double tap sends one code: the button is disabled while its
	// request is pending.
	b.do(t, "send the code (double tap)", chromedp.Evaluate[chromedp.Void](`(() => { const b = document.querySelector('#f-start button[type="submit"]'); b.click(); b.click(); })()`), visible("f-code"))
	// "A code was sent to …" is announced: a polite live region, filled
	// after it is on screen.
	if !eval[bool](t, b, `(() => { const e = document.getElementById("code-sent"); return e.getAttribute("aria-live") === "polite" && e.getAttribute("role") === "status" && e.textContent.trim() !== ""; })()`) {
		t.Fatal("the code-sent line is not a live region with its text")
	}
	if n := e.count("POST", "/idp/v1/auth/start") - starts; n != 1 {
		t.Fatalf("a double tap on Send the code sent %d requests, want 1", n)
	}
	code := codeRe.FindString(e.sms.Last(p.Phone).Text)
	if code == "" {
		t.Fatal("no code texted")
	}
	if r.screenshots {
		// The resend button waits, its wait shown; a wrong code says how
		// many attempts are left, at the code's field.
		if !eval[bool](t, b, `document.getElementById("b-resend").disabled && /[0-9]/.test(document.getElementById("b-resend").textContent)`) {
			t.Fatal("the resend button is not disabled with its wait shown")
		}
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		b.Allow("status of 401 (Unauthorized) " + e.url + "/idp/v1/auth/verify")
		b.do(t, "a wrong code", chromedp.SendKeys(chromedp.CSS("#code"), wrong), chromedp.Click(chromedp.CSS(`#f-code button[type="submit"]`)),
			waitFor(`document.body.dataset.error === "wrong_code" && document.getElementById("code").getAttribute("aria-invalid") === "true"`))
		if msg := b.text(t, "#code-error"); !regexp.MustCompile(`[0-9]`).MatchString(msg) {
			t.Fatalf("wrong code error %q does not say the attempts left", msg)
		}
		// Focus moved to the field in error, which the message describes.
		if !eval[bool](t, b, `document.activeElement.id === "code" && document.getElementById("code").getAttribute("aria-describedby").split(" ").includes("code-error")`) {
			t.Fatal("after a wrong code the focus is not on the code's field described by its error")
		}
		shot("02b-wrong-code")
		b.do(t, "clear the code", chromedp.Evaluate[chromedp.Void](`document.getElementById("code").value = ""`))
	}
	b.do(t, "type the code", chromedp.SendKeys(chromedp.CSS("#code"), code))
	t0 := time.Now()
	b.do(t, "second factor", chromedp.Click(chromedp.CSS(`#f-code button[type="submit"]`)), visible("v-ballot"))
	r.signInToBallot = time.Since(t0)
	// The step succeeded: no error of it stays on screen.
	if !eval[bool](t, b, `!document.querySelector(".field-error") && document.getElementById("error").hidden && !document.querySelector("[aria-invalid]")`) {
		t.Fatal("an error of the sign-in stays on the ballot")
	}
	// The voter signed in while the module downloaded; the ballot needed
	// it, so the page waited for it (showing its progress if it was late).
	ms := func(js string) time.Duration {
		return time.Duration(eval[float64](t, b, js) * float64(time.Millisecond))
	}
	r.loadToReady = ms(`window.__readyAt || -1`)
	r.moduleDownload = ms(`(() => { const e = performance.getEntriesByType("resource").find((x) => x.name.includes("/evote.wasm")); return e ? e.responseEnd - e.startTime : -1; })()`)
	r.waitedForModule = eval[string](t, b, `document.body.dataset.waited || ""`) == "yes"
	r.bytes = eval[string](t, b, transferJS)
	if got := eval[string](t, b, `document.body.dataset.clientHash || ""`); got != "match" {
		t.Fatalf("client hash state %q: the module the page ran is not the one the manifest names", got)
	}
	shot("03-ballot")
	checkAccessible(t, b)
	if !eval[bool](t, b, `localStorage.length === 0 && sessionStorage.length === 0 && document.cookie === ""`) {
		t.Fatal("the page keeps something in web storage or cookies")
	}
	if r.screenshots {
		// Every option of the multi-select contest: too many; the error is
		// under that contest, in view, translated, and marks it invalid.
		b.do(t, "over-select", chromedp.Click(chromedp.CSS("#c1-0")), chromedp.Click(chromedp.CSS("#c1-1")),
			chromedp.Click(chromedp.CSS("#c1-2")), chromedp.Click(chromedp.CSS("#c1-3")),
			chromedp.Click(chromedp.CSS(`#f-ballot button[type="submit"]`)), waitFor(`document.body.dataset.error === "too_many"`))
		inView := eval[bool](t, b, `(() => { const e = document.getElementById("contest-1-error"); if (!e) return false; const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight && document.getElementById("contest-1").getAttribute("aria-describedby").split(" ").includes(e.id) && document.getElementById("c1-0").getAttribute("aria-invalid") === "true"; })()`)
		if !inView {
			t.Fatal("the over-selection error is not under its contest, in view, with aria-invalid and aria-describedby")
		}
		if msg := b.text(t, "#contest-1-error"); strings.Contains(msg, "too_many") || !strings.Contains(msg, "4") && !strings.Contains(msg, "3") && !strings.Contains(msg, "2") {
			t.Fatalf("over-selection error %q: raw code or no maximum", msg)
		}
		// The error names its contest, the focus is on the contest's first
		// choice, and the contest's rule stays part of its description.
		if !eval[bool](t, b, `(() => { const fs = document.getElementById("contest-1"); const d = fs.getAttribute("aria-describedby").split(" ");
			return document.getElementById("contest-1-error").textContent.includes(fs.querySelector("legend").textContent) &&
				document.activeElement.id === "c1-0" && d.includes("contest-1-rule") && d.includes("contest-1-error"); })()`) {
			t.Fatal("the over-selection error does not name its contest, or the focus or the description is wrong")
		}
		shot("03b-too-many")
		b.do(t, "undo the over-selection", chromedp.Click(chromedp.CSS("#c1-0")), chromedp.Click(chromedp.CSS("#c1-2")),
			chromedp.Click(chromedp.CSS("#c1-3")), chromedp.Click(chromedp.CSS("#c1-1")), waitFor(`!document.getElementById("contest-1-error")`))
		if got := eval[string](t, b, `document.getElementById("contest-1").getAttribute("aria-describedby")`); got != "contest-1-rule" {
			t.Fatalf("after the error went the contest is described by %q, want its rule", got)
		}
	}
	b.do(t, "choose", chromedp.Click(chromedp.CSS(fmt.Sprintf("#c0-%d", r.candidate))), chromedp.Click(chromedp.CSS("#c1-1")))
	if r.screenshots {
		// The language switched mid-flow keeps the choices and goes into
		// the address; Back from the review returns to the ballot with the
		// choices kept.
		chosen := fmt.Sprintf(`document.getElementById("c0-%d").checked && document.getElementById("c1-1").checked`, r.candidate)
		b.do(t, "switch language mid-flow", chromedp.Click(chromedp.CSS(`#langs button[data-lang="uz"]`)),
			waitFor(`document.documentElement.lang === "uz" && location.hash.includes("l=uz") && `+chosen))
		shot("03c-ballot-switched")
		b.do(t, "review, then Back", chromedp.Click(chromedp.CSS(`#f-ballot button[type="submit"]`)), waitFor(`document.body.dataset.prepared === "yes"`),
			chromedp.Evaluate[chromedp.Void](`history.back()`), waitFor(`document.body.dataset.view === "ballot" && `+chosen))
		b.do(t, "language back", chromedp.Click(chromedp.CSS(`#langs button[data-lang="`+r.lang+`"]`)),
			waitFor(`document.documentElement.lang === "`+r.lang+`" && `+chosen))
	}
	t0 = time.Now()
	b.do(t, "review and encrypt", chromedp.Click(chromedp.CSS(`#f-ballot button[type="submit"]`)), waitFor(`document.body.dataset.prepared === "yes"`))
	r.reviewToEncrypted = time.Since(t0)
	r.encryptInPage = eval[float64](t, b, `window.__encryptMs || 0`)
	shot("04-review")
	r.auditedCode = b.text(t, "#review-code")
	b.do(t, "audit", chromedp.Click(chromedp.CSS("#b-audit")), visible("v-audit"), waitFor(`document.body.dataset.audit === "pending"`),
		waitFor(`document.getElementById("audit-qr").complete && document.getElementById("audit-qr").naturalWidth > 0`))
	shot("05-audit")
	opened := b.text(t, "#audit-list")
	cands := e.candidates(t, p.Constituency, r.lang)
	if !strings.Contains(opened, cands[r.candidate]) {
		t.Fatalf("audit opens to %q, not to the chosen %q", opened, cands[r.candidate])
	}
	b.do(t, "fresh ballot", chromedp.Click(chromedp.CSS("#b-fresh")), waitFor(`document.body.dataset.prepared === "yes"`))
	r.castCode = b.text(t, "#review-code")
	if r.castCode == r.auditedCode {
		t.Fatal("the fresh ballot has the audited ballot's tracking code")
	}
	b.do(t, "cast", chromedp.Click(chromedp.CSS("#b-cast")), visible("v-receipt"),
		waitFor(`document.getElementById("receipt-qr").complete && document.getElementById("receipt-qr").naturalWidth > 0`))
	shot("06-receipt")
	checkAccessible(t, b)
	r.pseudonym = b.text(t, "#receipt-pseudonym")
	if got := b.text(t, "#receipt-code"); got != r.castCode {
		t.Fatalf("receipt shows %q, cast %q", got, r.castCode)
	}
	if b.text(t, "#receipt-check") == "" {
		t.Fatal("receipt not checked")
	}
	if !eval[bool](t, b, `document.getElementById("receipt-file").href.startsWith("blob:") && document.getElementById("receipt-file").download.endsWith(".json")`) {
		t.Fatal("no receipt file to save")
	}
	// The receipt's link is shown in full (to copy or share), the one its
	// QR code holds.
	if link := eval[string](t, b, `document.getElementById("receipt-link").href`); !strings.Contains(link, "&p="+r.pseudonym) || !strings.Contains(link, "&c="+r.castCode) ||
		!strings.Contains(eval[string](t, b, `decodeURIComponent(document.getElementById("receipt-qr").src)`), link) {
		t.Fatalf("receipt link %q: not the check of this ballot, or not the QR code's", link)
	}
	e.checkShare(t, b, r, shot)
	b.do(t, "check my ballot", chromedp.Click(chromedp.CSS("#b-check")), visible("v-check"),
		waitFor(`document.body.dataset.checked === "found"`))
	shot("07-check")
	if r.screenshots {
		// A mistyped tracking code: a translated error at the field, no
		// exception.
		b.do(t, "mistyped tracking code", chromedp.SetValue(chromedp.CSS("#check-code"), "ABCD-EFGH-1"),
			chromedp.Click(chromedp.CSS(`#f-check button[type="submit"]`)), waitFor(`document.body.dataset.error === "tracking_code_format"`))
		if !eval[bool](t, b, `document.getElementById("check-code").getAttribute("aria-invalid") === "true" && !!document.getElementById("check-code-error")`) {
			t.Fatal("the tracking code's error is not at its field")
		}
		shot("07b-mistyped-code")
		if !eval[bool](t, b, `(() => { const e = document.getElementById("check-result"); return e.getAttribute("aria-live") === "polite" && e.getAttribute("role") === "status"; })()`) {
			t.Fatal("the check's result is not announced (no polite live region)")
		}
		b.do(t, "retype the code", chromedp.SetValue(chromedp.CSS("#check-code"), r.castCode),
			chromedp.Click(chromedp.CSS(`#f-check button[type="submit"]`)), waitFor(`document.body.dataset.checked === "found" && !document.body.dataset.error`))
		// A reload keeps the view and the language (from the address) and
		// nothing else: the token was in memory only.
		b.do(t, "reload", chromedp.Reload(), visible("v-check"), waitFor(`document.documentElement.lang === "`+r.lang+`"`),
			waitFor(`document.body.dataset.checked === "found"`))
	}
	list := b.text(t, "#check-list")
	if !strings.Contains(list, r.castCode) || strings.Count(list, "\n") < 1 {
		t.Fatalf("check list %q lacks the cast ballot or the credential", list)
	}
	// The credential's time is local, with its zone named (Intl's short
	// zone name: "UTC" or "GMT+6" and the like), never bare.
	if !localTimeRe.MatchString(list) {
		t.Fatalf("check list %q: no time with its zone named", list)
	}
}

// localTimeRe is a time of day followed, on its line, by a zone name.
var localTimeRe = regexp.MustCompile(`\d{1,2}:\d{2}[^\n]*\b(UTC|GMT)([+-]\d{1,2}(:\d{2})?)?\b`)

// translation is the page's text for key in language lang.
func translation(t *testing.T, lang, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("static", "i18n", lang+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || m[key] == "" {
		t.Fatalf("%s: no %s (%v)", lang, key, err)
	}
	return m[key]
}

// shareSheet stands in for a phone's share sheet (the Web Share API,
// absent from headless Chromium on Linux) in a browser made with it: it
// records what the page hands it, reads the shared file's text, and
// accepts files as a phone's sheet does (canShare).
const shareSheet = `(() => {
	window.__shared = [];
	Object.defineProperty(Navigator.prototype, "share", { configurable: true, value: function (data) {
		window.__shared.push(data);
		if (data.files && data.files.length) data.files[0].text().then((x) => { window.__sharedFile = x; });
		return Promise.resolve();
	} });
	Object.defineProperty(Navigator.prototype, "canShare", { configurable: true, value: function (data) {
		return !!data && (!data.files || data.files.every((f) => f instanceof File));
	} });
})()`

// withShareSheet installs shareSheet in every page b opens from now on.
func withShareSheet(t *testing.T, b *browser) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: shareSheet})
		return err
	})); err != nil {
		t.Fatal(err)
	}
}

// allowClipboard lets the page at origin write (and the test read) the
// clipboard, as a voter's tap does on a phone.
func allowClipboard(t *testing.T, b *browser, origin string) {
	t.Helper()
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin})
			return err
		})); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// checkShare: on the receipt, a browser with a share sheet offers "Share
// the receipt" (the receipt file, with a line of text and the check
// link), one without offers "Copy the receipt" (the same text, copied);
// never both. The outcome is announced (a polite live region) in the
// voter's language and follows a language switch.
func (e *env) checkShare(t *testing.T, b *browser, r *voteRun, shot func(string)) {
	t.Helper()
	hasShare := eval[bool](t, b, `typeof navigator.share === "function"`)
	shareShown := eval[bool](t, b, `document.getElementById("b-share").offsetParent !== null`)
	copyShown := eval[bool](t, b, `document.getElementById("b-copy").offsetParent !== null`)
	if shareShown != hasShare || copyShown == hasShare {
		t.Fatalf("receipt: navigator.share %v, but share button shown %v and copy button shown %v", hasShare, shareShown, copyShown)
	}
	if !eval[bool](t, b, `(() => { const e = document.getElementById("share-status"); return e.getAttribute("aria-live") === "polite" && e.getAttribute("role") === "status" && e.textContent === ""; })()`) {
		t.Fatal("the share outcome line is not an empty live region before sharing")
	}
	link := eval[string](t, b, `document.getElementById("receipt-link").href`)
	wantText := strings.Replace(translation(t, r.lang, "receipt_share_text"), "{code}", r.castCode, 1) + "\n" + link
	if !hasShare {
		b.do(t, "copy the receipt", chromedp.Click(chromedp.CSS("#b-copy")), waitFor(`document.getElementById("share-status").textContent !== ""`))
		if got, want := b.text(t, "#share-status"), translation(t, r.lang, "receipt_copied"); got != want {
			t.Fatalf("after copying: %q, want %q", got, want)
		}
		clip, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("reading the clipboard: %v", err)
		}
		if clip != wantText {
			t.Fatalf("copied %q, want %q", clip, wantText)
		}
		shot("06b-receipt-copied")
		return
	}
	b.do(t, "share the receipt", chromedp.Click(chromedp.CSS("#b-share")),
		waitFor(`window.__sharedFile !== undefined && document.getElementById("share-status").textContent !== ""`))
	got := eval[string](t, b, `JSON.stringify({n: window.__shared.length, title: window.__shared[0].title, text: window.__shared[0].text,
		url: window.__shared[0].url || "", name: window.__shared[0].files[0].name, type: window.__shared[0].files[0].type,
		file: window.__sharedFile, download: document.getElementById("receipt-file").download})`)
	var shared struct {
		N                                            int
		Title, Text, URL, Name, Type, File, Download string
	}
	if err := json.Unmarshal([]byte(got), &shared); err != nil {
		t.Fatal(err)
	}
	if shared.N != 1 || shared.Title != translation(t, r.lang, "receipt_title") || shared.Text != wantText || shared.URL != "" {
		t.Fatalf("shared %d time(s): title %q, text %q, url %q; want once, %q, %q", shared.N, shared.Title, shared.Text, shared.URL,
			translation(t, r.lang, "receipt_title"), wantText)
	}
	if shared.Name != shared.Download || !strings.HasSuffix(shared.Name, ".json") || shared.Type != "application/json" {
		t.Fatalf("shared file %q (%s), the saved one is %q", shared.Name, shared.Type, shared.Download)
	}
	var receipt struct {
		ElectionID string `json:"election_id"`
		Entry      string `json:"entry"`
		Receipt    struct {
			Pseudonym string `json:"pseudonym"`
		} `json:"receipt"`
	}
	if err := json.Unmarshal([]byte(shared.File), &receipt); err != nil || receipt.ElectionID != e.f.ElectionID || receipt.Entry == "" || receipt.Receipt.Pseudonym != r.pseudonym {
		t.Fatalf("shared file is not this ballot's receipt (%v): %.300s", err, shared.File)
	}
	if got, want := b.text(t, "#share-status"), translation(t, r.lang, "receipt_shared"); got != want {
		t.Fatalf("after sharing: %q, want %q", got, want)
	}
	// The outcome follows the language.
	other := "en"
	if r.lang == "en" {
		other = "ky"
	}
	b.do(t, "switch to "+other, chromedp.Click(chromedp.CSS(`#langs button[data-lang="`+other+`"]`)),
		waitFor(`document.documentElement.lang === "`+other+`"`))
	if got, want := b.text(t, "#share-status"), translation(t, other, "receipt_shared"); got != want {
		t.Fatalf("after switching to %s: %q, want %q", other, got, want)
	}
	b.do(t, "switch back to "+r.lang, chromedp.Click(chromedp.CSS(`#langs button[data-lang="`+r.lang+`"]`)),
		waitFor(`document.documentElement.lang === "`+r.lang+`"`))
}

// checkAuditOnSecondDevice opens the check page afresh (nothing of the
// voting session survives the reload), with only the audited ballot's
// tracking code, as the voter's second device would, and returns the
// opened choices once the page has checked the audit in state want
// ("audit-pending" or "audit-published").
func (e *env) checkAuditOnSecondDevice(t *testing.T, b *browser, code, lang, want string) string {
	t.Helper()
	b.do(t, "second device", chromedp.Navigate("about:blank"),
		chromedp.Navigate(e.url+"/#check?e="+e.f.ElectionID+"&c="+code), visible("v-lang"))
	b.do(t, "second device: language", chromedp.Click(chromedp.CSS(`#lang-big button[data-lang="`+lang+`"]`)),
		visible("v-check"), waitFor(`document.body.dataset.checked === "`+want+`"`))
	if got := b.text(t, "#check-result"); !strings.Contains(got, code) {
		t.Fatalf("audit check says %q, not about %s", got, code)
	}
	e.checkFingerprintShown(t, b)
	return b.text(t, "#check-list")
}

// checkFingerprintShown asserts that the page shows the election's
// fingerprint (short form), in the footer and under the check's result.
func (e *env) checkFingerprintShown(t *testing.T, b *browser) {
	t.Helper()
	var fp string
	e.f.Box.WithState(func(s *election.State) { fp = s.Manifest.Fingerprint().String() })
	if got := b.text(t, "#fingerprint"); got != fp {
		t.Fatalf("page shows fingerprint %q, the manifest's is %q", got, fp)
	}
	if got := b.text(t, "#check-fingerprint"); !strings.Contains(got, fp) {
		t.Fatalf("check result %q does not name the fingerprint %s", got, fp)
	}
	e.checkAuthorityShown(t, b)
}

// checkAuthorityShown asserts that the page shows whose election it is, as
// the manifest says, in the page's language: the authority's name, its
// help contact, and its emblem drawn from the manifest's bytes (a blob:
// URL, loaded).
func (e *env) checkAuthorityShown(t *testing.T, b *browser) {
	t.Helper()
	var a ballot.Authority
	e.f.Box.WithState(func(s *election.State) { a = s.Manifest.Authority })
	lang := eval[string](t, b, `document.documentElement.lang`)
	b.do(t, "authority shown", waitFor(`!document.getElementById("authority-band").hidden && document.getElementById("emblem").complete && document.getElementById("emblem").naturalWidth > 0`))
	if got := b.text(t, "#authority-name"); got != a.Name.Get(lang) {
		t.Fatalf("page (%s) names the authority %q, the manifest %q", lang, got, a.Name.Get(lang))
	}
	if got := b.text(t, "#authority-help"); got != a.Help.Get(lang) {
		t.Fatalf("page (%s) gives help %q, the manifest %q", lang, got, a.Help.Get(lang))
	}
	// The emblem is a blob: URL the page minted from the module's answer
	// (no request for it reaches the server: checkOrigin lists them all).
	if src := eval[string](t, b, `document.getElementById("emblem").src`); !strings.HasPrefix(src, "blob:"+e.url+"/") {
		t.Fatalf("emblem from %q, not from the manifest's bytes", src)
	}
}

// count is how many requests with this method and path the server
// received.
func (e *env) count(method, path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, r := range e.bodies {
		if r.method == method && r.path == path {
			n++
		}
	}
	return n
}

func (e *env) candidates(t *testing.T, style, lang string) []string {
	var out []string
	e.f.Box.WithState(func(s *election.State) {
		st, _ := s.Manifest.Style(style)
		c, _ := s.Manifest.Contest(st.Contests[0])
		for _, cand := range c.Candidates {
			out = append(out, cand.Name.Get(lang))
		}
	})
	return out
}

// TestVotingPageEndToEnd drives the page in headless Chromium at a phone
// viewport through sign-in, choice, audit, cast, receipt and the board
// check, then a second voter under slow-3G and 4× CPU throttling (timings
// reported), then tallies: both ballots count. It checks that every
// request goes to the page's origin, that nothing the server receives
// holds a choice in clear, and that the page raised no error (a CSP
// violation is one).
func TestVotingPageEndToEnd(t *testing.T) {
	path := chromium(t)
	e := newEnv(t)
	ctx := context.Background()
	style := e.people[0].Constituency

	b := newBrowser(t, path)
	b.axe = true
	// Headless Chromium has no share sheet: this voter copies the receipt.
	allowClipboard(t, b, e.url)
	first := &voteRun{person: e.people[0], lang: "ky", candidate: 2, screenshots: true}
	e.run(t, b, first)
	checkOrigin(t, b, e.url)
	// The page's title names the step: in each language, every view seen
	// has its own title.
	for _, l := range []string{"ky", "ru", "uz", "en"} {
		byTitle := map[string]string{}
		for k, title := range b.titles {
			view, kl, _ := strings.Cut(k, "/")
			if kl != l {
				continue
			}
			if other, dup := byTitle[title]; dup || title == "" {
				t.Errorf("%s: views %s and %s have the same title %q", l, view, other, title)
			}
			byTitle[title] = view
		}
		if len(byTitle) < 6 {
			t.Errorf("%s: titles seen for %d views, want at least 6: %v", l, len(byTitle), byTitle)
		}
	}

	// The second voter on a slow phone (issue 13's profile): 400 kbit/s
	// each way, 400 ms round trip, a CPU 4x slower, a cold cache.
	slow := newBrowser(t, path)
	throttleProfile(t, slow)
	// This one's phone has a share sheet: the receipt goes to it.
	withShareSheet(t, slow)
	second := &voteRun{person: e.people[1], lang: "ru", candidate: 4}
	e.run(t, slow, second)
	checkOrigin(t, slow, e.url)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	report := fmt.Sprintf("throttled: 400 kbit/s, 400 ms RTT, 4x CPU, 360x740 scale 2 touch, cold cache:\n"+
		"  page opened to sign-in form usable: %v (target 4 s)\n"+
		"  page opened to module running and election checked: %v (module download %v)\n"+
		"  sign-in code submitted to ballot shown (waiting for the module: %v): %v\n"+
		"  review tapped to encrypted ballot ready: %v (encryption in the page: %.0f ms)\n"+
		"  bytes received, page opened to ballot shown: %s\n"+
		"no throttling:\n  sign-in usable: %v; module and election ready: %v\n  review to encrypted: %v (encryption %.0f ms)\n",
		ms(second.loadToSignIn), ms(second.loadToReady), ms(second.moduleDownload), second.waitedForModule, ms(second.signInToBallot),
		ms(second.reviewToEncrypted), second.encryptInPage, second.bytes,
		ms(first.loadToSignIn), ms(first.loadToReady), ms(first.reviewToEncrypted), first.encryptInPage)
	t.Log(report)
	// Issue 13's target is 4 s to a usable sign-in form on that profile:
	// reported above and measured by TestThrottledStart, not asserted as a
	// time on a shared machine. What makes it reachable is asserted: the
	// sign-in form was usable before the module had arrived (the shell
	// does not wait for it).
	if !second.signInBeforeModule {
		t.Errorf("throttled: the sign-in form was usable only once the module was ready (after %v)", second.loadToSignIn)
	}
	if !second.waitedForModule {
		t.Errorf("throttled: the voter never waited for the module: the progress state went untested")
	}
	os.WriteFile(filepath.Join(artefacts(t), "timings.txt"), []byte(report), 0o644)

	e.checkBodies(t)

	// The first voter's second device checks the audit from its tracking
	// code alone, at once: it waits in the ballot box's pool.
	// The second device is another browser (its own profile): nothing of
	// the voting session is there.
	cands := e.candidates(t, style, first.lang)
	dev2 := newBrowser(t, path)
	dev2.axe = true
	if opened := e.checkAuditOnSecondDevice(t, dev2, first.auditedCode, first.lang, "audit-pending"); !strings.Contains(opened, cands[first.candidate]) {
		t.Fatalf("second device: the audit opens to %q, not to the chosen %q", opened, cands[first.candidate])
	}
	checkAccessible(t, dev2)
	dev2.shot(t, "08-audit-second-device")
	// The receipt's link (as its QR code holds it) on the second device:
	// the cast ballot is found under the pseudonym and checked in a
	// checkpoint cosigned by the manifest's witnesses; the language comes
	// with the link.
	dev2.do(t, "second device: receipt link", chromedp.Navigate("about:blank"),
		chromedp.Navigate(e.url+"/#check?e="+e.f.ElectionID+"&p="+first.pseudonym+"&c="+first.castCode+"&l=ru"),
		visible("v-check"), waitFor(`document.body.dataset.checked === "found"`))
	if got := eval[string](t, dev2, `document.documentElement.lang`); got != "ru" {
		t.Fatalf("the link's language: page in %q", got)
	}
	e.checkFingerprintShown(t, dev2)
	dev2.shot(t, "09-receipt-second-device")
	// Keyboard only: from the check view afresh, Tab to the reference,
	// type it, Tab to the tracking code, type it, Enter: the ballot is
	// found, and the result (a live region) says so.
	dev2.do(t, "second device: keyboard only", chromedp.Navigate("about:blank"),
		chromedp.Navigate(e.url+"/#check?e="+e.f.ElectionID+"&l=en"), visible("v-check"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("check-pseudonym").value = ""; document.getElementById("check-code").value = ""`))
	for i := 0; eval[string](t, dev2, `document.activeElement.id`) != "check-pseudonym"; i++ {
		if i == 15 {
			t.Fatal("keyboard only: Tab never reaches the board reference")
		}
		if _, err := chromedp.Run(dev2.ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
	}
	dev2.do(t, "keyboard only: type and submit", chromedp.KeyEvent(first.pseudonym), chromedp.KeyEvent("\t"),
		chromedp.KeyEvent(first.castCode), chromedp.KeyEvent("\r"), waitFor(`document.body.dataset.checked === "found"`))
	if got := dev2.text(t, "#check-result"); got == "" {
		t.Fatal("keyboard only: no result")
	}

	// A third voter (the tally decrypts no group smaller than three), then
	// the tally: every ballot cast counts.
	v, err := e.f.NewVoter(ctx, [32]byte{9}, style)
	if err != nil {
		t.Fatal(err)
	}
	sel := e.f.Selection(3, style)
	raw, _, err := e.f.Prepare(v, sel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.f.Box.Cast(ctx, v.Token, raw); err != nil {
		t.Fatal(err)
	}
	res, _, err := e.f.Tally(ctx, boxtest.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	// The close published both audits in one shuffled batch: the second
	// device now checks the board entry and its inclusion proof.
	if opened := e.checkAuditOnSecondDevice(t, dev2, first.auditedCode, first.lang, "audit-published"); !strings.Contains(opened, cands[first.candidate]) {
		t.Fatalf("second device after the close: the audit opens to %q", opened)
	}
	for _, br := range []*browser{b, dev2} {
		if p := br.Problems(); len(p) > 0 {
			t.Errorf("page errors: %v", p)
		}
	}
	var council, multi string
	e.f.Box.WithState(func(s *election.State) {
		st, _ := s.Manifest.Style(style)
		council, multi = st.Contests[0], st.Contests[1]
	})
	want := map[string][]uint64{}
	for _, c := range res.Contests {
		want[c.ContestID] = make([]uint64, len(c.Counts))
	}
	want[council][first.candidate+1]++
	want[council][second.candidate+1]++
	want[multi][1] += 2
	for id, idx := range sel {
		for _, i := range idx {
			if id == council {
				want[id][i+1]++
			} else if id == multi {
				want[id][i]++
			}
		}
		if id == council && len(idx) == 0 {
			want[id][0]++
		}
	}
	for _, c := range res.Contests {
		if c.ContestID != council && c.ContestID != multi {
			continue
		}
		if c.Withheld || fmt.Sprint(c.Counts) != fmt.Sprint(want[c.ContestID]) {
			t.Errorf("contest %s: counts %v (withheld %v), want %v", c.ContestID, c.Counts, c.Withheld, want[c.ContestID])
		}
	}
}

// checkOrigin asserts that the browser requested nothing from any other
// origin than the page's.
func checkOrigin(t *testing.T, b *browser, origin string) {
	t.Helper()
	requests := b.Requests()
	if len(requests) < 5 {
		t.Fatalf("only %d requests recorded", len(requests))
	}
	modules, loads := 0, 0
	for _, r := range requests {
		if strings.Contains(r, "/evote.wasm") {
			modules++
		}
		if r == "GET "+origin+"/" {
			loads++
		}
	}
	if modules != loads {
		t.Errorf("the module was requested %d times in %d page loads, want once each", modules, loads)
	}
	for _, r := range requests {
		_, u, _ := strings.Cut(r, " ")
		// A voter's page reads only what its views need: an entry by its
		// index at most (the check view's), never a listing of board
		// entries (issue 13: it read entries?limit=100 for the first 12).
		if pu, err := url.Parse(u); err == nil && strings.HasSuffix(pu.Path, "/entries") {
			if n, err := strconv.Atoi(pu.Query().Get("limit")); err != nil || n > 1 {
				t.Errorf("the page listed board entries: %s", r)
			}
		}
		// data: URLs are no request to any host (Chromium draws the date
		// field's icon with one); blob: URLs of this origin are bytes the
		// page's own script holds (the authority's emblem).
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:"+origin+"/") {
			t.Errorf("request to another origin: %s", r)
		}
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("page errors: %v", p)
	}
}

// checkBodies asserts that the ballots the server received are encrypted:
// each decodes as a ballot entry whose proofs verify under the election
// key, whose ciphertexts are not trivial encodings of any choice, and no
// request body holds a candidate's id or name or a selection in clear.
func (e *env) checkBodies(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var el *ballot.Election
	var m *ballot.Manifest
	e.f.Box.WithState(func(s *election.State) { el, m = s.Election(), s.Manifest })
	var secrets []string
	for _, c := range m.Contests {
		secrets = append(secrets, `"`+c.ID+`"`)
		for _, cand := range c.Candidates {
			secrets = append(secrets, `"`+cand.ID+`"`)
			for _, l := range ballot.Languages {
				secrets = append(secrets, cand.Name.Get(l))
			}
		}
	}
	ballots := 0
	for _, r := range e.bodies {
		for _, s := range secrets {
			if bytes.Contains(r.body, []byte(s)) {
				t.Errorf("%s %s carries %q in clear", r.method, r.path, s)
			}
		}
		if r.method != http.MethodPost || !strings.HasSuffix(r.path, "/ballots") {
			continue
		}
		ballots++
		var req struct {
			Entry string `json:"entry"`
		}
		if err := json.Unmarshal(r.body, &req); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(req.Entry)
		if err != nil {
			t.Fatal(err)
		}
		entry, err := bulletin.DecodeEntry(raw)
		if err != nil || entry.Type != bulletin.TypeBallot || entry.Verify() != nil {
			t.Fatalf("cast body is not a signed ballot entry: %v", err)
		}
		b, err := ballot.DecodeBallot(entry.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := el.Verify(b); err != nil {
			t.Fatalf("cast ballot does not verify: %v", err)
		}
		for _, c := range b.Contests {
			for _, ct := range c.Ciphertexts {
				// With randomness 0 a ciphertext would be (identity, m·G):
				// the choice in clear. Ours must not be, for any m.
				enc := ct.Bytes()
				id := group.NewIdentityElement().Bytes()
				if bytes.Equal(enc[:32], id) {
					t.Fatal("a ciphertext with zero randomness: the choice is in clear")
				}
				for mv := range uint64(8) {
					mg := new(group.Element).ScalarBaseMult(group.NewScalar().SetUint64(mv)).Bytes()
					if bytes.Equal(enc[32:], mg) || bytes.Equal(enc[:32], mg) {
						t.Fatalf("a ciphertext component equals %d·G", mv)
					}
				}
			}
		}
	}
	if ballots != 2 {
		t.Fatalf("server received %d ballot posts, want 2", ballots)
	}
}

// checkAccessible checks the visible view at 360 px: nothing wider than the
// screen, every visible control at least 44 px high, every input labelled.
func checkAccessible(t *testing.T, b *browser) {
	t.Helper()
	problems := eval[[]string](t, b, `(() => {
		const out = [];
		if (document.documentElement.scrollWidth > screen.width + 1) out.push("page wider than the screen: " + document.documentElement.scrollWidth);
		const visible = (el) => el.offsetParent !== null;
		for (const el of document.querySelectorAll("button, input, a[href]")) {
			if (!visible(el)) continue;
			const r = el.getBoundingClientRect();
			const target = el.type === "radio" || el.type === "checkbox" ? el.closest(".choice").getBoundingClientRect() : r;
			if (el.tagName !== "A" && target.height < 44) out.push((el.id || el.textContent) + " is " + target.height + " px high");
			if (el.tagName === "INPUT" && !(el.labels && el.labels.length && el.labels[0].textContent.trim())) out.push("input " + el.id + " has no label");
		}
		return out;
	})()`)
	if len(problems) > 0 {
		t.Errorf("accessibility: %v", problems)
	}
	view := eval[string](t, b, `document.body.dataset.view + "/" + document.documentElement.lang + " " + document.title`)
	k, title, _ := strings.Cut(view, " ")
	b.mu.Lock()
	if b.titles == nil {
		b.titles = map[string]string{}
	}
	b.titles[k] = title
	b.mu.Unlock()
	if b.axe {
		runAxe(t, b, k)
	}
}

// axeSource is axe-core (web/testdata/axe, tests only: never served).
var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	return string(b), err
})

// runAxe injects axe-core into the page through the DevTools protocol
// (the page never loads it) and fails on any WCAG 2.0–2.2 A or AA
// violation on the screen as it is.
func runAxe(t *testing.T, b *browser, where string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatal(err)
	}
	if !eval[bool](t, b, `typeof window.axe === "object"`) {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](src+"\n;undefined")); err != nil {
			t.Fatalf("inject axe-core: %v", err)
		}
	}
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}, resultTypes: ["violations"]})
		.then((r) => r.violations.map((v) => v.id + " (" + v.impact + "): " + v.help + " — " + v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ")))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	if len(out) > 0 {
		t.Errorf("axe-core on %s: %d violations:\n  %s", where, len(out), strings.Join(out, "\n  "))
	}
}

// at200 runs fn with the text at 200% (the root font size doubled, as a
// browser's text-size setting does), then restores it.
func (b *browser) at200(t *testing.T, fn func()) {
	t.Helper()
	b.do(t, "text 200%", chromedp.Evaluate[chromedp.Void](`document.documentElement.style.fontSize = "36px"`),
		waitFor(`getComputedStyle(document.documentElement).fontSize === "36px"`))
	defer b.do(t, "text 100%", chromedp.Evaluate[chromedp.Void](`document.documentElement.style.fontSize = ""`))
	fn()
}

// checkReflow fails when the page scrolls sideways (WCAG 1.4.10/1.4.4),
// naming the widest elements that stick out.
func checkReflow(t *testing.T, b *browser, where string) {
	t.Helper()
	wide := eval[[]string](t, b, `(() => {
		// The phone's width, not innerWidth: a mobile browser widens its
		// layout viewport to fit a page that is too wide.
		const w = screen.width;
		if (document.documentElement.scrollWidth <= w + 1) return [];
		const out = ["page " + document.documentElement.scrollWidth + " px wide at " + w];
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (el.offsetParent !== null && r.right > w + 1) out.push((el.id || el.tagName.toLowerCase() + "." + el.className) + " to " + Math.round(r.right) + " px");
			if (out.length > 6) break;
		}
		return out;
	})()`)
	if len(wide) > 0 {
		t.Errorf("%s at 200%% text scrolls sideways: %v", where, wide)
	}
}

// contrastJS returns the focus ring's contrast with what is behind it
// (WCAG 1.4.11 asks 3:1), or a message when there is no ring.
const contrastJS = `(() => {
	const el = document.activeElement;
	if (!el || el === document.body) return "nothing focused";
	const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
	const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; const [r, g, b] = rgb(c); return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
	const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0) return getComputedStyle(e).backgroundColor; } return "rgb(255, 255, 255)"; };
	const s = getComputedStyle(el);
	const name = el.id || el.textContent.trim().slice(0, 20) || el.tagName;
	if (s.outlineStyle === "none" || parseFloat(s.outlineWidth) < 2) return name + ": no focus ring";
	const a = lum(s.outlineColor), b = lum(bg(el.parentElement));
	const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
	return ratio >= 3 ? "" : name + ": focus ring " + ratio.toFixed(2) + ":1";
})()`

// checkFocusRing moves the focus with the keyboard (Tab) n times and
// checks each focused control's ring.
func checkFocusRing(t *testing.T, b *browser, n int) {
	t.Helper()
	seen := 0
	for range n {
		if _, err := chromedp.Run(b.ctx, chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		if eval[bool](t, b, `document.activeElement === document.body || document.activeElement.tagName === "H1"`) {
			continue
		}
		seen++
		if msg := eval[string](t, b, contrastJS); msg != "" {
			t.Errorf("focus: %s", msg)
		}
	}
	if seen == 0 {
		t.Fatal("Tab focused nothing")
	}
}
