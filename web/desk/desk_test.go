package desk

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
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

// post posts a form as the desk's own page does, with extra headers.
func post(t *testing.T, srv *httptest.Server, path string, form url.Values, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
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
	resp, err := http.Get(srv.URL + "/?lang=ru")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Security-Policy") != CSP || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("headers %v", resp.Header)
	}
	if !strings.Contains(string(b), `lang="ru"`) || !strings.Contains(string(b), h.dicts["ru"]["lookup_title"]) || strings.Contains(string(b), "<script") {
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
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
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
