// Package desk serves the polling station's desk page: the screen on
// which the staff of a polling station (a consulate abroad, say) look up
// the voter in front of them by the PIN of their identity document and
// record that they voted in person, which voids their online ballots
// (spec §8.8, §15.16.4). It is what `evote station lookup` and `mark` do,
// for staff who are not programmers: `evote station serve` runs it on the
// station's own machine, beside the station's and the official's keys,
// which never leave it.
//
// The pages are rendered on the server, in ky, ru, uz and en, with no
// script at all. Every form carries a token of this process, and a
// request from another site is refused (Sec-Fetch-Site, Origin): a web
// page the station's browser opens cannot mark anyone. A PIN is never
// written to a log or kept after the answer.
package desk

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

//go:embed static
var staticFS embed.FS

// Languages are the desk's languages, in the manifest's order.
var Languages = []string{"ky", "ru", "uz", "en"}

// CSP is the desk's Content-Security-Policy: no script, this origin's
// style, forms only to this origin, never framed.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Voter is what a look-up says of the voter: no name.
type Voter struct {
	BallotStyle string
	MarkedAt    time.Time // zero if not marked
}

// Marked is what a mark did. In deniable re-voting mode the mark is a
// row on the board: Await waits until it is published and checked on
// the station's own copy of the board, and returns where it is.
type Marked struct {
	BallotStyle string
	At          time.Time
	Await       func(ctx context.Context) (*Published, error) // nil: nothing to wait for
}

// Published is where a mark's row is on the board.
type Published struct {
	Slot     uint32
	Style    string
	Index    uint64
	RowHash  string
	Position int
}

// A Station looks voters up and marks them: StationDesk over package
// station, the identity service and the ballot box.
type Station interface {
	Lookup(ctx context.Context, pin string) (*Voter, error)
	Mark(ctx context.Context, pin string) (*Marked, error)
}

// Refusal is an error the page explains in the staff's language: Key
// names the explanation (err_<key>), Err is the cause, shown below it.
type Refusal struct {
	Key string
	Err error
}

func (r *Refusal) Error() string { return r.Key + ": " + r.Err.Error() }
func (r *Refusal) Unwrap() error { return r.Err }

// Refusals are the keys a Refusal may carry; the test requires each in
// every language.
var Refusals = []string{"pin", "not_on_list", "already_marked", "not_open", "unregistered", "official_refused", "marked_no_row", "rate_limited", "unreachable", "not_published", "conflict"}

// Info names the desk on every page.
type Info struct {
	ElectionID, StationID, OfficialID string
	// Wait bounds the wait for a mark's row on the board.
	Wait time.Duration
}

// Handler serves the desk.
type Handler struct {
	st    Station
	info  Info
	token string // in every form: a page of another site cannot post one
	key   string // in the address printed at start, then in a cookie
	tpl   *template.Template
	dicts map[string]map[string]string
	css   []byte

	mu   sync.Mutex
	jobs map[string]*job // marks waiting for the board, by id
}

// job is a mark whose row the desk waits for.
type job struct {
	marked *Marked
	done   bool
	pub    *Published
	err    error
}

// New returns the desk for st.
func New(st Station, info Info) (*Handler, error) {
	h := &Handler{st: st, info: info, dicts: map[string]map[string]string{}, jobs: map[string]*job{}}
	var t, k [32]byte
	rand.Read(t[:])
	rand.Read(k[:])
	h.token, h.key = hex.EncodeToString(t[:]), hex.EncodeToString(k[:])
	for _, l := range Languages {
		b, err := staticFS.ReadFile("static/i18n/" + l + ".json")
		if err != nil {
			return nil, err
		}
		d := map[string]string{}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("desk: %s.json: %w", l, err)
		}
		h.dicts[l] = d
	}
	var err error
	if h.css, err = staticFS.ReadFile("static/desk.css"); err != nil {
		return nil, err
	}
	h.tpl, err = template.New("page.html").Funcs(template.FuncMap{"T": func(string) string { return "" }}).ParseFS(staticFS, "static/page.html")
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Path is the address to open first, relative to the desk's origin: it
// carries the desk's key, which the desk then keeps in a cookie of the
// browser that opened it. Whoever lacks it (another user or process of
// the machine, a page of another site) is refused every page.
func (h *Handler) Path() string { return "/?key=" + h.key }

// cookieName is the cookie holding the desk's key.
const cookieName = "evote-desk"

// StaticFS is the desk's files (templates, style, translations), for
// the translations test.
func StaticFS() fs.FS { return staticFS }

// page is what the template draws.
type page struct {
	Lang, Token string
	Info        Info
	Langs       []string
	View        string // "start", "voter", "marked", "waiting", "published", "refused"
	PIN         string // kept only in the voter view's mark form
	Voter       *Voter
	Marked      *Marked
	Published   *Published
	Refusal     string // err_<key>
	Detail      string
	Job         string
	Refresh     bool
}

// ServeHTTP routes the desk's pages.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	// same-origin, not no-referrer: with no-referrer a browser posts a
	// form with "Origin: null", which sameSite must refuse.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cache-Control", "no-store")
	// DNS rebinding: a name of another site resolving to this machine
	// reaches the desk with that name as its Host; only this machine's
	// own names are served.
	if !loopbackHost(r.Host) {
		http.Error(w, "desk: only this machine's own address is served (127.0.0.1, [::1], localhost)", http.StatusMisdirectedRequest)
		return
	}
	if r.URL.Path == "/desk.css" || r.URL.Path == "/favicon.ico" {
		h.serveStatic(w, r)
		return
	}
	if !h.keyed(w, r) {
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 4096) // a PIN, a token, a box
	}
	if r.Method == http.MethodPost && !h.sameSite(r) {
		http.Error(w, "desk: a request from another site or without this page's token is refused", http.StatusForbidden)
		return
	}
	p := &page{Lang: lang(r), Token: h.token, Info: h.info, Langs: Languages, View: "start"}
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
	case r.URL.Path == "/lookup" && r.Method == http.MethodPost:
		h.lookup(r, p)
	case r.URL.Path == "/mark" && r.Method == http.MethodPost:
		if id := h.mark(r, p); id != "" {
			http.Redirect(w, r, "/marks/"+id+"?lang="+p.Lang, http.StatusSeeOther)
			return
		}
	case strings.HasPrefix(r.URL.Path, "/marks/") && r.Method == http.MethodGet:
		if !h.status(strings.TrimPrefix(r.URL.Path, "/marks/"), p) {
			http.NotFound(w, r)
			return
		}
	case r.URL.Path == "/" || r.URL.Path == "/lookup" || r.URL.Path == "/mark":
		hd.Set("Allow", map[string]string{"/": "GET", "/lookup": "POST", "/mark": "POST"}[r.URL.Path])
		http.Error(w, "desk: method not allowed", http.StatusMethodNotAllowed)
		return
	default:
		http.NotFound(w, r)
		return
	}
	h.render(w, p)
}

// serveStatic serves the style sheet (and no favicon), to anyone on this
// machine: they hold no secret.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/favicon.ico" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Write(h.css)
}

// keyed admits a request of the browser that opened the printed address:
// that address's key is swapped for a cookie (HttpOnly, SameSite=Strict,
// this origin only) and the key taken out of the address; every later
// request must carry the cookie. Anything else gets 401 and is told to
// open the printed address.
func (h *Handler) keyed(w http.ResponseWriter, r *http.Request) bool {
	if k := r.URL.Query().Get("key"); k != "" && r.Method == http.MethodGet {
		if subtle.ConstantTimeCompare([]byte(k), []byte(h.key)) != 1 {
			http.Error(w, "desk: this is not the address evote station serve printed", http.StatusUnauthorized)
			return false
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: h.key, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		q := r.URL.Query()
		q.Del("key")
		http.Redirect(w, r, "/?"+q.Encode(), http.StatusSeeOther)
		return false
	}
	c, err := r.Cookie(cookieName)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(h.key)) != 1 {
		http.Error(w, "desk: open the address evote station serve printed (it holds the desk's key)", http.StatusUnauthorized)
		return false
	}
	return true
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(host string) bool {
	name, _, err := net.SplitHostPort(host)
	if err != nil {
		name = host
	}
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(name, "[]"))
	return ip != nil && ip.IsLoopback()
}

// sameSite accepts a form posted by this desk's own page: the browser
// says it came from this origin (or names none), and it carries the
// token of this process.
func (h *Handler) sameSite(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("token")), []byte(h.token)) == 1
}

func lang(r *http.Request) string {
	l := r.FormValue("lang")
	if slices.Contains(Languages, l) {
		return l
	}
	return "ky"
}

func (h *Handler) lookup(r *http.Request, p *page) {
	pin := r.PostFormValue("pin")
	v, err := h.st.Lookup(r.Context(), pin)
	if err != nil {
		h.refuse(p, err)
		return
	}
	p.View, p.Voter = "voter", v
	if v.MarkedAt.IsZero() {
		p.PIN = pin
	}
}

// mark records the vote in person; it returns the id of the job to wait
// for in deniable re-voting mode.
func (h *Handler) mark(r *http.Request, p *page) string {
	if r.PostFormValue("checked") != "yes" {
		p.Refusal = "err_not_checked"
		p.View = "refused"
		return ""
	}
	m, err := h.st.Mark(r.Context(), r.PostFormValue("pin"))
	if err != nil {
		h.refuse(p, err)
		return ""
	}
	if m.Await == nil {
		p.View, p.Marked = "marked", m
		return ""
	}
	var id [16]byte
	rand.Read(id[:])
	key := hex.EncodeToString(id[:])
	j := &job{marked: m}
	h.mu.Lock()
	h.jobs[key] = j
	h.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), h.info.Wait)
		defer cancel()
		pub, err := m.Await(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = &Refusal{Key: "not_published", Err: err}
		}
		h.mu.Lock()
		j.done, j.pub, j.err = true, pub, err
		h.mu.Unlock()
	}()
	return key
}

// status draws a mark's wait for the board, or its outcome.
func (h *Handler) status(id string, p *page) bool {
	h.mu.Lock()
	j, ok := h.jobs[id]
	var done bool
	var pub *Published
	var err error
	if ok {
		done, pub, err = j.done, j.pub, j.err
	}
	h.mu.Unlock()
	if !ok {
		return false
	}
	p.Marked, p.Job = j.marked, id
	switch {
	case !done:
		p.View, p.Refresh = "waiting", true
	case err != nil:
		h.refuse(p, err)
		p.Marked = j.marked
	default:
		p.View, p.Published = "published", pub
	}
	return true
}

// refuse sets the refusal the page explains.
func (h *Handler) refuse(p *page, err error) {
	p.View, p.Refusal, p.Detail = "refused", "err_unreachable", err.Error()
	var rf *Refusal
	if errors.As(err, &rf) {
		p.Refusal, p.Detail = "err_"+rf.Key, rf.Err.Error()
	}
}

func (h *Handler) render(w http.ResponseWriter, p *page) {
	d := h.dicts[p.Lang]
	var b bytes.Buffer
	t, err := h.tpl.Clone()
	if err == nil {
		t.Funcs(template.FuncMap{"T": func(k string) string {
			if s, ok := d[k]; ok {
				return s
			}
			return k
		}})
		err = t.Execute(&b, p)
	}
	if err != nil {
		http.Error(w, "desk: the page could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.View == "refused" {
		w.WriteHeader(http.StatusUnprocessableEntity)
	}
	w.Write(b.Bytes())
}
