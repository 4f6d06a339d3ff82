package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gin-gonic/gin"

	"evote/api"
	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/election"
	"evote/idp"
	"evote/idp/idpapi"
	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/store/sqlite"
	"evote/tally/revote"
	"evote/web"
)

// The voting page in deniable re-voting mode (spec chapter 15, §15.13
// step 7): the whole system on loopback as in env, with the election in
// that mode, the identity service answering credentials with the token,
// and the ballot box's clock moved by the test to end a publication slot
// instead of waiting for it.

// boxClock is the ballot box's clock: real time plus an offset the test
// moves forward (as the demo's, cmd/evote/democoercion.go). The identity
// service and its tokens keep real time.
type boxClock struct{ offset atomic.Int64 }

func (c *boxClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *boxClock) advanceTo(t time.Time) {
	if d := time.Until(t); d > time.Duration(c.offset.Load()) {
		c.offset.Store(int64(d))
	}
}

// revoteIdentityBoard is the identity service's side of the board
// in-process: it posts through the box, signs credentials as
// revote-credential entries with the identity key, and reports the close.
type revoteIdentityBoard struct{ f *boxtest.Fixture }

func (b revoteIdentityBoard) Post(ctx context.Context, t uint16, payload []byte) (uint64, error) {
	p, err := b.f.PostIdentity(ctx, bulletin.Type(t), payload)
	if err != nil {
		return 0, err
	}
	return p.Index, nil
}

func (b revoteIdentityBoard) SignCredential(payload []byte) ([64]byte, error) {
	e, err := bulletin.NewEntry(b.f.Box.Log().ID(), bulletin.TypeRevoteCredential, [32]byte(b.f.Identity.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(b.f.Identity), payload)
	if err != nil {
		return [64]byte{}, err
	}
	return e.Signature, nil
}

func (b revoteIdentityBoard) VotingClosed(context.Context) (bool, error) {
	return b.f.Box.View().Phase >= election.PhaseClosed, nil
}

// revoteSource is the box's credential source in-process: requests signed
// with the box's authority key, answered by the identity service (as over
// POST /v1/revote/box-credentials). svc is set once the service runs.
type revoteSource struct {
	mu  sync.Mutex
	svc *idp.Service
	key ed25519.PrivateKey
}

func (s *revoteSource) ask(ctx context.Context, electionID string, items []idp.BoxItem) ([]ballotbox.SignedCredential, error) {
	s.mu.Lock()
	svc := s.svc
	s.mu.Unlock()
	if svc == nil {
		return nil, fmt.Errorf("the identity service is not running yet")
	}
	r := &idp.BoxRequest{ElectionID: electionID, At: time.Now().Unix(), Items: items}
	copy(r.Signature[:], ed25519.Sign(s.key, idp.BoxRequestMessage(electionID, r.At, items)))
	cs, err := svc.BoxCredentials(ctx, "box", r)
	if err != nil {
		return nil, err
	}
	out := make([]ballotbox.SignedCredential, len(cs))
	for i, c := range cs {
		out[i] = ballotbox.SignedCredential{Credential: c.Credential, Signature: c.Signature}
	}
	return out, nil
}

func (s *revoteSource) DummyCredentials(ctx context.Context, electionID string, items []ballotbox.DummyItem) ([]ballotbox.SignedCredential, error) {
	var its []idp.BoxItem
	for _, it := range items {
		its = append(its, idp.BoxItem{Kind: idp.BoxDummy, Style: it.Style, Index: it.Index, Identifier: [32]byte(revote.DummyID(electionID, it.Style, it.Index).Bytes()), DeviceKey: it.DeviceKey})
	}
	return s.ask(ctx, electionID, its)
}

func (s *revoteSource) PaddingCredentials(ctx context.Context, electionID string, items []ballotbox.PaddingItem) ([]ballotbox.SignedCredential, error) {
	var its []idp.BoxItem
	for _, it := range items {
		its = append(its, idp.BoxItem{Kind: idp.BoxPadding, Style: it.Style, Pseudonym: it.Voter, DeviceKey: it.DeviceKey})
	}
	return s.ask(ctx, electionID, its)
}

// revoteEnv is env for an election in deniable re-voting mode; tamper,
// when set, makes the identity service's sign-in answer carry a wrong s
// (a server the page must not trust).
type revoteEnv struct {
	*env
	clk    *boxClock
	m      *ballot.Manifest
	tamper atomic.Bool
}

// revoteSlotSeconds is the election's publication slot: long enough that
// the page's wait screen is seen, short enough that moving the box's clock
// past two slots keeps the identity service's tokens (30 minutes) valid.
const revoteSlotSeconds = 120

func newRevoteEnv(t *testing.T) *revoteEnv {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	clk := &boxClock{}
	src := &revoteSource{}
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Witnesses: 2, Now: clk.now, Credentials: src,
		Coercion: ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: revoteSlotSeconds, SlotRows: 4, MaxBallots: 3}})
	if err != nil {
		t.Fatal(err)
	}
	src.key = f.Server.Authority
	e := &revoteEnv{env: &env{f: f, sms: &otp.Recorder{}}, clk: clk}
	t.Cleanup(func() {
		for _, s := range e.servers {
			s.Close()
		}
		f.Registry.Close()
		st.Close()
	})
	// The election: the fixture's parties, deniable re-voting with
	// single-choice contests only, voting from now, the page's module hash.
	var ts []ballot.Trustee
	for i, k := range f.Trustees {
		hp := f.HPKE[i].Public()
		ts = append(ts, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: [32]byte(k.Public().(ed25519.PublicKey)), HPKEKey: hp[:]})
	}
	m := ballot.SampleManifest("web-revote", ts, 2, [32]byte(f.Identity.Public().(ed25519.PublicKey)), f.Server.Anchors("evote.test/board/web-revote"))
	m.ClientHash = web.ClientHash()
	now := uint64(time.Now().Unix())
	m.VotingStart, m.VotingEnd = now, now+7*86400
	m.Revote = ballot.LastBallotCounts
	m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: revoteSlotSeconds, SlotRows: 4, MaxBallots: 3}
	keep := map[string]bool{}
	var cs []ballot.Contest
	for _, c := range m.Contests {
		if c.Kind == ballot.SingleChoice {
			cs = append(cs, c)
			keep[c.ID] = true
		}
	}
	m.Contests = cs
	for i := range m.BallotStyles {
		m.BallotStyles[i].Contests = slices.DeleteFunc(slices.Clone(m.BallotStyles[i].Contests), func(id string) bool { return !keep[id] })
	}
	e.m = m
	if f.Box, err = f.Registry.Create(ctx, m.Encode()); err != nil {
		t.Fatal(err)
	}
	f.ElectionID = m.ElectionID
	if err := f.Keygen(ctx); err != nil {
		t.Fatal(err)
	}
	// The trustees' tag keys, before open (spec §15.1).
	if err := f.PostTagKeys(ctx); err != nil {
		t.Fatal(err)
	}
	var (
		ext    [32]byte
		el     *ballot.Election
		styles []string
	)
	f.Box.WithState(func(s *election.State) {
		ext, el = s.Context.ExtendedHash, s.Election()
		for _, st := range s.Manifest.BallotStyles {
			styles = append(styles, st.ID)
		}
	})
	day := time.Now().UTC().Truncate(24 * time.Hour)
	sim, err := registry.NewSimulated(registry.SimulatedConfig{Seed: "evote-web-revote", Constituencies: styles[:1], PerConstituency: 20, ElectionDay: day})
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
	brd := revoteIdentityBoard{f}
	svc, err := idp.New(ctx, idp.Config{ElectionID: f.ElectionID, ContextHash: ext, ElectionDay: day, PseudonymKey: pkey,
		Registry: sim, Sender: e.sms, Store: ids, Board: brd, Issuer: iss, Authority: auth, Logger: quiet,
		Abuse:  idp.AbuseConfig{ClientRate: 1e6, ClientBurst: 1e6, ClientMaxFailures: 1 << 30},
		Revote: &idp.RevoteConfig{PublicKey: el.PublicKey, Signer: brd, Styles: styles, BoxKey: f.Server.Authority.Public().(ed25519.PublicKey), MaxBallots: 3}})
	if err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	src.svc = svc
	src.mu.Unlock()
	ih, err := idpapi.New(svc, iss, idpapi.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	idpURL := serve(t, e.env, e.tampering(ih))
	for _, p := range sim.People() {
		if p.Reason == nil {
			e.people = append(e.people, p)
		}
	}
	var regs []registry.Citizen
	for _, p := range e.people {
		regs = append(regs, p.Citizen)
	}
	if err := submitList(ctx, idpURL, f, ext, list, voterlist.FromRegister(regs, day)); err != nil {
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
	h := (&api.Server{Registry: f.Registry, Web: wh}).Handler()
	e.url = serve(t, e.env, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(b))
		e.mu.Lock()
		e.bodies = append(e.bodies, recorded{r.Method, r.URL.Path, b})
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	return e
}

// portalFindsRow: the observers' portal, in each language, states the
// election's rules of deniable re-voting, shows no turnout (the board
// hides it until the close) and finds the voter's row by its
// receipt number as typed (lower case, spaces), checked by its module
// against the slot entry and the cosigned checkpoint (spec §15.9, §16.2),
// with the row's tracking code and nothing of whether it counts; a
// mistyped number and an unknown one are said to be so.
func (e *revoteEnv) portalFindsRow(t *testing.T, b *browser, row, code string) {
	t.Helper()
	_, srv := portalServer(t, e.f.Registry)
	base := serve(t, e.env, srv.Handler()) + "/portal/?lang="
	typed := strings.ToLower(strings.ReplaceAll(row, "-", " "))
	for _, l := range []string{"ky", "ru", "uz", "en"} {
		q := base + l + "#e=" + e.f.ElectionID + "&v="
		open(t, b, q+"overview", "overview")
		if got := b.text(t, "#rules"); !strings.Contains(got, fmt.Sprint(revoteSlotSeconds)) {
			t.Fatalf("%s: the overview's rules do not state the slots: %q", l, got)
		}
		portalShot(t, b, "revote-"+l+"-1-overview")
		open(t, b, q+"turnout", "turnout")
		if !eval[bool](t, b, `!document.getElementById("turnout-revote").hidden && document.getElementById("turnout-data").hidden`) {
			t.Fatalf("%s: the turnout view shows counts in deniable re-voting mode", l)
		}
		portalShot(t, b, "revote-"+l+"-1b-turnout")
		open(t, b, q+"board", "board")
		if n := eval[int](t, b, `document.querySelectorAll("li.entry").length`); n == 0 {
			t.Fatalf("%s: the board shows no entry", l)
		}
		portalShot(t, b, "revote-"+l+"-2-board")
		open(t, b, q+"ballot", "ballot")
		b.do(t, "find the row by its receipt number", chromedp.SendKeys(chromedp.CSS("#ballot-code"), typed),
			chromedp.Click(chromedp.CSS(`#ballot-form button`)), waitFor(`document.body.dataset.ballot === "included"`))
		if got := b.text(t, "#ballot-out"); !strings.Contains(got, code) || !strings.Contains(got, row) {
			t.Fatalf("%s: the portal's row %q lacks the tracking code %s or the receipt number %s", l, got, code, row)
		}
		portalShot(t, b, "revote-"+l+"-3-row")
	}
	for _, c := range []struct{ typed, want string }{{row[:40], "bad-number"}, {strings.Repeat("A", 52), "absent"}} {
		b.do(t, "look up "+c.want, chromedp.SetValue(chromedp.CSS("#ballot-code"), c.typed),
			chromedp.Click(chromedp.CSS(`#ballot-form button`)), waitFor(`document.body.dataset.ballot === "`+c.want+`"`))
	}
	for _, p := range b.Problems() {
		if !strings.Contains(p, "404") { // the unknown number's answer
			t.Errorf("portal page error: %s", p)
		}
	}
}

// tampering wraps the identity service: while e.tamper is set, the sign-in
// answer's revote_s is another scalar (its first byte changed), so the
// credential no longer opens to the voter's identifier.
func (e *revoteEnv) tampering(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.tamper.Load() || r.URL.Path != "/v1/auth/verify" {
			h.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		var m map[string]any
		body := rec.Body.Bytes()
		if json.Unmarshal(body, &m) == nil {
			if s, ok := m["revote_s"].(string); ok && s != "" {
				b := []byte(s)
				b[1] = map[bool]byte{true: 'B', false: 'A'}[b[1] == 'A']
				m["revote_s"] = string(b)
				body, _ = json.Marshal(m)
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// lastRowNumber is the receipt number of the last row the page posted:
// its SHA-256 in base32, in groups of four.
func (e *revoteEnv) lastRowNumber(t *testing.T) string {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.bodies) - 1; i >= 0; i-- {
		r := e.bodies[i]
		if r.method != "POST" || !strings.HasSuffix(r.path, "/revote/rows") {
			continue
		}
		var req struct {
			Row string `json:"row"`
		}
		if err := json.Unmarshal(r.body, &req); err != nil {
			t.Fatal(err)
		}
		row, err := base64.RawURLEncoding.DecodeString(req.Row)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(row)
		s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:])
		var groups []string
		for i := 0; i < len(s); i += 4 {
			groups = append(groups, s[i:min(i+4, len(s))])
		}
		return strings.Join(groups, "-")
	}
	t.Fatal("no row posted")
	return ""
}

// publishSlot moves the box's clock past the end of the publication slot
// now running and has the box post its slots (the slot timer would too).
func (e *revoteEnv) publishSlot(t *testing.T) {
	t.Helper()
	start := int64(e.m.VotingStart)
	now := e.clk.now().Unix()
	k := (now-start)/revoteSlotSeconds + 1
	e.clk.advanceTo(time.Unix(start+k*revoteSlotSeconds+1, 0))
	if err := e.f.Box.PostDueSlots(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// signIn opens the page on a fresh browser (a new device), in lang, and
// signs person p in; it waits for view (ballot, or refused).
func (e *revoteEnv) signIn(t *testing.T, b *browser, p *registry.SimPerson, lang, view string) {
	t.Helper()
	// The language is chosen once the module has checked the election:
	// the authority's band then no longer moves the buttons under the tap.
	b.do(t, "open the page", chromedp.Navigate(e.url+"/"), visible("v-lang"), waitFor(`document.body.dataset.ready === "yes"`))
	b.do(t, "choose the language", chromedp.Click(chromedp.CSS(`#lang-big button[data-lang="`+lang+`"]`)),
		visible("v-signin"), waitFor(`!document.getElementById("f-start").hidden`))
	b.do(t, "first factor",
		chromedp.SendKeys(chromedp.CSS("#pin"), p.PIN.Digits()),
		chromedp.SendKeys(chromedp.CSS("#doc"), p.DocumentNumber),
		chromedp.SetValue(chromedp.CSS("#birth"), p.BirthDate.Format(time.DateOnly)),
		chromedp.Click(chromedp.CSS(`#f-start button[type="submit"]`)), visible("f-code"))
	code := codeRe.FindString(e.sms.Last(p.Phone).Text)
	if code == "" {
		t.Fatal("no code texted")
	}
	b.do(t, "second factor", chromedp.SendKeys(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS(`#f-code button[type="submit"]`)),
		visible("v-"+view))
}

// vote chooses candidate i of the first contest, reviews and casts; it
// waits for the wait screen. With audit, the voter first tests the
// encryption (spec §15.9): the prepared row is opened, its choice shown,
// nothing kept on the phone, and a fresh ballot prepared for the cast; it
// returns the audited ballot's tracking code ("" without).
func (e *revoteEnv) vote(t *testing.T, b *browser, p *registry.SimPerson, lang string, i int, audit bool, shot func(string)) string {
	t.Helper()
	b.do(t, "choose", chromedp.Click(chromedp.CSS(fmt.Sprintf("#c0-%d", i))), chromedp.Click(chromedp.CSS(`#f-ballot button[type="submit"]`)),
		visible("v-review"), waitFor(`document.body.dataset.prepared === "yes"`))
	// The audit is offered as in the normal mode.
	if !eval[bool](t, b, `document.getElementById("b-audit").offsetParent !== null`) {
		t.Fatal("the review offers no audit in deniable re-voting mode")
	}
	shot("r1-review")
	audited := ""
	if audit {
		audited = b.text(t, "#review-code")
		audits := e.count("POST", "/api/v1/elections/web-revote/audits")
		b.do(t, "audit", chromedp.Click(chromedp.CSS("#b-audit")), visible("v-audit"), waitFor(`["pending", "published"].includes(document.body.dataset.audit)`))
		if n := e.count("POST", "/api/v1/elections/web-revote/audits"); n != audits+1 {
			t.Fatalf("%d audits posted, want 1", n-audits)
		}
		cands := e.candidates(t, p.Constituency, lang)
		if opened := b.text(t, "#audit-list"); !strings.Contains(opened, cands[i]) {
			t.Fatalf("the audit opens to %q, not to the chosen %q", opened, cands[i])
		}
		if b.text(t, "#audit-code") != audited {
			t.Fatal("the audit names another tracking code than the review's")
		}
		if !strings.Contains(eval[string](t, b, `document.getElementById("v-audit").innerText`), translation(t, lang, "audit_revote_fresh")) {
			t.Fatal("the audit does not say the ballot is never counted and a fresh one is prepared")
		}
		// Nothing that outlives the page: no QR code (cached), no link
		// (history), no file; the code is not in the address.
		if !eval[bool](t, b, `!document.getElementById("audit-qr").getAttribute("src") && !document.getElementById("audit-link").getAttribute("href") &&
			!document.getElementById("audit-file").getAttribute("href") && !location.href.includes(document.getElementById("audit-code").textContent)`) {
			t.Fatal("the audit leaves a QR code, link, file or address behind in deniable re-voting mode")
		}
		if bad := storageLeft(t, b); bad != "" {
			t.Fatalf("the device keeps something after the audit: %s", bad)
		}
		shot("r1a-audit")
		// The opened choice follows a language switch (the module
		// described it in every language).
		b.do(t, "audit in Russian", chromedp.Click(chromedp.CSS(`#langs button[data-lang="ru"]`)), waitFor(`document.documentElement.lang === "ru"`))
		if opened, want := b.text(t, "#audit-list"), e.candidates(t, p.Constituency, "ru")[i]; !strings.Contains(opened, want) {
			t.Fatalf("the audit in Russian opens to %q, not to %q", opened, want)
		}
		b.do(t, "back to "+lang, chromedp.Click(chromedp.CSS(`#langs button[data-lang="`+lang+`"]`)), waitFor(`document.documentElement.lang === "`+lang+`"`))
		b.do(t, "fresh ballot", chromedp.Click(chromedp.CSS("#b-fresh")), visible("v-review"), waitFor(`document.body.dataset.prepared === "yes"`))
		if b.text(t, "#review-code") == audited {
			t.Fatal("the fresh ballot has the audited ballot's tracking code")
		}
	}
	b.do(t, "cast", chromedp.Click(chromedp.CSS("#b-cast")), visible("v-wait"))
	return audited
}

// storageEmpty is what the device keeps after a cast in this mode:
// nothing in web storage, cookies, IndexedDB or the cache API, and no
// receipt number in the address (hence none in the browser's history).
const storageEmpty = `(async () => {
	const bad = [];
	if (localStorage.length) bad.push("localStorage " + localStorage.length);
	if (sessionStorage.length) bad.push("sessionStorage " + sessionStorage.length);
	if (document.cookie) bad.push("cookie " + document.cookie);
	if (indexedDB.databases && (await indexedDB.databases()).length) bad.push("indexedDB");
	if (window.caches && (await caches.keys()).length) bad.push("caches");
	const row = document.getElementById("receipt-row").textContent || document.getElementById("wait-row").textContent;
	if (row && location.href.includes(row)) bad.push("address " + location.href);
	if (history.length > 20) bad.push("history " + history.length);
	return bad.join(", ");
})()`

func storageLeft(t *testing.T, b *browser) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](storageEmpty, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVotingPageRevoteEndToEnd: a voter signs in on the page in deniable
// re-voting mode; the page checks the credential, casts a row, waits
// calmly for the publication slot (the test moves the box's clock), and
// shows the receipt checked against the board, with what it proves and
// what it does not; nothing is kept on the device. The voter re-votes
// from a second device; "check my ballot" by the first receipt number
// shows it on the board in its slot, and nothing about supersession or
// counting. The first device audits a ballot before the cast (spec
// §15.9): the opened choice is shown, nothing is kept, the fresh ballot is
// the one cast, and the second device checks the audit from its tracking
// code. A sign-in whose credential does not check (a wrong s) ends on
// a screen that says not to vote on this phone, and nothing is cast.
// Every new screen is photographed in the four languages.
func TestVotingPageRevoteEndToEnd(t *testing.T) {
	path := chromium(t)
	e := newRevoteEnv(t)
	p := e.people[0]
	b := newBrowser(t, path)
	shot := func(name string) {
		for _, l := range []string{"ky", "ru", "uz", "en"} {
			b.do(t, "switch to "+l, chromedp.Click(chromedp.CSS(`#langs button[data-lang="`+l+`"]`)),
				waitFor(`document.documentElement.lang === "`+l+`"`))
			checkAccessible(t, b)
			b.shot(t, name+"-"+l)
		}
	}
	e.signIn(t, b, p, "en", "ballot")
	audited := e.vote(t, b, p, "en", 0, true, shot)
	if n := e.count("POST", "/api/v1/elections/web-revote/revote/rows"); n != 1 {
		t.Fatalf("%d rows posted, want 1", n)
	}
	if n := e.count("POST", "/api/v1/elections/web-revote/ballots"); n != 0 {
		t.Fatalf("a ballot entry posted in deniable re-voting mode")
	}
	// The wait names the slot's end, in the page's language.
	if got := b.text(t, "#wait-text"); !strings.Contains(got, ":") {
		t.Fatalf("the wait does not say when: %q", got)
	}
	shot("r2-wait")
	e.publishSlot(t)
	b.do(t, "the receipt", visible("v-receipt"))
	rowA := b.text(t, "#receipt-row")
	if want := e.lastRowNumber(t); rowA != want {
		t.Fatalf("receipt number %q, want %q (the posted row's hash in base32)", rowA, want)
	}
	codeA := b.text(t, "#receipt-code")
	for _, id := range []string{"receipt-check", "receipt-row"} {
		if b.text(t, "#"+id) == "" {
			t.Fatalf("#%s is empty", id)
		}
	}
	for _, k := range []string{"receipt_revote_not_counted", "receipt_revote_again", "receipt_revote_nothing_kept"} {
		if !strings.Contains(eval[string](t, b, `document.getElementById("v-receipt").innerText`), translation(t, "en", k)) {
			t.Fatalf("the receipt lacks %s", k)
		}
	}
	if !eval[bool](t, b, `document.getElementById("receipt-qr").offsetParent === null && document.getElementById("receipt-file").offsetParent === null && document.getElementById("receipt-pseudonym").offsetParent === null`) {
		t.Fatal("the receipt offers a QR code, a file or the pseudonym in deniable re-voting mode")
	}
	shot("r3-receipt")
	if bad := storageLeft(t, b); bad != "" {
		t.Fatalf("the device keeps something after the cast: %s", bad)
	}
	if b.text(t, "#receipt-code") == audited {
		t.Fatal("the cast row is the audited one")
	}
	e.portalFindsRow(t, b, rowA, codeA)

	// A re-vote from a second device: another row, another receipt.
	b2 := newBrowser(t, path)
	e.signIn(t, b2, p, "ru", "ballot")
	e.vote(t, b2, p, "ru", 1, false, func(string) {})
	e.publishSlot(t)
	b2.do(t, "the re-vote's receipt", visible("v-receipt"))
	if rowB := b2.text(t, "#receipt-row"); rowB == rowA || b2.text(t, "#receipt-code") == codeA {
		t.Fatal("the re-vote has the first row's receipt")
	}
	if bad := storageLeft(t, b2); bad != "" {
		t.Fatalf("the second device keeps something after the cast: %s", bad)
	}

	// Check my ballot, by the first receipt number, on the second device:
	// on the board, in its slot; nothing else.
	b2.do(t, "open the check", chromedp.Click(chromedp.CSS("#b-check")), visible("v-check"))
	b2.do(t, "check the first row", chromedp.SetValue(chromedp.CSS("#check-row"), rowA), chromedp.Click(chromedp.CSS(`#f-check button[type="submit"]`)),
		waitFor(`document.body.dataset.checked === "row"`))
	got := b2.text(t, "#check-result")
	want := translation(t, "ru", "check_revote_found")
	head := want[:strings.Index(want, "{slot}")]
	if !strings.HasPrefix(got, head) || !strings.Contains(got, codeA) {
		t.Fatalf("check of the first row: %q, want %q with code %s", got, want, codeA)
	}
	b = b2
	shot("r4-check")
	// The result follows the language (the shots end in English).
	en := translation(t, "en", "check_revote_found")
	if got := b2.text(t, "#check-result"); !strings.HasPrefix(got, en[:strings.Index(en, "{slot}")]) {
		t.Fatalf("the check's result did not follow the language: %q", got)
	}
	// A mistyped receipt number is the voter's error, at its field.
	b2.do(t, "a mistyped receipt number", chromedp.SetValue(chromedp.CSS("#check-row"), rowA[:40]), chromedp.Click(chromedp.CSS(`#f-check button[type="submit"]`)),
		waitFor(`document.body.dataset.error === "row_format" && document.getElementById("check-row").getAttribute("aria-invalid") === "true"`))

	// The audit, from its tracking code alone on a fresh page of the
	// second device: pending in the box's pool or published, its opening
	// checked against the prepared row, the chosen candidate shown.
	b2.do(t, "second device: the audit", chromedp.Navigate("about:blank"),
		chromedp.Navigate(e.url+"/#check?e="+e.f.ElectionID+"&c="+audited), visible("v-lang"))
	b2.do(t, "second device: language", chromedp.Click(chromedp.CSS(`#lang-big button[data-lang="en"]`)),
		visible("v-check"), waitFor(`["audit-pending", "audit-published"].includes(document.body.dataset.checked)`))
	if got := b2.text(t, "#check-result"); !strings.Contains(got, audited) {
		t.Fatalf("audit check says %q, not about %s", got, audited)
	}
	if opened := b2.text(t, "#check-list"); !strings.Contains(opened, e.candidates(t, p.Constituency, "en")[0]) {
		t.Fatalf("second device: the audit opens to %q", opened)
	}
	e.checkFingerprintShown(t, b2)
	b2.do(t, "second device: Kyrgyz", chromedp.Click(chromedp.CSS(`#langs button[data-lang="ky"]`)), waitFor(`document.documentElement.lang === "ky"`))
	if opened := b2.text(t, "#check-list"); !strings.Contains(opened, e.candidates(t, p.Constituency, "ky")[0]) || b2.text(t, "#check-result") == "" ||
		!strings.Contains(b2.text(t, "#check-result"), audited) || strings.Contains(b2.text(t, "#check-result"), "Test ballot") {
		t.Fatalf("second device in Kyrgyz: %q, %q", b2.text(t, "#check-result"), opened)
	}
	shot("r4b-audit-check")

	// A sign-in answer whose credential does not open to the voter: the
	// page refuses to cast.
	e.tamper.Store(true)
	rows := e.count("POST", "/api/v1/elections/web-revote/revote/rows")
	b3 := newBrowser(t, path)
	e.signIn(t, b3, e.people[1], "uz", "refused")
	b = b3
	shot("r5-refused")
	if n := e.count("POST", "/api/v1/elections/web-revote/revote/rows"); n != rows {
		t.Fatal("a row was posted after the credential was refused")
	}
	if detail := b3.text(t, "#refused-detail"); !strings.Contains(detail, "identifier") {
		t.Fatalf("refusal detail %q", detail)
	}
}
