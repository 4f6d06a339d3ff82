package console_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"evote/api"
	"evote/ballot"
	"evote/ballotbox/boxtest"
	"evote/client"
	"evote/election"
	"evote/official"
	"evote/record"
	"evote/store/sqlite"
	"evote/trustee"
	"evote/verify"
	"evote/web/console"
	"evote/web/internal/browsertest"
)

// chromium returns the browser's path (browsertest.Chromium).
func chromium(t *testing.T) string { return browsertest.Chromium(t) }

// artefacts is where the screenshots go (testartifacts/console at the
// module root, gitignored).
func artefacts(t *testing.T) string { return browsertest.Artefacts(t, "console") }

// browser is a headless Chromium at a laptop's window (browsertest),
// recording script exceptions, console errors and CSP violations as
// problems.
type browser struct {
	*browsertest.Browser
	ctx context.Context // the tab's
}

func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	b := browsertest.New(t, path, browsertest.Laptop, 8*time.Minute)
	return &browser{Browser: b, ctx: b.Context()}
}

func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.dataset.screen + " | " + document.getElementById("notice").textContent`))
		t.Fatalf("%s: %v (page: %s; problems: %v)", what, err, page, b.Problems())
	}
}

func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitFor waits until a JavaScript condition holds.
var waitFor = browsertest.WaitFor

// shotLangs are the two languages every screen is photographed in.
var shotLangs = []string{"ky", "en"}

// shots photographs the current screen in each of shotLangs, ending in
// English.
func (b *browser) shots(t *testing.T, name string) {
	t.Helper()
	for _, l := range shotLangs {
		b.lang(t, l)
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(artefacts(t), name+"-"+l+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		// No untranslated key (⟨key⟩), no stray null or undefined.
		if bad := eval[string](t, b, `(document.body.innerText.match(/⟨[^⟩]*⟩|\bnull\b|\bundefined\b|NaN/) || [""])[0]`); bad != "" {
			t.Fatalf("%s (%s) shows %q", name, l, bad)
		}
	}
}

// lang switches the console's language and waits for the screen to be
// drawn again.
func (b *browser) lang(t *testing.T, l string) {
	t.Helper()
	n := eval[string](t, b, `document.body.dataset.rendered`)
	b.do(t, "language "+l, choose("#lang", l),
		waitFor(`document.documentElement.lang === "`+l+`" && document.body.dataset.rendered !== "`+n+`"`))
}

// choose selects an option as a person would: the value, then the change
// event, in one step (the page may redraw the select between two).
func choose(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("change")); })()`, sel, value))
}

// goTo follows a hash route and waits until it is drawn.
func (b *browser) goTo(t *testing.T, hash, screen string) {
	t.Helper()
	n := eval[string](t, b, `document.body.dataset.rendered`)
	b.do(t, "go to "+hash, chromedp.Evaluate[chromedp.Void](`location.hash === "`+hash+`" ? window.dispatchEvent(new HashChangeEvent("hashchange")) : location.hash = "`+hash+`"`),
		waitFor(`document.body.dataset.rendered !== "`+n+`" && document.body.dataset.screen === "`+screen+`"`))
}

// setText fills the four language inputs of a text of the election form.
func setText(path string, v api.TextForm) string {
	var s strings.Builder
	for l, x := range map[string]string{"ky": v.Ky, "ru": v.Ru, "uz": v.Uz, "en": v.En} {
		fmt.Fprintf(&s, "set(%q, %q);", path+"."+l, x)
	}
	return s.String()
}

// fillJS fills inputs of the election form by their data-path, as typing
// would (the form reads them back when checked).
func fillJS(body string) string {
	return `(() => { const set = (p, v) => { const e = document.querySelector('[data-path="' + p + '"]'); if (!e) throw new Error("no input " + p); e.value = v; e.dispatchEvent(new Event("input")); }; ` + body + ` return true; })()`
}

func text(ky, ru, uz, en string) api.TextForm { return api.TextForm{Ky: ky, Ru: ru, Uz: uz, En: en} }

// TestConsoleEndToEnd runs a whole election from the console in Chromium:
// the admin signs in with a TOTP code and enrols an official, whose
// authenticator key is shown as a QR code; the official signs in, fills
// the election form (a missing translation is reported first), previews
// the ballot, creates the election and publishes its fingerprint; three
// trustee tools (the trustee package over HTTP) run key generation while
// the dashboard shows their progress and enables each official action
// only when the board allows it; voters cast; the official closes,
// cleanses, starts mixing and decryption (the trustee tools mix and
// decrypt) and tallies; the result, its CSV and print-ready protocol are
// shown, and the exported record verifies. Out-of-order and wrong-role
// actions are refused by the API and disabled in the UI. Every screen is
// photographed in two languages (testartifacts/console).
func TestConsoleEndToEnd(t *testing.T) {
	path := chromium(t)
	gin.SetMode(gin.TestMode)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	offs, err := official.Open(ctx, official.Config{DB: st.DB(), Dialect: official.SQLite, Argon2: official.Argon2Params{Time: 1, Memory: 1024, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Catalog: offs, Witnesses: 1, Listed: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Registry.Close() })
	cons, err := console.New()
	if err != nil {
		t.Fatal(err)
	}
	s := api.NewServer()
	s.Registry, s.Officials = f.Registry, offs
	s.Web = cons
	ident := newTestIdentity(t)
	if s.Identity, err = url.Parse(ident.URL); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	adminSecret, _ := official.NewTOTPSecret()
	const adminPW = "the first admin's long password"
	if _, err := offs.Bootstrap(ctx, "admin", adminPW, adminSecret); err != nil {
		t.Fatal(err)
	}
	code := func(secret string) string {
		c, err := official.TOTPCode(secret, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	apiCall := func(method, path, token string, body any) (int, map[string]any) {
		var rd bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = *bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+"/api/v1"+path, &rd)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}

	b := newBrowser(t, path)
	// The missing translation is answered 422 on purpose; the out-of-order
	// action below is asked through the API, not the page; the wrong key
	// file's signature is refused 403 on purpose.
	b.Allow("status of 422", "status of 403 (Forbidden) "+srv.URL+"/api/v1/elections/city-2027/voters/submit")
	signIn := func(user, pw, secret string) {
		b.do(t, "sign in as "+user, chromedp.WaitVisible(chromedp.CSS("#login-submit")),
			chromedp.SendKeys(chromedp.CSS("#login-user"), user), chromedp.SendKeys(chromedp.CSS("#login-password"), pw),
			chromedp.SendKeys(chromedp.CSS("#login-totp"), code(secret)), chromedp.Click(chromedp.CSS("#login-submit")),
			waitFor(`document.body.dataset.screen === "elections" && !document.getElementById("nav").hidden`))
	}
	b.do(t, "open the console", chromedp.Navigate(srv.URL+"/console/"), waitFor(`document.body.dataset.ready === "1"`))
	b.shots(t, "01-sign-in")
	signIn("admin", adminPW, adminSecret)
	b.shots(t, "02-elections")

	// Enrolment of an official: the authenticator key as a QR code.
	b.goTo(t, "#/accounts", "accounts")
	b.do(t, "enrol olga", chromedp.SendKeys(chromedp.CSS("#acc-user"), "olga"), chromedp.SendKeys(chromedp.CSS("#acc-password"), "olga's long password"),
		choose("#acc-role", "election-official"), chromedp.Click(chromedp.CSS("#acc-submit")),
		waitFor(`!!document.getElementById("enrol-qr")`))
	olgaSecret := eval[string](t, b, `document.getElementById("enrol-secret").textContent`)
	dark := eval[int](t, b, `(() => { const c = document.getElementById("enrol-qr"); const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 0) n++; return n; })()`)
	if len(olgaSecret) < 16 || dark < 1000 {
		t.Fatalf("enrolment: secret %q, %d dark pixels", olgaSecret, dark)
	}
	png, err := chromedp.Run(b.ctx, chromedp.Screenshot(chromedp.CSS("#enrol-qr")))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(artefacts(t), "enrol-qr.png"), png, 0o644)
	b.shots(t, "03-enrol")
	// A change of language draws the key again: it is shown only once.
	if eval[string](t, b, `document.getElementById("enrol-secret")?.textContent`) != olgaSecret || !eval[bool](t, b, `!!document.getElementById("enrol-qr")`) {
		t.Fatal("the enrolment's key is gone after a change of language")
	}
	adminToken := eval[string](t, b, `JSON.parse(sessionStorage.getItem("evote-console-session")).token`)
	st2, obs := apiCall("POST", "/officials/accounts", adminToken, map[string]string{"user": "oleg", "password": "an observer's password", "role": "observer"})
	if st2 != 201 {
		t.Fatalf("observer account: %d %v", st2, obs)
	}
	olegSecret := obs["totp_secret"].(string)
	b.goTo(t, "#/sessions", "sessions")
	b.shots(t, "04-sessions")
	b.do(t, "sign out", chromedp.Click(chromedp.CSS("#signout")), waitFor(`document.body.dataset.screen === "login"`))
	if st, _ := apiCall("GET", "/officials/sessions", adminToken, nil); st != 401 {
		t.Fatalf("the signed-out session still works: %d", st)
	}

	// The enrolled official signs in with her authenticator's code.
	signIn("olga", "olga's long password", olgaSecret)
	if !eval[bool](t, b, `document.querySelector('#nav a[href="#/accounts"]').hidden && !document.querySelector('#nav a[href="#/new"]').hidden`) {
		t.Fatal("an election official is offered the accounts screen, or not the new election")
	}
	olgaToken := eval[string](t, b, `JSON.parse(sessionStorage.getItem("evote-console-session")).token`)

	// The election form.
	keys := make([]*trustee.Keys, 3)
	keyText := make([]string, 3)
	for i := range keys {
		if keys[i], err = trustee.GenerateKeys(nil); err != nil {
			t.Fatal(err)
		}
		sp, hp := keys[i].SigningPublic(), keys[i].HPKEPublic()
		keyText[i] = fmt.Sprintf("signing key:  %s\nhpke key:     %s\n", hex.EncodeToString(sp[:]), hex.EncodeToString(hp[:]))
	}
	keyFile := filepath.Join(t.TempDir(), "trustee-3.txt")
	os.WriteFile(keyFile, []byte(keyText[2]+"Give these two public keys to the election officials for the manifest.\n"), 0o644)
	emblem := filepath.Join(t.TempDir(), "emblem.svg")
	os.WriteFile(emblem, []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><circle cx="5" cy="5" r="4" fill="#c8102e"/><circle cx="5" cy="5" r="2" fill="#ffd100"/></svg>`), 0o644)
	b.goTo(t, "#/new", "new")
	b.do(t, "shape the form", chromedp.Click(chromedp.CSS(`button[data-add-candidate="0"]`)), waitFor(`!!document.querySelector('[data-path="contests.0.candidates.2.id"]')`),
		chromedp.Click(chromedp.CSS(`button[data-add="contests"]`)), waitFor(`!!document.querySelector('[data-path="contests.1.kind"]')`),
		choose(`[data-path="contests.1.kind"]`, "multi"),
		waitFor(`!!document.querySelector('[data-path="contests.1.max_selections"]')`),
		chromedp.Click(chromedp.CSS(`button[data-add-candidate="1"]`)), waitFor(`!!document.querySelector('[data-path="contests.1.candidates.2.id"]')`))
	idKey := hex.EncodeToString(f.Identity.Public().(ed25519.PublicKey))
	fill := fillJS(`set("election_id", "city-2027");` +
		setText("title", text("Бишкек шаардык кеңешинин шайлоосу", "Выборы в городской совет Бишкека", "Bishkek shahar kengashi saylovi", "Bishkek city council election")) +
		setText("authority_name", text("Борбордук шайлоо комиссиясы", "Центральная избирательная комиссия", "Markaziy saylov komissiyasi", "Central Election Commission")) +
		setText("authority_help", text("Жардам: 1234", "Помощь: 1234", "Yordam: 1234", "Help: call 1234")) +
		`set("constituencies.0.id", "center");` + setText("constituencies.0.name", text("Борбор", "Центр", "Markaz", "Centre")) +
		`set("contests.0.id", "council");` + setText("contests.0.title", text("Шаардык кеңеш", "Городской совет", "Shahar kengashi", "City council")) +
		`set("contests.0.candidates.0.id", "a");` + setText("contests.0.candidates.0.name", text("Айгүл Асанова", "Айгуль Асанова", "Aygul Asanova", "Aigul Asanova")) +
		`set("contests.0.candidates.1.id", "b");` + setText("contests.0.candidates.1.name", text("Бакыт Токтогулов", "Бакыт Токтогулов", "Baqit Toʻqtogʻulov", "Bakyt Toktogulov")) +
		`set("contests.0.candidates.2.id", "c");` + setText("contests.0.candidates.2.name", text("Чынара Маматова", "Чынара Маматова", "Chinara Mamatova", "Chynara Mamatova")) +
		`set("contests.1.id", "budget"); set("contests.1.max_selections", "2");` + setText("contests.1.title", text("Бюджеттин артыкчылыктары", "Приоритеты бюджета", "Byudjet ustuvorliklari", "Budget priorities")) +
		`set("contests.1.candidates.0.id", "roads");` + setText("contests.1.candidates.0.name", text("Жолдор", "Дороги", "Yoʻllar", "Roads")) +
		`set("contests.1.candidates.1.id", "schools");` + setText("contests.1.candidates.1.name", text("Мектептер", "Школы", "Maktablar", "Schools")) +
		`set("contests.1.candidates.2.id", "parks");` + setText("contests.1.candidates.2.name", text("Парктар", "Парки", "", "Parks")) +
		`set("ballot_styles.0.id", "center"); set("ballot_styles.0.constituency", "center"); set("ballot_styles.0.contests", "council, budget");` +
		`set("trustees.0.name", "Trustee Kyrgyz Republic Ombudsman"); set("trustees.1.name", "Trustee Bar Association"); set("trustees.2.name", "Trustee Observers' Coalition");` +
		fmt.Sprintf(`set("trustees.0.public_keys", %q); set("trustees.1.public_keys", %q);`, keyText[0], keyText[1]) +
		`set("threshold", "2"); set("min_anonymity", "3"); set("identity_key", "` + idKey + `");`)
	b.do(t, "fill the form", chromedp.Evaluate[chromedp.Void](fill),
		chromedp.SetUploadFiles(chromedp.CSS(`.item:has([data-path="trustees.2.name"]) .keyfile`), []string{keyFile}),
		waitFor(`document.querySelector('[data-path="trustees.2.public_keys"]').value.includes("hpke key")`),
		chromedp.SetUploadFiles(chromedp.CSS("#f-emblem"), []string{emblem}), waitFor(`!document.getElementById("emblem-preview").hidden`))
	// The coercion option (spec §15.1) shows its three numbers, translated,
	// only when chosen; the form keeps what was filled in when it redraws.
	chooseCoercion := func(mode string) string {
		return `(() => { const e = document.getElementById("f-coercion"); e.value = "` + mode + `"; e.dispatchEvent(new Event("change")); return true; })()`
	}
	b.do(t, "choose deniable re-voting", chromedp.Evaluate[chromedp.Void](chooseCoercion("deniable-revoting")),
		waitFor(`!!document.getElementById("f-coercion-numbers") && document.querySelector('[data-path="max_ballots"]').value === "8"`))
	b.shots(t, "05-form-coercion")
	b.do(t, "choose no coercion protection", chromedp.Evaluate[chromedp.Void](chooseCoercion("none")),
		waitFor(`!document.getElementById("f-coercion-numbers") && document.querySelector('[data-path="trustees.2.public_keys"]').value.includes("hpke key")`))
	// One translation is missing: the form says so and submits nothing.
	b.do(t, "check with a missing translation", chromedp.Click(chromedp.CSS("#f-check")),
		waitFor(`document.getElementById("notice").className === "bad" && document.querySelectorAll("input.missing").length === 1`))
	if eval[string](t, b, `document.querySelector("input.missing").dataset.path`) != "contests.1.candidates.2.name.uz" {
		t.Fatal("the wrong input is marked missing")
	}
	b.shots(t, "05-form-missing-translation")
	b.do(t, "complete and check", chromedp.Evaluate[chromedp.Void](fillJS(`set("contests.1.candidates.2.name.uz", "Bogʻlar");`)), chromedp.Click(chromedp.CSS("#f-check")),
		waitFor(`!!document.getElementById("fingerprint")`))
	fpText := eval[string](t, b, `document.getElementById("fingerprint").textContent`)
	b.lang(t, "ru")
	b.do(t, "preview in Russian", choose("#preview-lang", "ru"),
		waitFor(`document.getElementById("phone").textContent.includes("Айгуль Асанова")`))
	b.shots(t, "06-form-preview")
	b.do(t, "create", chromedp.Click(chromedp.CSS("#f-create")), waitFor(`document.getElementById("confirm").open`))
	b.shots(t, "07-confirm-create")
	b.lang(t, "ky")
	if eval[string](t, b, `document.getElementById("confirm-title").textContent`) != "Шайлоону түзүү" {
		t.Fatal("the dialog's title does not follow the language")
	}
	b.lang(t, "en")
	b.do(t, "confirm the creation", chromedp.Click(chromedp.CSS("#confirm-yes")),
		waitFor(`document.body.dataset.screen === "e" && document.getElementById("phase")?.dataset.phase === "setup"`))
	fp, err := ballot.ParseFingerprint(fpText)
	if err != nil {
		t.Fatal(err)
	}
	box, err := f.Registry.Get("city-2027")
	if err != nil {
		t.Fatal(err)
	}
	m := box.View().Manifest
	if m.Fingerprint().String() != fpText || eval[string](t, b, `document.getElementById("dash-fingerprint").textContent`) != fpText ||
		m.Contests[1].Kind != ballot.MultiSelect || m.Contests[1].MaxSelections != 2 || m.Authority.EmblemType() != "image/svg+xml" || m.Trustees[2].SignKey != keys[2].SigningPublic() {
		t.Fatalf("the manifest on the board is not the form's: %+v", m)
	}
	b.shots(t, "08-dashboard-setup")

	// The voter list, checked line by line before it is signed: one bad
	// line is reported, the valid ones counted by style.
	voterCSV := filepath.Join(t.TempDir(), "voters.csv")
	os.WriteFile(voterCSV, []byte("pin,ballot_style,phone\n21505199012345,center,+996700123456\n2150519901234x,center,\n11203198500017,center,\n"), 0o644)
	b.do(t, "check the voter list", chromedp.SetUploadFiles(chromedp.CSS("#voters-file"), []string{voterCSV}),
		waitFor(`!!document.getElementById("voters-summary")`))
	if got := eval[string](t, b, `[...document.querySelectorAll("#voters-problems tbody tr")].map((r) => r.dataset.line + ":" + r.dataset.code).join(" ") + " | " + document.getElementById("voters-counts").textContent`); got != "3:pin | Ballot styleValid votersCentre (center)2" {
		t.Fatalf("voter list report: %q", got)
	}
	b.do(t, "voter list section", chromedp.ScrollIntoView(chromedp.CSS("#voters")))
	b.shots(t, "08b-voter-list")

	// Out of order and wrong role: disabled in the UI, refused by the API.
	if !eval[bool](t, b, `document.querySelector('button[data-action="open"]').disabled && document.querySelector('button[data-action="tally"]').disabled`) {
		t.Fatal("open or tally enabled during setup")
	}
	if st, out := apiCall("POST", "/elections/city-2027/actions/open", olgaToken, nil); st != 409 || out["error"].(map[string]any)["code"] != "wrong_phase" {
		t.Fatalf("open during setup: %d %v", st, out)
	}

	// Key generation by three trustee tools over HTTP; the official acts
	// from the dashboard when each round is done.
	steps := make(chan string, 64)
	errs := make(chan error, 3)
	done := make([]*trustee.Keys, 3)
	newBoard := func() *client.Board {
		bd, err := client.NewBoard(ctx, client.New(srv.URL), "city-2027")
		if err != nil {
			t.Fatal(err)
		}
		bd.Poll = 50 * time.Millisecond
		return bd
	}
	replays := make([]*trustee.Follower, 3)
	for i := range keys {
		bd := newBoard()
		replays[i] = trustee.NewFollower(bd)
		go func() {
			var err error
			done[i], err = trustee.RunKeygen(ctx, bd, keys[i], trustee.Options{RoundWait: 2 * time.Minute, Fingerprint: fp, Replay: replays[i], OnStep: func(s string) { steps <- s }})
			errs <- err
		}()
	}
	act := func(action, shot string) {
		t.Helper()
		b.do(t, "wait for "+action, waitFor(`!!document.querySelector('button[data-action="`+action+`"]:not([disabled])')`))
		// A click event on the button, wherever a refresh of the
		// dashboard has just put it.
		b.do(t, action, chromedp.Evaluate[chromedp.Void](`document.querySelector('button[data-action="`+action+`"]').click()`), waitFor(`document.getElementById("confirm").open`))
		if shot != "" {
			b.shots(t, shot)
		}
		b.do(t, "confirm "+action, chromedp.Evaluate[chromedp.Void](`document.getElementById("notice").textContent = ""`),
			chromedp.Click(chromedp.CSS("#confirm-yes")), waitFor(`document.getElementById("notice").textContent !== ""`))
		if msg := eval[string](t, b, `document.getElementById("notice").className + ": " + document.getElementById("notice").textContent`); !strings.HasPrefix(msg, "ok: ") {
			t.Fatalf("%s: %s", action, msg)
		}
	}
	count := map[string]int{}
	finished := 0
	shotKeygen := false
	for count[trustee.StepExtractionComplaint] < 3 {
		select {
		case s := <-steps:
			count[s]++
			if count[s] < 3 {
				continue
			}
			switch s {
			case trustee.StepComplained:
				if !shotKeygen {
					b.goTo(t, "#/e/city-2027", "e")
					b.do(t, "progress shown", waitFor(`document.getElementById("trustees").textContent.includes("✓")`))
					b.shots(t, "09-keygen-progress")
					shotKeygen = true
				}
				act("qualified", "10-confirm-qualified")
			case trustee.StepExtracted:
				act("close-extraction", "")
			case trustee.StepExtractionComplaint:
				act("context", "")
			}
		case err := <-errs:
			finished++
			if err != nil {
				t.Fatalf("trustee: %v", err)
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("key generation stalled: %v", count)
		}
	}
	for ; finished < 3; finished++ {
		if err := <-errs; err != nil {
			t.Fatalf("trustee: %v", err)
		}
	}
	b.do(t, "ready", waitFor(`document.getElementById("phase")?.dataset.phase === "ready"`))

	// The list official signs the checked list in the browser with their
	// key file and submits it to the identity service: a wrong key is
	// refused and nothing recorded; the right one records the two valid
	// voters (the bad line left out) and shows the counts per style.
	ident.start(t, "city-2027", box.View().Context.ExtendedHash)
	keyDir := t.TempDir()
	wrongSeed := make([]byte, 32)
	wrongSeed[0] = 7
	os.WriteFile(filepath.Join(keyDir, "wrong.key"), []byte(hex.EncodeToString(wrongSeed)+"\n"), 0o600)
	os.WriteFile(filepath.Join(keyDir, "list.key"), []byte(hex.EncodeToString(ident.ListKey.Seed())+"\n"), 0o600)
	b.do(t, "sign with a wrong key", chromedp.ScrollIntoView(chromedp.CSS("#voters-sign")),
		chromedp.SetValue(chromedp.CSS("#sign-official"), "list-official-1"), chromedp.SetValue(chromedp.CSS("#sign-kind"), "build"),
		chromedp.SetUploadFiles(chromedp.CSS("#sign-key"), []string{filepath.Join(keyDir, "wrong.key")}),
		chromedp.Click(chromedp.CSS("#sign-submit")), waitFor(`document.getElementById("sign-status")?.textContent.length > 0`))
	if got := eval[string](t, b, `document.getElementById("sign-status").className + ": " + document.getElementById("sign-status").textContent`); !strings.HasPrefix(got, "bad: The identity service refused the signature: this key file is not the registered key of this list official") {
		t.Fatalf("wrong key: %q", got)
	}
	if n := len(ident.board.listChanges()); n != 0 {
		t.Fatalf("a refused change reached the board: %d", n)
	}
	b.shots(t, "08c-voter-list-wrong-key")
	b.do(t, "sign with the list official's key",
		chromedp.SetUploadFiles(chromedp.CSS("#sign-key"), []string{filepath.Join(keyDir, "list.key")}),
		chromedp.Click(chromedp.CSS("#sign-submit")), waitFor(`!!document.getElementById("voters-imported")`))
	if got := eval[string](t, b, `document.getElementById("voters-imported-summary").textContent + " | " + [...document.querySelectorAll("#voters-list-counts tbody tr")].map((r) => r.dataset.style + ":" + r.lastChild.textContent).join(" ")`); got != "Change 1 recorded: 2 voters added, 1 refused lines left out. | center:2" {
		t.Fatalf("voter list import: %q", got)
	}
	posted := ident.board.listChanges()
	if len(posted) != 1 {
		t.Fatalf("identity service posted %d list changes", len(posted))
	}
	change, err := record.DecodeVoterListChange(posted[0])
	if err != nil || change.VerifySignature() != nil || change.Kind != record.ListBuilt || change.OfficialID != "list-official-1" ||
		len(change.Counts) != 1 || change.Counts[0] != (record.StyleCount{BallotStyle: "center", Voters: 2}) || change.Added != 2 ||
		!bytes.Equal(change.OfficialKey[:], ident.ListKey.Public().(ed25519.PublicKey)) || change.ContextHash != box.View().Context.ExtendedHash {
		t.Fatalf("posted change %+v: %v", change, err)
	}
	// Both attempts are in the operations log under the official who made
	// them: refused, then recorded.
	_, ops := apiCall("GET", "/officials/operations?limit=50", olgaToken, nil)
	var outcomes []string
	for _, o := range ops["operations"].([]any) {
		if m := o.(map[string]any); m["action"] == "voter-list" && m["user"] == "olga" && m["outcome"] != "requested" {
			outcomes = append(outcomes, m["outcome"].(string))
		}
	}
	if slices.Sort(outcomes); strings.Join(outcomes, " ") != "official_refused ok" {
		t.Fatalf("voter-list operations: %v", outcomes)
	}
	b.do(t, "imported list", chromedp.ScrollIntoView(chromedp.CSS("#voters-imported")))
	b.shots(t, "08d-voter-list-imported")

	// The identity service posts its keys and the voter list; the
	// official opens voting; voters cast.
	g := *f
	g.Box, g.ElectionID = box, "city-2027"
	if err := g.SetupIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	act("open", "11-confirm-open")
	b.do(t, "open", waitFor(`document.getElementById("phase")?.dataset.phase === "open"`))
	const voters = 5
	for i := range voters {
		v, err := g.NewVoter(ctx, [32]byte{}, "")
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := g.Prepare(v, g.Selection(i, v.Style))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := box.Cast(ctx, v.Token, raw); err != nil {
			t.Fatal(err)
		}
	}
	b.do(t, "turnout", waitFor(`document.getElementById("turnout").textContent.includes("`+fmt.Sprint(voters)+`")`))
	b.shots(t, "12-dashboard-open")
	act("close", "13-confirm-close")
	act("cleanse", "")
	act("start-mixing", "")
	runAll := func(run func(context.Context, trustee.Board, *trustee.Keys, trustee.Options) error) {
		var wg sync.WaitGroup
		es := make([]error, 3)
		for i := range done {
			wg.Add(1)
			go func() {
				defer wg.Done()
				es[i] = run(ctx, newBoard(), done[i], trustee.Options{RoundWait: 2 * time.Minute, Fingerprint: fp, Replay: replays[i]})
			}()
		}
		wg.Wait()
		for i, err := range es {
			if err != nil {
				t.Fatalf("trustee %d: %v", i+1, err)
			}
		}
	}
	runAll(trustee.RunMix)
	b.goTo(t, "#/e/city-2027", "e")
	b.shots(t, "14-dashboard-mixed")
	act("start-decrypting", "")
	runAll(trustee.RunDecrypt)
	act("tally", "15-confirm-tally")
	b.do(t, "result", waitFor(`!!document.getElementById("result") && document.getElementById("phase").dataset.phase === "tallied"`))
	b.shots(t, "16-result")

	// The result shown, its CSV and the protocol are the board's.
	var res []uint64
	box.WithState(func(s *election.State) {
		for _, c := range s.Result.Contests {
			res = append(res, c.Counts...)
		}
	})
	// The CSV as the browser downloads it.
	dl := t.TempDir()
	b.do(t, "download the CSV", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
		return err
	}), chromedp.Click(chromedp.CSS("#result-csv")))
	var csv string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		raw, err := os.ReadFile(filepath.Join(dl, "city-2027-result.csv"))
		if err == nil && len(raw) > 0 {
			csv = string(raw)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CSV downloaded: %v", err)
		}
	}
	var shown []uint64
	for _, line := range strings.Split(strings.TrimSpace(csv), "\r\n")[1:] {
		f := strings.Split(line, ",")
		var n uint64
		fmt.Sscanf(strings.Trim(f[len(f)-1], `"`), "%d", &n)
		shown = append(shown, n)
	}
	if fmt.Sprint(shown) != fmt.Sprint(res) || !strings.HasPrefix(csv, "contest,choice,votes\r\n\"council\",\"") {
		t.Fatalf("CSV %q, result on the board %v", csv, res)
	}
	note := eval[string](t, b, `document.getElementById("final-checkpoint").textContent`)
	if !strings.HasPrefix(note, "evote.test/board/city-2027\n") {
		t.Fatalf("protocol checkpoint %q", note)
	}
	b.do(t, "print media", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	b.shots(t, "17-protocol-print")
	if eval[bool](t, b, `getComputedStyle(document.getElementById("actions")).display !== "none" || getComputedStyle(document.querySelector("header")).display !== "none"`) {
		t.Fatal("the printed protocol shows the console's controls")
	}
	b.do(t, "screen media", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: ""})
		return err
	}))

	// The record verifies against the fingerprint the console published.
	rec, err := verify.Fetch(ctx, http.DefaultClient, verify.BoardURL(srv.URL, m.Board.Origin), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep := verify.Verify(rec, verify.Options{Fingerprint: fp}); !rep.OK {
		t.Fatalf("the record does not verify: %+v", rep.Failures)
	}

	// The operations log names who did what.
	b.goTo(t, "#/operations", "operations")
	b.do(t, "filter the log", chromedp.SendKeys(chromedp.CSS("#ops-filter"), "action:tally"),
		waitFor(`[...document.querySelectorAll("#operations tbody tr")].length >= 2 && [...document.querySelectorAll("#operations tbody tr")].every((r) => r.textContent.includes("action:tally") && r.textContent.includes("olga"))`))
	b.do(t, "clear the filter", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("ops-filter"); f.value = ""; f.dispatchEvent(new Event("input")); })()`))
	b.shots(t, "18-operations")

	// An observer sees the election but every action is disabled, and the
	// API refuses his action.
	b.do(t, "sign out", chromedp.Click(chromedp.CSS("#signout")), waitFor(`document.body.dataset.screen === "login"`))
	signIn("oleg", "an observer's password", olegSecret)
	if !eval[bool](t, b, `document.querySelector('#nav a[href="#/new"]').hidden && document.querySelector('#nav a[href="#/accounts"]').hidden`) {
		t.Fatal("an observer is offered the new election or accounts screens")
	}
	b.goTo(t, "#/e/city-2027", "e")
	if !eval[bool](t, b, `[...document.querySelectorAll("button[data-action]")].every((b) => b.disabled)`) {
		t.Fatal("an observer has an enabled action")
	}
	b.shots(t, "19-observer")
	// On a tablet the dashboard fits the width (wide tables scroll inside).
	b.do(t, "tablet", chromedp.EmulateViewport(820, 1180, chromedp.EmulateScale(2), chromedp.EmulateTouch))
	b.goTo(t, "#/e/city-2027", "e")
	b.shots(t, "20-tablet-dashboard")
	if w := eval[int](t, b, `document.documentElement.scrollWidth`); w > 820 {
		t.Fatalf("the dashboard is %d px wide on an 820 px tablet", w)
	}
	olegToken := eval[string](t, b, `JSON.parse(sessionStorage.getItem("evote-console-session")).token`)
	if st, out := apiCall("POST", "/elections/"+f.ElectionID+"/actions/qualified", olegToken, nil); st != 403 {
		t.Fatalf("observer's action: %d %v", st, out)
	}
	if st, out := apiCall("POST", "/elections/manifest", olegToken, map[string]any{}); st != 403 {
		t.Fatalf("observer composes a manifest: %d %v", st, out)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Fatalf("page problems (CSP, scripts): %v", p)
	}
}
