package desk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"evote/client"
	"evote/station"
)

// Test people of scriptedStation, by PIN.
const (
	pinFree     = "21505199012345" // on the list, not marked: a mark is recorded at once
	pinRows     = "21505199054321" // on the list, not marked: a mark's row is waited for
	pinMarked   = "11203198512345" // marked already
	pinStranger = "21505199099999" // not on the list
)

// scriptedStation answers as the services would for the people above; a
// mark's row is published once release is closed.
type scriptedStation struct {
	mu      sync.Mutex
	marked  map[string]bool
	release chan struct{}
}

func newScripted() *scriptedStation {
	return &scriptedStation{marked: map[string]bool{pinMarked: true}, release: make(chan struct{})}
}

var errScripted = io.ErrUnexpectedEOF

func (s *scriptedStation) Lookup(_ context.Context, pin string) (*Voter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch pin {
	case pinFree, pinRows, pinMarked:
		v := &Voter{BallotStyle: "style-ala-archa"}
		if s.marked[pin] {
			v.MarkedAt = time.Date(2027, 1, 3, 9, 30, 0, 0, time.UTC)
		}
		return v, nil
	case pinStranger:
		return nil, &Refusal{Key: "not_on_list", Err: errScripted}
	}
	return nil, &Refusal{Key: "pin", Err: errScripted}
}

func (s *scriptedStation) Mark(ctx context.Context, pin string) (*Marked, error) {
	v, err := s.Lookup(ctx, pin)
	if err != nil {
		return nil, err
	}
	if !v.MarkedAt.IsZero() {
		return nil, &Refusal{Key: "already_marked", Err: errScripted}
	}
	s.mu.Lock()
	s.marked[pin] = true
	s.mu.Unlock()
	m := &Marked{BallotStyle: v.BallotStyle, At: time.Date(2027, 1, 3, 10, 0, 0, 0, time.UTC)}
	if pin == pinRows {
		m.Await = func(ctx context.Context) (*Published, error) {
			select {
			case <-s.release:
				return &Published{Slot: 4, Style: v.BallotStyle, Index: 118, RowHash: "d4kTz0cX7g8m2aZ1c0v9yQ", Position: 3}, nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return m, nil
}

func newDesk(t *testing.T, st Station) (*Handler, *httptest.Server) {
	t.Helper()
	h, err := New(st, Info{ElectionID: "pilot-2027", StationID: "station-bishkek-1", OfficialID: "poll-official-1", Wait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

// staff is the browser of the desk's staff: it opened the printed
// address, so it holds the desk's cookie; it follows no redirect.
func staff(t *testing.T, h *Handler, srv *httptest.Server) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(srv.URL + h.Path())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?" {
		t.Fatalf("the printed address: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return c
}

// send makes a request with c, with extra headers (Host sets the Host).
func send(t *testing.T, c *http.Client, method, u string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestDeskRequests: the desk's answers to requests of every kind: its
// headers, the look-up and mark, the refusals with their explanation, and
// the forms no other page can post (no token, another site or origin).
func TestDeskRequests(t *testing.T) {
	st := newScripted()
	h, srv := newDesk(t, st)
	c := staff(t, h, srv)
	post := func(t *testing.T, srv *httptest.Server, path string, form url.Values, header ...string) (*http.Response, string) {
		t.Helper()
		return send(t, c, http.MethodPost, srv.URL+path, form, header...)
	}
	resp, b := send(t, c, http.MethodGet, srv.URL+"/?lang=ru", nil)
	if resp.Header.Get("Content-Security-Policy") != CSP || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers %v", resp.Header)
	}
	if !strings.Contains(b, `lang="ru"`) || !strings.Contains(b, h.dicts["ru"]["lookup_title"]) || strings.Contains(b, "<script") {
		t.Fatalf("the Russian start page: %s", b)
	}
	form := func(kv ...string) url.Values {
		f := url.Values{"token": {h.token}, "lang": {"en"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	resp, page := post(t, srv, "/lookup", form("pin", pinFree))
	if resp.StatusCode != 200 || !strings.Contains(page, "style-ala-archa") || !strings.Contains(page, `action="/mark"`) || !strings.Contains(page, `value="`+pinFree+`"`) {
		t.Fatalf("look-up: %d %s", resp.StatusCode, page)
	}
	for _, c := range []struct {
		name   string
		path   string
		form   url.Values
		header []string
		status int
		want   string
	}{
		{"a mark without the document checked", "/mark", form("pin", pinFree), nil, 422, `data-refusal="err_not_checked"`},
		{"a mark without the token", "/mark", url.Values{"pin": {pinFree}, "checked": {"yes"}}, nil, 403, "refused"},
		{"a mark with another token", "/mark", url.Values{"pin": {pinFree}, "checked": {"yes"}, "token": {strings.Repeat("0", 64)}}, nil, 403, "refused"},
		{"a mark from another site", "/mark", form("pin", pinFree, "checked", "yes"), []string{"Sec-Fetch-Site", "cross-site"}, 403, "refused"},
		{"a mark from another origin", "/mark", form("pin", pinFree, "checked", "yes"), []string{"Origin", "http://evil.example"}, 403, "refused"},
		{"a look-up from another site", "/lookup", form("pin", pinFree), []string{"Sec-Fetch-Site", "same-site"}, 403, "refused"},
		{"a look-up of a stranger", "/lookup", form("pin", pinStranger), nil, 422, `data-refusal="err_not_on_list"`},
		{"a look-up of a malformed PIN", "/lookup", form("pin", "123"), nil, 422, `data-refusal="err_pin"`},
		{"a look-up of a marked voter", "/lookup", form("pin", pinMarked), nil, 200, `id="already"`},
		{"a mark of a marked voter", "/mark", form("pin", pinMarked, "checked", "yes"), nil, 422, `data-refusal="err_already_marked"`},
	} {
		resp, page := post(t, srv, c.path, c.form, c.header...)
		if resp.StatusCode != c.status || !strings.Contains(page, c.want) {
			t.Errorf("%s: %d, want %d with %q: %.300s", c.name, resp.StatusCode, c.status, c.want, page)
		}
	}
	if st.marked[pinFree] {
		t.Fatal("a refused mark was recorded")
	}
	// The marked voter's page offers no mark.
	if _, page := post(t, srv, "/lookup", form("pin", pinMarked)); strings.Contains(page, `action="/mark"`) || strings.Contains(page, pinMarked) {
		t.Error("the page of a marked voter offers a mark or repeats the PIN")
	}
	resp, page = post(t, srv, "/mark", form("pin", pinFree, "checked", "yes"))
	if resp.StatusCode != 200 || !strings.Contains(page, `data-view="marked"`) || strings.Contains(page, pinFree) {
		t.Fatalf("mark: %d %s", resp.StatusCode, page)
	}
	// Deniable re-voting: the mark's row is waited for on a page that
	// refreshes itself, then shown on the board.
	resp, _ = post(t, srv, "/mark", form("pin", pinRows, "checked", "yes"))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/marks/[0-9a-f]{32}\?lang=en$`).MatchString(loc) {
		t.Fatalf("a mark in deniable re-voting mode: %d %q", resp.StatusCode, loc)
	}
	get := func(path string) (int, string) {
		resp, b := send(t, c, http.MethodGet, srv.URL+path, nil)
		return resp.StatusCode, b
	}
	if code, page := get(loc); code != 200 || !strings.Contains(page, `data-view="waiting"`) || !strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatalf("waiting: %d %s", code, page)
	}
	close(st.release)
	for i := 0; ; i++ {
		_, page := get(loc)
		if strings.Contains(page, `data-view="published"`) {
			if !strings.Contains(page, "118") || strings.Contains(page, `http-equiv="refresh"`) {
				t.Fatalf("published: %s", page)
			}
			break
		}
		if i > 200 {
			t.Fatal("the row never showed as published")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for path, want := range map[string]int{"/marks/" + strings.Repeat("a", 32): 404, "/nope": 404} {
		if code, _ := get(path); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	if code, _ := get("/mark"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /mark: %d", code)
	}
}

// TestTranslations fails on a key the page uses (the template's T calls,
// the refusals) that a language lacks or leaves empty, and on Cyrillic in
// the Uzbek file.
func TestTranslations(t *testing.T) {
	page, err := staticFS.ReadFile("static/page.html")
	if err != nil {
		t.Fatal(err)
	}
	need := map[string]bool{"err_not_checked": true}
	for _, m := range regexp.MustCompile(`\{\{T "([a-z_]+)"\}\}`).FindAllStringSubmatch(string(page), -1) {
		need[m[1]] = true
	}
	for _, r := range Refusals {
		need["err_"+r] = true
	}
	if len(need) < 30 {
		t.Fatalf("only %d keys found: the pattern no longer matches the page", len(need))
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
		for k := range d {
			if !need[k] {
				t.Errorf("%s: %q is not used", l, k)
			}
			if l == "uz" && strings.IndexFunc(d[k], func(r rune) bool { return unicode.Is(unicode.Cyrillic, r) }) >= 0 {
				t.Errorf("uz: %q is in Cyrillic", k)
			}
		}
	}
}

// TestDeskStrangers: who lacks the printed address is refused every page,
// whatever it sends; a page of another site whose name is rebound to this
// machine (DNS rebinding) is refused by its Host, even with the desk's
// cookie and token. (Before, a rebound page read the token from GET / and
// marked a voter: the review's TestAttackDNSRebinding.)
func TestDeskStrangers(t *testing.T) {
	st := newScripted()
	h, srv := newDesk(t, st)
	c := staff(t, h, srv)
	host := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(host, ":")
	stranger := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	mark := url.Values{"token": {h.token}, "pin": {pinFree}, "checked": {"yes"}, "lang": {"en"}}
	for _, c := range []struct {
		name   string
		c      *http.Client
		method string
		path   string
		form   url.Values
		header []string
		status int
	}{
		{"a page without the key", stranger, "GET", "/", nil, nil, 401},
		{"the address with another key", stranger, "GET", "/?key=" + strings.Repeat("0", 64), nil, nil, 401},
		{"a mark without the key, with the token", stranger, "POST", "/mark", mark, []string{"Sec-Fetch-Site", "same-origin"}, 401},
		{"a rebound name, GET", c, "GET", "/", nil, []string{"Host", "evil.example:" + port, "Cookie", cookieName + "=" + h.key}, 421},
		{"a rebound name, the mark", c, "POST", "/mark", mark, []string{"Host", "evil.example:" + port, "Cookie", cookieName + "=" + h.key, "Origin", "http://evil.example:" + port, "Sec-Fetch-Site", "same-origin"}, 421},
		{"a rebound name with the desk's key", stranger, "GET", h.Path(), nil, []string{"Host", "evil.example:" + port}, 421},
	} {
		resp, page := send(t, c.c, c.method, srv.URL+c.path, c.form, c.header...)
		if resp.StatusCode != c.status || strings.Contains(page, h.token) {
			t.Errorf("%s: %d, want %d (token shown: %v)", c.name, resp.StatusCode, c.status, strings.Contains(page, h.token))
		}
	}
	if st.marked[pinFree] {
		t.Fatal("a stranger marked a voter")
	}
	// The staff's own browser, by the names of this machine.
	for _, name := range []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port} {
		// (A client's jar picks cookies by the Host it sends: the browser's
		// cookie of that name, given here.)
		if resp, _ := send(t, c, "GET", srv.URL+"/", nil, "Host", name, "Cookie", cookieName+"="+h.key); resp.StatusCode != 200 {
			t.Errorf("Host %s: %d", name, resp.StatusCode)
		}
	}
	// The style sheet is no secret.
	if resp, _ := send(t, stranger, "GET", srv.URL+"/desk.css", nil); resp.StatusCode != 200 {
		t.Errorf("desk.css: %d", resp.StatusCode)
	}
}

// TestAwaitPublishedWithoutIndex: a ballot box that says a mark's row is
// published but names no board entry gets a refusal, not a nil
// dereference in the desk's waiting goroutine, which would end the
// process (the review's TestAttackPublishedWithoutIndex).
func TestAwaitPublishedWithoutIndex(t *testing.T) {
	box := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"row_hash":"x","status":"published"}`)
	}))
	defer box.Close()
	d := &StationDesk{St: &station.Station{ElectionID: "e", Box: client.New(box.URL)}, Poll: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := d.await(ctx, &station.Result{Revote: true, Receipt: &client.RowReceipt{RowHash: "x", Status: "queued"}})
	var r *Refusal
	if !errors.As(err, &r) || r.Key != "marked_no_row" {
		t.Fatalf("await of a published row without an index: %v", err)
	}
}
