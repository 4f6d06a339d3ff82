package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	"evote/store/sqlite"
	"evote/tally"
	"evote/verify"
	"evote/web/portal"
)

// recordBoard serves one record through the board's read routes that the
// verifier uses (spec §7.9: the log list, pages of entries, the latest
// checkpoint's note): what any mirror of a record can serve. The test
// serves a tampered record with it.
type recordBoard struct {
	rec    *verify.Record
	id     string
	origin string
	// page, if not 0, caps the entries of a page below what was asked;
	// busy[start] is how many requests of the page at start are answered
	// 503 first (a board under load), and asked counts the requests of
	// each page of more than one entry.
	page  uint64
	mu    sync.Mutex
	busy  map[uint64]int
	asked map[uint64]int
}

func newRecordBoard(t testing.TB, rec *verify.Record) *recordBoard {
	n, err := bulletin.ParseNote(rec.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := bulletin.ParseCheckpoint(n.Body)
	if err != nil {
		t.Fatal(err)
	}
	id := bulletin.LogIDFor(cp.Origin)
	return &recordBoard{rec: rec, id: hex.EncodeToString(id[:]), origin: cp.Origin}
}

func (rb *recordBoard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	base := "/api/v1/board/" + rb.id
	n := uint64(len(rb.rec.Entries))
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/api/v1/board":
		json.NewEncoder(w).Encode(map[string]any{"logs": []map[string]any{{"log_id": rb.id, "origin": rb.origin, "size": n}}})
	case base + "/checkpoint/note":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(rb.rec.Checkpoint)
	case base + "/entries":
		start, err1 := strconv.ParseUint(r.URL.Query().Get("start"), 10, 64)
		limit, err2 := strconv.ParseUint(r.URL.Query().Get("limit"), 10, 64)
		if err1 != nil || err2 != nil || start > n || limit == 0 || limit > 1000 {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		if rb.page > 0 {
			limit = min(limit, rb.page)
		}
		rb.mu.Lock()
		if limit > 1 {
			if rb.asked == nil {
				rb.asked = map[uint64]int{}
			}
			rb.asked[start]++
		}
		busy := rb.busy[start] > 0 && limit > 1
		if busy {
			rb.busy[start]--
		}
		rb.mu.Unlock()
		if busy {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		type ev struct {
			Index     uint64 `json:"index"`
			Canonical string `json:"canonical"`
		}
		page := struct {
			Start   uint64 `json:"start"`
			Size    uint64 `json:"size"`
			Entries []ev   `json:"entries"`
		}{Start: start, Size: n, Entries: []ev{}}
		for i := start; i < min(n, start+limit); i++ {
			page.Entries = append(page.Entries, ev{i, base64.StdEncoding.EncodeToString(rb.rec.Entries[i])})
		}
		json.NewEncoder(w).Encode(page)
	default:
		http.NotFound(w, r)
	}
}

// finishedElection runs a whole election on the ballot box fixture: two
// constituencies' voters cast, the trustees mix and decrypt, the result is
// on the board. It returns the fixture and the tracking code of one cast
// ballot.
func finishedElection(t *testing.T, e *env, voters int) ballot.TrackingCode {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Witnesses: 2, ElectionID: "portal-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	e.f = f
	t.Cleanup(func() {
		for _, s := range e.servers {
			s.Close()
		}
		f.Registry.Close()
		st.Close()
	})
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	var styles []string
	f.Box.WithState(func(s *election.State) {
		for _, st := range s.Manifest.BallotStyles {
			styles = append(styles, st.ID)
		}
	})
	var code ballot.TrackingCode
	for i := range voters {
		// Two thirds in the first constituency, the rest in the second.
		style := styles[0]
		if i%3 == 2 {
			style = styles[1%len(styles)]
		}
		v, err := f.NewVoter(ctx, [32]byte{}, style)
		if err != nil {
			t.Fatal(err)
		}
		raw, p, err := f.Prepare(v, f.Selection(i, style))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
			t.Fatal(err)
		}
		code = p.Ballot.TrackingCode()
	}
	if _, _, err := f.Tally(ctx, boxtest.Hooks{}); err != nil {
		t.Fatal(err)
	}
	return code
}

// portalShot saves a screenshot under testartifacts/web/portal.
func portalShot(t *testing.T, b *browser, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(artefacts(t), "portal")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// open navigates the portal to a view and waits until the view is drawn.
func open(t *testing.T, b *browser, url, view string) {
	t.Helper()
	b.do(t, "open "+view, jsDo(`document.body && (document.body.dataset.ready = "")`),
		chromedp.Navigate(url), waitFor(`document.body.dataset.ready === "`+view+`"`))
}

// jsDo runs a script for its effect.
func jsDo(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[any](`(() => { `+js+`; return null })()`))
		return err
	})
}

// runVerify types the fingerprint in the verify view and waits for the
// report.
func runVerify(t *testing.T, b *browser, fp string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Minute)
	defer cancel()
	err := chromedp.Do(ctx, jsDo(`document.getElementById("verify-fp").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#verify-fp"), fp), chromedp.Click(chromedp.CSS("#verify-run")),
		waitFor(`["valid", "invalid", "error"].includes(document.body.dataset.verify)`))
	if err != nil {
		t.Fatalf("verify: %v (problems %v)", err, b.Problems())
	}
	return eval[string](t, b, `document.body.dataset.verify`)
}

// TestPortalEndToEnd is issue 18's acceptance test: the portal of a
// finished election in Chromium at a phone's size, each view in two
// languages (screenshots in testartifacts/web/portal); the fingerprint
// compared; a ballot found by its shown tracking code and its inclusion
// proof checked; the in-browser verification of the whole record to
// VALID, with the result evote-verify recomputes; then a record with one
// entry changed, served by the test, to INVALID naming the failing check.
func TestPortalEndToEnd(t *testing.T) {
	path := chromium(t)
	if testing.Short() {
		t.Skip("a whole election and Chromium")
	}
	e := &env{}
	code := finishedElection(t, e, 9)
	ctx := context.Background()
	p, srv := portalServer(t, e.f.Registry)
	url := serve(t, e, srv.Handler())
	var fp ballot.Fingerprint
	var firstBallot uint64
	e.f.Box.WithState(func(s *election.State) { fp = s.Manifest.Fingerprint() })
	id := e.f.ElectionID

	// The record as evote-verify reads it from this server.
	board := verify.BoardURL(url, e.f.Box.Log().Origin())
	rec, err := verify.Fetch(ctx, nil, board, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, raw := range rec.Entries {
		if en, err := bulletin.DecodeEntry(raw); err == nil && en.Type == bulletin.TypeBallot {
			firstBallot = uint64(i)
			break
		}
	}
	if firstBallot == 0 {
		t.Fatal("no ballot in the record")
	}
	native := verify.Verify(rec, verify.Options{Fingerprint: ballot.ExpectFingerprint(fp)})
	if !native.OK {
		t.Fatalf("the record does not verify natively: %v", native.Failures)
	}

	b := newBrowser(t, path)
	var honestResults string
	for i, l := range []string{"en", "ru"} {
		q := url + "/portal/?lang=" + l + "#e=" + id + "&v="
		open(t, b, q+"overview", "overview")
		if got := eval[string](t, b, `document.getElementById("fingerprint").textContent`); got != fp.String() {
			t.Fatalf("the portal shows fingerprint %q, the manifest's is %q", got, fp.String())
		}
		b.do(t, "compare the fingerprint", chromedp.SendKeys(chromedp.CSS("#fp-compare"), strings.ToLower(fp.String())),
			waitFor(`document.body.dataset.fingerprint === "match"`),
			waitFor(`document.querySelectorAll("#witnesses .ok").length === 2`),
			waitFor(`document.querySelectorAll("#lifecycle tr").length === 7`),
			waitFor(`document.body.dataset.lifecycle === "checked"`))
		portalShot(t, b, fmt.Sprintf("%d-%s-1-overview", i+1, l))

		open(t, b, q+"turnout", "turnout")
		if got := eval[string](t, b, `document.getElementById("turnout-total").textContent`); got != "9" {
			t.Errorf("turnout total %q, want 9", got)
		}
		portalShot(t, b, fmt.Sprintf("%d-%s-2-turnout", i+1, l))

		open(t, b, q+"board&at="+fmt.Sprint(firstBallot), "board")
		b.do(t, "inclusion proof", chromedp.Click(chromedp.CSS(`li.entry.mark button`)),
			waitFor(`document.querySelector("li.entry.mark .proof.ok") !== null`))
		if got := eval[string](t, b, `document.querySelector("li.entry.mark strong").textContent`); !strings.HasPrefix(got, "#"+fmt.Sprint(firstBallot)+" ") || !strings.Contains(got, map[string]string{"en": "ballot", "ru": "бюллетень"}[l]) {
			t.Errorf("marked entry %q", got)
		}
		portalShot(t, b, fmt.Sprintf("%d-%s-3-board", i+1, l))

		open(t, b, q+"ballot", "ballot")
		b.do(t, "find the ballot by its shown code", chromedp.SendKeys(chromedp.CSS("#ballot-code"), code.String()),
			chromedp.Click(chromedp.CSS(`#ballot-form button`)), waitFor(`document.body.dataset.ballot === "included"`))
		portalShot(t, b, fmt.Sprintf("%d-%s-4-ballot", i+1, l))

		open(t, b, q+"results", "results")
		if n := eval[int](t, b, `document.querySelectorAll("#results .contest").length`); n != len(native.Result) {
			t.Errorf("results show %d contests, the verifier recomputed %d", n, len(native.Result))
		}
		if got := eval[string](t, b, `document.body.dataset.results`); got != "included" {
			t.Errorf("the result entry is %q, not included in the cosigned checkpoint", got)
		}
		if l == "en" {
			honestResults = eval[string](t, b, `document.getElementById("results").innerText`)
		}
		portalShot(t, b, fmt.Sprintf("%d-%s-5-results", i+1, l))

		open(t, b, q+"verify", "verify")
		if got := runVerify(t, b, fp.String()); got != "valid" {
			t.Fatalf("in-browser verification: %s: %s", got, eval[string](t, b, `document.getElementById("verify-out").textContent`))
		}
		if counts := eval[string](t, b, `document.getElementById("verify-counts").textContent`); strings.Contains(counts, "NaN") {
			t.Errorf("counts: %s", counts)
		}
		if n := eval[int](t, b, `document.querySelectorAll("#recomputed tbody tr").length`); n != len(native.Result) {
			t.Errorf("recomputed result: %d contests, want %d", n, len(native.Result))
		}
		text := eval[string](t, b, `document.getElementById("report-text").textContent`)
		var want strings.Builder
		native.WriteText(&want)
		if !sameReport(text, want.String()) {
			t.Errorf("the browser's report differs from evote-verify's:\n%s\n---\n%s", text, want.String())
		}
		portalShot(t, b, fmt.Sprintf("%d-%s-6-verify", i+1, l))
	}
	// A wrong fingerprint: nothing is verified against another election.
	open(t, b, url+"/portal/?lang=en#e="+id+"&v=verify", "verify")
	if got := runVerify(t, b, strings.Repeat("AAAA-", 7)+"AAAA"); got != "error" {
		t.Errorf("another fingerprint: %s", got)
	}

	// A server that answers the look-up with the ballot at another
	// position and that position's true inclusion proof, as it would for
	// a ballot it left out of its log: the page checks the proof for the
	// leaf hash of the entry it shows, so the ballot is not "included".
	// (It was, while the page took the leaf hash from the answer.)
	liar := serve(t, e, lyingLookup(srv.Handler(), rec.Entries, firstBallot+1, false))
	open(t, b, liar+"/portal/?lang=en#e="+id+"&v=ballot", "ballot")
	b.do(t, "a ballot with another entry's proof", chromedp.SendKeys(chromedp.CSS("#ballot-code"), code.String()),
		chromedp.Click(chromedp.CSS(`#ballot-form button`)), waitFor(`document.body.dataset.ballot === "bad"`))
	portalShot(t, b, "7-en-ballot-lied")

	// A server that answers the look-up with another voter's ballot,
	// truly on the board, at its true position with its true proof: not
	// the ballot looked up (the page said "included" before).
	var otherBallot uint64
	for i := firstBallot + 1; i < uint64(len(rec.Entries)); i++ {
		if en, err := bulletin.DecodeEntry(rec.Entries[i]); err == nil && en.Type == bulletin.TypeBallot && ballot.TrackingCodeOf(en.Payload) != code {
			otherBallot = i
			break
		}
	}
	liar = serve(t, e, lyingLookup(srv.Handler(), rec.Entries, otherBallot, true))
	open(t, b, liar+"/portal/?lang=en#e="+id+"&v=ballot", "ballot")
	b.do(t, "a look-up answered with another ballot", chromedp.SendKeys(chromedp.CSS("#ballot-code"), code.String()),
		chromedp.Click(chromedp.CSS(`#ballot-form button`)), waitFor(`document.body.dataset.ballot === "other"`))

	// A server whose board's first entry is the manifest signed by a key
	// of its own, which also signs a result of its own numbers, listed as
	// the tally past the cosigned checkpoint (so no inclusion is asked):
	// the page showed those numbers as the authority's before. Now the
	// first entry is not the log's first in the cosigned tree, its author
	// is nobody's authority, and neither lifecycle nor result checks.
	liar = serve(t, e, forgedAuthority(t, srv.Handler(), id, rec.Entries))
	open(t, b, liar+"/portal/?lang=en#e="+id+"&v=overview", "overview")
	if got := eval[string](t, b, `document.body.dataset.lifecycle`); got != "bad" {
		t.Errorf("a forged first entry: the lifecycle is %q", got)
	}
	open(t, b, liar+"/portal/?lang=en#e="+id+"&v=results", "results")
	if got := eval[string](t, b, `document.body.dataset.results`); got != "bad" {
		t.Errorf("a forged first entry: the results are %q", got)
	}
	portalShot(t, b, "7-en-results-forged-first-entry")

	// A server whose lifecycle says the election was tallied at the
	// decrypting transition's position: that mark is refused, the phase
	// shown is the last one checked.
	liar = serve(t, e, lyingJSON(srv.Handler(), "/api/v1/elections/"+id, func(v map[string]any) {
		lc := v["lifecycle"].([]any)
		lc[len(lc)-1].(map[string]any)["index"] = lc[len(lc)-2].(map[string]any)["index"]
	}))
	open(t, b, liar+"/portal/?lang=en#e="+id+"&v=overview", "overview")
	if got := eval[string](t, b, `document.body.dataset.lifecycle`); got != "bad" {
		t.Errorf("a lying lifecycle is %q", got)
	}
	if got := b.text(t, "#phase"); got != "decrypting" {
		t.Errorf("the phase shown after a lying lifecycle: %q", got)
	}
	portalShot(t, b, "7-en-overview-lied")

	// Servers that lie about the result entry. One changes the JSON
	// "payload" of the entry it serves (the page used to lay out exactly
	// that: any numbers a server chose): the page lays out the entry's own
	// bytes, the true result. Another serves the entry signed by a key of
	// its own: not the election authority's, so no result is shown.
	resultAt := uint64(len(rec.Entries) - 1)
	if en, err := bulletin.DecodeEntry(rec.Entries[resultAt]); err != nil || en.Type != bulletin.TypeResult {
		t.Fatalf("the record's last entry is not its result (%v)", err)
	}
	for _, lie := range []struct {
		name, want string
		change     func(entry map[string]any)
	}{
		{"another payload", "included", func(entry map[string]any) {
			en, _ := bulletin.DecodeEntry(rec.Entries[resultAt])
			r, err := tally.DecodeResult(en.Payload)
			if err != nil {
				t.Fatal(err)
			}
			for i := range r.Contests {
				for k := range r.Contests[i].Counts {
					r.Contests[i].Counts[k] += 100
				}
			}
			entry["payload"] = base64.StdEncoding.EncodeToString(r.Encode())
		}},
		{"another signer", "bad", func(entry map[string]any) {
			entry["canonical"] = base64.StdEncoding.EncodeToString(resignedEntry(t, rec.Entries[resultAt]))
		}},
	} {
		liar := serve(t, e, lyingEntry(srv.Handler(), resultAt, lie.change))
		open(t, b, liar+"/portal/?lang=en#e="+id+"&v=results", "results")
		if got := eval[string](t, b, `document.body.dataset.results`); got != lie.want {
			t.Errorf("%s: the results view is %q, want %q", lie.name, got, lie.want)
		}
		if got := eval[string](t, b, `document.getElementById("results").innerText`); lie.want == "included" && got != honestResults {
			t.Errorf("%s: the results view shows\n%s\nnot the published result\n%s", lie.name, got, honestResults)
		}
		portalShot(t, b, "7-en-results-"+strings.ReplaceAll(lie.name, " ", "-"))
	}

	// The same record with one ballot's signature changed, served by a
	// mirror: INVALID, naming the check.
	bad := &verify.Record{Checkpoint: rec.Checkpoint, Entries: append([][]byte{}, rec.Entries...)}
	bad.Entries[firstBallot] = append([]byte{}, bad.Entries[firstBallot]...)
	bad.Entries[firstBallot][len(bad.Entries[firstBallot])-1] ^= 0x01
	want := verify.Verify(bad, verify.Options{Fingerprint: ballot.ExpectFingerprint(fp)})
	first, _ := want.First()
	mirror := serve(t, e, portal.Mount(p, newRecordBoard(t, bad)))
	open(t, b, mirror+"/portal/?lang=en#v=verify", "verify")
	if got := runVerify(t, b, fp.String()); got != "invalid" {
		t.Fatalf("tampered record: %s", got)
	}
	msg := eval[string](t, b, `document.getElementById("first-failure").textContent`)
	if first.Check != verify.CheckEntrySignature || !strings.Contains(msg, string(first.Check)) || !strings.Contains(msg, "#"+fmt.Sprint(firstBallot)) {
		t.Errorf("first failure shown %q, evote-verify's %s", msg, first)
	}
	if got := eval[string](t, b, `document.querySelector('tr[data-check="entry.signature"] td').textContent`); got != "FAIL" {
		t.Errorf("entry.signature row: %q", got)
	}
	portalShot(t, b, "7-en-verify-tampered")

	// A mirror serving pages of 5 entries, busy (503) twice at the third
	// page: the module retries that page, never starting over, to VALID.
	flaky := newRecordBoard(t, rec)
	flaky.page, flaky.busy = 5, map[uint64]int{10: 2}
	mirror = serve(t, e, portal.Mount(p, flaky))
	open(t, b, mirror+"/portal/?lang=en#v=verify", "verify")
	if got := runVerify(t, b, fp.String()); got != "valid" {
		t.Fatalf("busy mirror: %s: %s", got, eval[string](t, b, `document.getElementById("verify-out").textContent`))
	}
	flaky.mu.Lock()
	for start, n := range flaky.asked {
		if want := map[bool]int{true: 3, false: 1}[start == 10]; n != want || start%5 != 0 {
			t.Errorf("busy mirror: page at %d asked %d times, want %d: %v", start, n, want, flaky.asked)
		}
	}
	if len(flaky.asked) != (len(rec.Entries)+4)/5 {
		t.Errorf("busy mirror: pages asked %v, want %d", flaky.asked, (len(rec.Entries)+4)/5)
	}
	flaky.mu.Unlock()
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("page errors: %v", p)
	}
}

// portalServer is the read API of reg with the portal mounted, as evoted
// serves it.
func portalServer(t *testing.T, reg *ballotbox.Registry) (*portal.Handler, *api.Server) {
	t.Helper()
	p, err := portal.New(portal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer()
	srv.Registry = reg
	srv.Web = portal.Mount(p, nil)
	return p, srv
}

// rewriteJSON serves h, but lets change rewrite the JSON answer of every
// request whose path match accepts (an answer that is not a 200 JSON
// object passes unchanged).
func rewriteJSON(h http.Handler, match func(path string) bool, change func(v map[string]any)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !match(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		rr := httptest.NewRecorder()
		r.Header.Del("Accept-Encoding") // the answer rewritten as JSON
		h.ServeHTTP(rr, r)
		var v map[string]any
		if rr.Code != http.StatusOK || json.Unmarshal(rr.Body.Bytes(), &v) != nil {
			w.WriteHeader(rr.Code)
			w.Write(rr.Body.Bytes())
			return
		}
		change(v)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	})
}

// lyingJSON serves h, but changes its JSON answer at path.
func lyingJSON(h http.Handler, path string, change func(v map[string]any)) http.Handler {
	return rewriteJSON(h, func(p string) bool { return p == path }, change)
}

// lyingLookup answers the ballot look-up (GET …/ballots/{code}) of h with
// the entry at position at in the answer's place: its position, its true
// inclusion proof and leaf hash and, with bytes, its canonical bytes too
// (without: the looked-up ballot's bytes, put at another position).
func lyingLookup(h http.Handler, entries [][]byte, at uint64, bytes bool) http.Handler {
	return rewriteJSON(h, func(p string) bool { return strings.Contains(p, "/ballots/") }, func(v map[string]any) {
		inc := v["inclusion"].(map[string]any)
		size := uint64(inc["size"].(float64))
		tree := bulletin.NewTree()
		for _, raw := range entries[:size] {
			tree.AppendLeaves(bulletin.LeafHash(raw))
		}
		p, _ := tree.InclusionProof(at, size)
		path := []string{}
		for _, x := range p {
			path = append(path, hex.EncodeToString(x[:]))
		}
		leaf := bulletin.LeafHash(entries[at])
		entry := v["entry"].(map[string]any)
		entry["index"] = at
		if bytes {
			entry["canonical"] = base64.StdEncoding.EncodeToString(entries[at])
		}
		inc["index"], inc["path"], inc["leaf_hash"] = at, path, hex.EncodeToString(leaf[:])
	})
}

// forgedAuthority serves h, but as a server with a key of its own would
// lie: the board's first entry is the manifest signed by that key; the
// lifecycle puts the tally past the end of the log, where the entries
// route answers with a result signed by that key, every count plus 100.
func forgedAuthority(t *testing.T, h http.Handler, id string, entries [][]byte) http.Handler {
	_, k, _ := ed25519.GenerateKey(nil)
	sign := func(raw []byte, payload []byte) string {
		en, err := bulletin.DecodeEntry(raw)
		if err != nil {
			t.Fatal(err)
		}
		if payload == nil {
			payload = en.Payload
		}
		f, err := bulletin.NewEntry(en.Log, en.Type, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), payload)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(f.Encode())
	}
	last := entries[len(entries)-1]
	en, _ := bulletin.DecodeEntry(last)
	r, err := tally.DecodeResult(en.Payload)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.Contests {
		for j := range r.Contests[i].Counts {
			r.Contests[i].Counts[j] += 100
		}
	}
	beyond := uint64(len(entries) + 5)
	manifest, result := sign(entries[0], nil), sign(last, r.Encode())
	lied := lyingJSON(h, "/api/v1/elections/"+id, func(v map[string]any) {
		lc := v["lifecycle"].([]any)
		lc[len(lc)-1].(map[string]any)["index"] = beyond
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/entries") {
			lied.ServeHTTP(w, r)
			return
		}
		switch r.URL.Query().Get("start") {
		case "0":
			lyingEntry(h, 0, func(entry map[string]any) { entry["canonical"] = manifest }).ServeHTTP(w, r)
		case fmt.Sprint(beyond):
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]any{"size": beyond + 1, "entries": []any{map[string]any{"index": beyond, "canonical": result}}})
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// lyingEntry serves h, but changes the entry at position at in an answer
// of GET …/entries that holds it.
func lyingEntry(h http.Handler, at uint64, change func(entry map[string]any)) http.Handler {
	return rewriteJSON(h, func(p string) bool { return strings.HasSuffix(p, "/entries") }, func(v map[string]any) {
		es, _ := v["entries"].([]any)
		for _, x := range es {
			if entry := x.(map[string]any); uint64(entry["index"].(float64)) == at {
				change(entry)
			}
		}
	})
}

// resignedEntry is raw signed again by a fresh key: a well-formed,
// validly signed entry that the election authority did not sign.
func resignedEntry(t *testing.T, raw []byte) []byte {
	en, err := bulletin.DecodeEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	_, k, _ := ed25519.GenerateKey(nil)
	f, err := bulletin.NewEntry(en.Log, en.Type, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), en.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return f.Encode()
}

// sameReport compares two text reports but for the times.
func sameReport(a, b string) bool {
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "time ") {
				continue
			}
			f := strings.Fields(l)
			for i, w := range f {
				if strings.HasSuffix(w, "s") && strings.Contains(w, ".") {
					f[i] = "T"
				}
			}
			out = append(out, strings.Join(f, " "))
		}
		return strings.Join(out, "\n")
	}
	return norm(a) == norm(b)
}

var portalBench = flag.String("portal.bench", "", "comma-separated record directories (EVOTE_VERIFY_WRITE of verify's BenchmarkVerifyRecord): measure the in-browser verification of each next to evote-verify's")

// TestPortalVerifyMeasure measures the in-browser verification (time, the
// module's memory as Go reports it, the peak resident memory of the
// browser's processes) of the records named by -portal.bench, and
// evote-verify's (time, peak resident memory) on the same records. It
// reports figures; it asserts only that both say VALID.
//
//	EVOTE_VERIFY_VOTERS=1000 EVOTE_VERIFY_WRITE=/tmp/rec1000 go test ./verify -run '^$' -bench VerifyRecord -benchtime 1x
//	go test ./web -run TestPortalVerifyMeasure -portal.bench /tmp/rec1000 -v -timeout 60m
func TestPortalVerifyMeasure(t *testing.T) {
	if *portalBench == "" {
		t.Skip("no -portal.bench records")
	}
	path := chromium(t)
	bin := filepath.Join(t.TempDir(), "evote-verify")
	if out, err := exec.Command("go", "build", "-o", bin, "evote/cmd/evote-verify").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	p, err := portal.New(portal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range strings.Split(*portalBench, ",") {
		rec, err := verify.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		m0, err := bulletin.DecodeEntry(rec.Entries[0])
		if err != nil {
			t.Fatal(err)
		}
		m, err := ballot.DecodeManifest(m0.Payload)
		if err != nil {
			t.Fatal(err)
		}
		fp := m.Fingerprint().String()

		// evote-verify on the record directory, on all cores and on one
		// (the module runs on one thread).
		native := func(workers string) (secs float64, rssMiB int64, out string) {
			cmd := exec.Command(bin, "--fingerprint", fp, "--no-progress", "--workers", workers, dir)
			start := time.Now()
			b, err := cmd.CombinedOutput()
			secs = time.Since(start).Seconds()
			if err != nil || !strings.Contains(string(b), "VALID: every check holds.") {
				t.Fatalf("evote-verify %s: %v\n%s", dir, err, b)
			}
			return secs, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss / 1024, string(b)
		}
		nativeSecs, nativeRSS, out := native(strconv.Itoa(runtime.NumCPU()))
		oneSecs, oneRSS, _ := native("1")
		ballots := strings.Fields(strings.SplitN(strings.SplitN(out, "ballots (", 2)[0], "in-person marks, ", 2)[1])[0]

		// The same record from a mirror, in Chromium.
		e := &env{}
		url := serve(t, e, portal.Mount(p, newRecordBoard(t, rec)))
		profiles := filepath.Dir(t.TempDir())
		b := newBrowserFor(t, path, 40*time.Minute)
		open(t, b, url+"/portal/?lang=en#v=verify", "verify")
		stop := make(chan struct{})
		peak := make(chan [2]int64)
		go func() { peak <- sampleRSS(profiles, stop) }()
		if got := runVerify(t, b, fp); got != "valid" {
			t.Fatalf("%s in the browser: %s", dir, eval[string](t, b, `document.getElementById("verify-out").textContent`))
		}
		close(stop)
		pk := <-peak
		rep := eval[map[string]any](t, b, `window.portalLastReport`)
		t.Logf("%s: %s ballots, %d entries", dir, ballots, len(rec.Entries))
		t.Logf("  evote-verify: %.1f s on %d cores, peak RSS %d MiB; %.1f s on one, %d MiB", nativeSecs, runtime.NumCPU(), nativeRSS, oneSecs, oneRSS)
		t.Logf("  Chromium:     %.1f s (%.1f s downloading), Go heap in the module %.0f MiB (runtime.MemStats.Sys), peak RSS of the largest browser process %d MiB, of all %d MiB",
			rep["seconds"], rep["download"], rep["sys"].(float64)/(1<<20), pk[0]>>20, pk[1]>>20)
		for _, s := range e.servers {
			s.Close()
		}
	}
}

// newBrowserFor is newBrowser with a longer life (a measurement of a
// large record outlasts the acceptance tests' four minutes).
func newBrowserFor(t *testing.T, path string, d time.Duration) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(360, 740),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, d)
	t.Cleanup(cancel3)
	// The first action starts the browser on this context (not on the
	// shorter one of a later step).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)); err != nil {
		t.Fatal(err)
	}
	return &browser{ctx: ctx}
}

// sampleRSS samples, until stop, the resident memory of the browsers
// whose profile is under dir and of all their descendants (zygotes,
// renderers with the worker, GPU and utility processes), and returns the
// peak of the largest process and of their sum, in bytes.
func sampleRSS(dir string, stop chan struct{}) [2]int64 {
	var peak [2]int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return peak
		case <-tick.C:
		}
		procs, _ := filepath.Glob("/proc/[0-9]*")
		parent, rss, ours := map[string]string{}, map[string]int64{}, map[string]bool{}
		for _, p := range procs {
			pid := filepath.Base(p)
			if b, err := os.ReadFile(p + "/cmdline"); err == nil && strings.Contains(string(b), dir) {
				ours[pid] = true
			}
			if st, err := os.ReadFile(p + "/stat"); err == nil {
				// pid (comm) state ppid …; comm may hold spaces.
				if i := strings.LastIndexByte(string(st), ')'); i > 0 {
					if f := strings.Fields(string(st[i+1:])); len(f) > 1 {
						parent[pid] = f[1]
					}
				}
			}
			if st, err := os.ReadFile(p + "/statm"); err == nil {
				if f := strings.Fields(string(st)); len(f) > 1 {
					pages, _ := strconv.ParseInt(f[1], 10, 64)
					rss[pid] = pages * int64(os.Getpagesize())
				}
			}
		}
		for grew := true; grew; {
			grew = false
			for pid, pp := range parent {
				if !ours[pid] && ours[pp] {
					ours[pid], grew = true, true
				}
			}
		}
		var sum, big int64
		for pid := range ours {
			sum += rss[pid]
			big = max(big, rss[pid])
		}
		peak[0], peak[1] = max(peak[0], big), max(peak[1], sum)
	}
}
