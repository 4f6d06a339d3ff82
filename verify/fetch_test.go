package verify

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/api"
	"evote/bulletin/board"
	"evote/store/sqlite"
)

// TestFetchFromBoardAPI serves the fixture's record from a real board (a
// board.Log on the SQLite store behind the API's handler) and downloads
// and verifies it as evote-verify URL does. The test imports the server;
// the verifier itself does not (imports_test.go).
func TestFetchFromBoardAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a board server")
	}
	f := shared(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The board's clock is after the fixture's earlier checkpoints: a
	// log's time never decreases.
	now := func() time.Time { return time.Unix(fixtureNow+7200, 0) }
	l, err := board.Open(ctx, board.Config{Key: f.log, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, f.entries...); err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The witnesses cosign it, and the board serves the cosigned note.
	note, err := f.e.Keys.Cosign(cp.Note, now())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetCosigned(note); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(l).Handler())
	defer srv.Close()
	rec, err := Fetch(ctx, srv.Client(), BoardURL(srv.URL, f.log.Origin), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Entries) != len(f.entries) {
		t.Fatalf("fetched %d entries, want %d", len(rec.Entries), len(f.entries))
	}
	opt := f.options()
	opt.Earlier = [][]byte{f.checkpoint(t, f.encoded()[:20])}
	if rep := Verify(rec, opt); !rep.OK {
		t.Fatalf("fetched record fails: %v", rep.Failures)
	}
	// The same, verified as it downloads, page by page.
	var pages int
	note, r, err := FetchStream(ctx, srv.Client(), BoardURL(srv.URL, f.log.Origin), func(done, total uint64) { pages++ })
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyStream(note, r, opt)
	if err != nil || !rep.OK || rep.Size != uint64(len(f.entries)) {
		t.Fatalf("streamed record: %v, %+v", err, rep)
	}
	if want := (len(f.entries) + fetchPage - 1) / fetchPage; pages != want {
		t.Errorf("%d pages fetched, want %d", pages, want)
	}

	// Behind a load balancer losing an instance, any request may get a
	// 503 once: every GET (the checkpoint's note too, not only pages) is
	// retried, and the record still loads.
	var mu sync.Mutex
	seen := map[string]bool{}
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !seen[r.URL.String()]
		seen[r.URL.String()] = true
		mu.Unlock()
		if first {
			http.Error(w, "no server is available", http.StatusServiceUnavailable)
			return
		}
		api.NewServer(l).Handler().ServeHTTP(w, r)
	}))
	defer flaky.Close()
	rec, err = Fetch(ctx, flaky.Client(), BoardURL(flaky.URL, f.log.Origin), nil)
	if err != nil || len(rec.Entries) != len(f.entries) {
		t.Fatalf("through a flaky balancer: %v", err)
	}
}

// TestFetchRefusesBadTransport: a board answering out of order, with a
// bad encoding or an error status yields ErrLoad, never a record.
func TestFetchRefusesBadTransport(t *testing.T) {
	rec, err := Load(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.HandlerFunc{
		"status": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusNotFound) },
		"out of order": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/note") {
				w.Write(rec.Checkpoint)
				return
			}
			fmt.Fprintf(w, `{"start":0,"entries":[{"index":1,"canonical":%q}]}`, base64.StdEncoding.EncodeToString(rec.Entries[1]))
		},
		"bad base64": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/note") {
				w.Write(rec.Checkpoint)
				return
			}
			fmt.Fprint(w, `{"start":0,"entries":[{"index":0,"canonical":"!!"}]}`)
		},
		"empty page": func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/note") {
				w.Write(rec.Checkpoint)
				return
			}
			fmt.Fprint(w, `{"start":0,"entries":[]}`)
		},
		"not a note": func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") },
	} {
		srv := httptest.NewServer(h)
		_, err := Fetch(context.Background(), srv.Client(), srv.URL+"/api/v1/board/00", nil)
		if !errors.Is(err, ErrLoad) {
			t.Errorf("%s: %v", name, err)
		}
		// Streamed, the failure comes from the reader, during the
		// verification, which then gives no report.
		note, r, err := FetchStream(context.Background(), srv.Client(), srv.URL+"/api/v1/board/00", nil)
		if err == nil {
			var rep *Report
			rep, err = VerifyStream(note, r, Options{Fingerprint: exampleFingerprint(t)})
			if rep != nil {
				t.Errorf("%s: streamed: a report despite %v", name, err)
			}
		}
		srv.Close()
		if !errors.Is(err, ErrLoad) {
			t.Errorf("%s: streamed: %v", name, err)
		}
	}
}

// TestFetchStreamResumes: a page request failing in transit (a 503, a
// connection cut mid-answer) is retried from the page where it stopped,
// never from the start, and the record still verifies; a board failing
// every retry of a page yields ErrLoad after 1+fetchRetries requests of it.
func TestFetchStreamResumes(t *testing.T) {
	rec, err := Load(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { fetchBackoff = d }(fetchBackoff)
	fetchBackoff = time.Millisecond
	const per = 3 // entries per page the test board answers
	serve := func(fail func(start, try int) string) (*httptest.Server, *[]int) {
		var starts []int
		tries := map[int]int{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/checkpoint/note") {
				w.Write(rec.Checkpoint)
				return
			}
			var start int
			fmt.Sscan(r.URL.Query().Get("start"), &start)
			starts = append(starts, start)
			tries[start]++
			switch fail(start, tries[start]) {
			case "503":
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			case "cut":
				// Headers and part of the body, then the connection closes.
				w.Header().Set("Content-Length", "1000")
				fmt.Fprint(w, `{"start":`)
				c, _, _ := w.(http.Hijacker).Hijack()
				c.Close()
				return
			}
			var b strings.Builder
			fmt.Fprintf(&b, `{"start":%d,"entries":[`, start)
			for i := start; i < min(start+per, len(rec.Entries)); i++ {
				if i > start {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `{"index":%d,"canonical":%q}`, i, base64.StdEncoding.EncodeToString(rec.Entries[i]))
			}
			b.WriteString("]}")
			fmt.Fprint(w, b.String())
		}))
		return srv, &starts
	}
	// Pages 2 and 5 fail once, page 4 fails twice (a cut, then a 503).
	srv, starts := serve(func(start, try int) string {
		switch {
		case start == 2*per && try == 1, start == 4*per && try == 2, start == 5*per && try == 1:
			return "503"
		case start == 4*per && try == 1:
			return "cut"
		}
		return ""
	})
	defer srv.Close()
	note, r, err := FetchStream(context.Background(), srv.Client(), srv.URL+"/api/v1/board/00", nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyStream(note, r, Options{Fingerprint: exampleFingerprint(t), Workers: 1})
	if err != nil || !rep.OK {
		t.Fatalf("resumed download: %v, %+v", err, rep)
	}
	pages := (len(rec.Entries) + per - 1) / per
	if len(*starts) != pages+4 {
		t.Errorf("%d page requests, want %d pages + 4 retries: %v", len(*starts), pages, *starts)
	}
	for i := 1; i < len(*starts); i++ {
		if (*starts)[i] < (*starts)[i-1] {
			t.Fatalf("download went back from %d to %d: %v", (*starts)[i-1], (*starts)[i], *starts)
		}
	}

	// A page that never comes: bounded retries, then ErrLoad.
	srv2, starts2 := serve(func(start, try int) string {
		if start == per {
			return "503"
		}
		return ""
	})
	defer srv2.Close()
	note, r, err = FetchStream(context.Background(), srv2.Client(), srv2.URL+"/api/v1/board/00", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := VerifyStream(note, r, Options{Fingerprint: exampleFingerprint(t), Workers: 1}); rep != nil || !errors.Is(err, ErrLoad) {
		t.Fatalf("a page failing every retry: %v, %v", err, rep)
	}
	n := 0
	for _, s := range *starts2 {
		if s == per {
			n++
		}
	}
	if n != 1+fetchRetries {
		t.Errorf("page %d requested %d times, want %d: %v", per, n, 1+fetchRetries, *starts2)
	}
}
