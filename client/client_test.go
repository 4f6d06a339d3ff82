package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/bulletin"
)

// fakeBox serves a board of n entries in pages, and records posts.
type fakeBox struct {
	mu      sync.Mutex
	entries []*bulletin.Entry
	posted  []*bulletin.Entry
	answer  func(w http.ResponseWriter) // answer to a trustee post
	corrupt int                         // index of an entry served non-canonically (-1 none)
	// noStream makes the event stream unavailable (Wait must poll);
	// streams counts the streams opened.
	noStream bool
	streams  int
}

func (f *fakeBox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == fmt.Sprintf("/api/v1/board/%064x/stream", 7) {
		f.stream(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == "GET" && r.URL.Path == "/api/v1/elections/e1":
		json.NewEncoder(w).Encode(map[string]any{"election_id": "e1", "log": fmt.Sprintf("%064x", 7)})
	case r.Method == "GET" && r.URL.Path == fmt.Sprintf("/api/v1/board/%064x/entries", 7):
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		limit = min(limit, 3) // small pages, to exercise paging
		if start > len(f.entries) {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"not_found","message":"beyond"}}`)
			return
		}
		end := min(start+limit, len(f.entries))
		page := map[string]any{"start": start, "size": len(f.entries)}
		var views []map[string]any
		for i := start; i < end; i++ {
			enc := f.entries[i].Encode()
			if i == f.corrupt {
				enc = append(enc, 0)
			}
			views = append(views, map[string]any{"index": i, "canonical": base64.StdEncoding.EncodeToString(enc)})
		}
		page["entries"] = views
		if end < len(f.entries) {
			page["next"] = end
		}
		json.NewEncoder(w).Encode(page)
	case r.Method == "POST" && r.URL.Path == "/api/v1/elections/e1/trustee/entries":
		var body struct{ Entry string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(400)
			return
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(body.Entry)
		e, derr := bulletin.DecodeEntry(raw)
		if err != nil || derr != nil {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"code":"bad_entry","message":"no"}}`)
			return
		}
		f.posted = append(f.posted, e)
		f.answer(w)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"no such route"}}`)
	}
}

// stream serves server-sent events from ?from=, announcing entries as they
// are appended, until the client goes away.
func (f *fakeBox) stream(w http.ResponseWriter, r *http.Request) {
	if f.noStream {
		w.WriteHeader(404)
		return
	}
	next, _ := strconv.Atoi(r.URL.Query().Get("from"))
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	f.mu.Lock()
	f.streams++
	f.mu.Unlock()
	for r.Context().Err() == nil {
		f.mu.Lock()
		n := len(f.entries)
		f.mu.Unlock()
		for ; next < n; next++ {
			fmt.Fprintf(w, "id: %d\nevent: entry\ndata: {}\n\n", next)
		}
		fmt.Fprint(w, ": keep-alive\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(5 * time.Millisecond)
	}
}

func newFake(t *testing.T, n int) (*fakeBox, *Board) {
	_, k, _ := ed25519.GenerateKey(nil)
	f := &fakeBox{corrupt: -1, answer: func(w http.ResponseWriter) {
		w.WriteHeader(201)
		fmt.Fprint(w, `{"index":5,"entry_hash":"x","valid":true}`)
	}}
	for i := range n {
		e, err := bulletin.NewEntry(bulletin.LogIDFor("test.example/log"), bulletin.TypeBallot, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		f.entries = append(f.entries, e)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	b, err := NewBoard(context.Background(), New(srv.URL), "e1")
	if err != nil {
		t.Fatal(err)
	}
	b.Poll = 5 * time.Millisecond
	return f, b
}

func TestBoardEntriesPaging(t *testing.T) {
	f, b := newFake(t, 8)
	ctx := context.Background()
	for _, start := range []uint64{0, 1, 7, 8} {
		es, err := b.Entries(ctx, start)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 8-int(start) {
			t.Fatalf("start %d: %d entries", start, len(es))
		}
		for i, e := range es {
			if e.Hash() != f.entries[int(start)+i].Hash() {
				t.Fatalf("start %d: entry %d differs", start, i)
			}
		}
	}
	f.corrupt = 4
	t0 := time.Now()
	if _, err := b.Entries(ctx, 0); err == nil {
		t.Fatal("non-canonical entry accepted")
	}
	if time.Since(t0) > time.Second {
		t.Fatal("a malformed answer was retried")
	}
}

func TestBoardPostAndErrors(t *testing.T) {
	f, b := newFake(t, 1)
	ctx := context.Background()
	p, err := b.Post(ctx, f.entries[0])
	if err != nil || !p.Valid || p.Index != 5 {
		t.Fatalf("post: %+v %v", p, err)
	}
	f.answer = func(w http.ResponseWriter) {
		w.WriteHeader(202)
		fmt.Fprint(w, `{"index":6,"entry_hash":"x","valid":false,"reason":"proof of shuffle does not verify"}`)
	}
	if p, err = b.Post(ctx, f.entries[0]); err != nil || p.Valid || p.Reason == "" {
		t.Fatalf("invalid post: %+v %v", p, err)
	}
	f.answer = func(w http.ResponseWriter) {
		w.WriteHeader(409)
		fmt.Fprint(w, `{"error":{"code":"wrong_phase","message":"mixing is over"}}`)
	}
	_, err = b.Post(ctx, f.entries[0])
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 409 || !IsCode(err, "wrong_phase") {
		t.Fatalf("refusal: %v", err)
	}
	b.Retries = 2
	f.answer = func(w http.ResponseWriter) { w.WriteHeader(502); fmt.Fprint(w, "bad gateway") }
	if _, err = b.Post(ctx, f.entries[0]); !IsCode(err, "http_502") {
		t.Fatalf("non-JSON error: %v", err)
	}
	// A refusal is final (one attempt); a 502 is retried (three attempts).
	if len(f.posted) != 3+3 {
		t.Fatalf("%d posts reached the server", len(f.posted))
	}
	// A transient failure followed by success.
	fails := 2
	f.answer = func(w http.ResponseWriter) {
		if fails > 0 {
			fails--
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"code":"unavailable","message":"busy"}}`)
			return
		}
		w.WriteHeader(200)
		fmt.Fprint(w, `{"index":5,"entry_hash":"x","valid":true}`)
	}
	if p, err = b.Post(ctx, f.entries[0]); err != nil || p.Index != 5 {
		t.Fatalf("retried post: %+v %v", p, err)
	}
}

func TestBoardWait(t *testing.T) {
	for _, noStream := range []bool{false, true} {
		f, b := newFake(t, 2)
		f.noStream = noStream
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		if err := b.Wait(ctx, 1); err != nil {
			t.Fatalf("entry 1 exists: %v", err)
		}
		if err := b.Wait(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("no entry 2: %v", err)
		}
		cancel()
		go func() {
			time.Sleep(20 * time.Millisecond)
			f.mu.Lock()
			f.entries = append(f.entries, f.entries[0])
			f.mu.Unlock()
		}()
		ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
		if err := b.Wait(ctx2, 2); err != nil {
			t.Fatalf("entry 2 appended: %v", err)
		}
		cancel2()
		f.mu.Lock()
		if (f.streams > 0) == noStream {
			t.Fatalf("noStream %v: %d streams followed", noStream, f.streams)
		}
		f.mu.Unlock()
	}
}

func TestDecodeB64(t *testing.T) {
	for _, s := range []string{"AQID", "AQI", "AQI="} {
		if _, err := decodeB64(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"AQI=x", "A", "AQI-+"} {
		if _, err := decodeB64(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestIdentityBoardVotingClosed: the identity service's board client
// reads the voting state from the election's phase.
func TestIdentityBoardVotingClosed(t *testing.T) {
	phase := "open"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/elections/e1" {
			w.WriteHeader(404)
			fmt.Fprint(w, `{"error":{"code":"unknown_election","message":"no"}}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"election_id": "e1", "phase": phase})
	}))
	defer srv.Close()
	b := &IdentityBoard{C: New(srv.URL), ElectionID: "e1"}
	for _, c := range []struct {
		phase  string
		closed bool
	}{{"setup", false}, {"ready", false}, {"open", false}, {"closed", true}, {"mixing", true}, {"decrypting", true}, {"tallied", true}} {
		phase = c.phase
		if got, err := b.VotingClosed(context.Background()); err != nil || got != c.closed {
			t.Errorf("phase %s: %v %v, want %v", c.phase, got, err, c.closed)
		}
	}
	b.ElectionID = "nope"
	if _, err := b.VotingClosed(context.Background()); err == nil {
		t.Error("unknown election: no error")
	}
}

// TestStartAuthLang: the first factor carries the texts' language when
// one is given, and no lang field otherwise.
func TestStartAuthLang(t *testing.T) {
	var got []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		json.NewDecoder(r.Body).Decode(&body)
		got = append(got, body)
		fmt.Fprint(w, `{"challenge_id":"c","expires_at":"2027-01-01T00:00:00Z","phone_hint":"+996*****12","resend_after_seconds":60,"method":"sms"}`)
	}))
	defer srv.Close()
	c := New(srv.URL)
	for _, lang := range []string{"ru", ""} {
		if _, err := c.StartAuth(context.Background(), "21505199012345", "ID1234567", "1990-05-15", lang); err != nil {
			t.Fatal(err)
		}
	}
	if l, ok := got[0]["lang"]; !ok || l != "ru" {
		t.Errorf("lang ru sent as %q", l)
	}
	if _, ok := got[1]["lang"]; ok {
		t.Error("no language asked, yet a lang field was sent")
	}
}

// TestRetryAfterShown: a rate-limited answer's Retry-After reaches the
// caller (RetryAfter) and the message the CLI prints ("try again in …"),
// in seconds or as an HTTP date; without one, nothing is promised.
func TestRetryAfterShown(t *testing.T) {
	for _, c := range []struct {
		header string
		want   string
	}{
		{"7", "(try again in 7s)"},
		{time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), "(try again in 1m"},
		{"", ""},
		{"soon", ""},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c.header != "" {
				w.Header().Set("Retry-After", c.header)
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"rate_limited","message":"too many requests from this address"}}`)
		}))
		_, err := New(srv.URL).StartAuth(context.Background(), "21505199012345", "ID1234567", "1990-05-15", "")
		srv.Close()
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != "rate_limited" {
			t.Fatalf("Retry-After %q: %v", c.header, err)
		}
		if c.want == "" {
			if ae.RetryAfter != 0 || strings.Contains(err.Error(), "try again in") {
				t.Errorf("Retry-After %q: %v, %v", c.header, ae.RetryAfter, err)
			}
			continue
		}
		if ae.RetryAfter <= 0 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Retry-After %q: %v (RetryAfter %v), want %q in it", c.header, err, ae.RetryAfter, c.want)
		}
	}
}

// A large entry is posted as the same strict body a small one is (the
// body is written as it is sent), and Board.Entries answers a large board
// in parts of about boardPart entries.
func TestBoardLargeEntryAndParts(t *testing.T) {
	f, b := newFake(t, boardPart+1500)
	ctx := context.Background()
	_, k, _ := ed25519.GenerateKey(nil)
	big, err := bulletin.NewEntry(f.entries[0].Log, bulletin.TypeMixOutput, [32]byte(k.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(k), bytes.Repeat([]byte("mix"), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Post(ctx, big); err != nil || len(f.posted) != 1 || f.posted[0].Hash() != big.Hash() {
		t.Fatalf("large post: %v, %d posted", err, len(f.posted))
	}
	es, err := b.Entries(ctx, 0)
	if err != nil || len(es) < boardPart || len(es) >= len(f.entries) {
		t.Fatalf("board of %d entries answered %d at once (%v), want a part of about %d", len(f.entries), len(es), err, boardPart)
	}
	rest, err := b.Entries(ctx, uint64(len(es)))
	if err != nil || len(es)+len(rest) != len(f.entries) || rest[0].Hash() != f.entries[len(es)].Hash() {
		t.Fatalf("the rest: %d entries (%v)", len(rest), err)
	}
}
