package api

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/store/sqlite"
)

func init() { gin.SetMode(gin.TestMode) }

type fixture struct {
	log    *board.Log
	srv    *httptest.Server
	base   string
	author *bulletin.Ed25519Signer
	n      int
}

func signer(label string) *bulletin.Ed25519Signer {
	s := sha256.Sum256([]byte("evote api test key: " + label))
	return bulletin.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

func newFixture(t *testing.T) *fixture {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ls := signer("log")
	l, err := board.Open(context.Background(), board.Config{
		Key:   &bulletin.LogKey{Origin: "evote.example/api", Ed25519: ls, Ed25519Public: ls.Public()},
		Store: st,
		IndexKey: func(e *bulletin.Entry) ([32]byte, bool) {
			return sha256.Sum256(e.Payload), e.Type == bulletin.TypeBallot
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	srv := httptest.NewServer(NewServer(l).Handler())
	t.Cleanup(srv.Close)
	id := l.ID()
	return &fixture{log: l, srv: srv, base: srv.URL + "/api/v1/board/" + hex.EncodeToString(id[:]), author: signer("author")}
}

func (f *fixture) add(t *testing.T, typ bulletin.Type, n int) []*bulletin.Entry {
	var out []*bulletin.Entry
	for range n {
		e, err := bulletin.NewEntry(f.log.ID(), typ, f.author.Public(), f.author, fmt.Appendf(nil, "payload %d", f.n))
		if err != nil {
			t.Fatal(err)
		}
		f.n++
		if _, err := f.log.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func get(t *testing.T, url string, into any, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	} else if resp.StatusCode >= 400 {
		var eb ErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error.Code == "" {
			t.Errorf("%s: error answer not in the documented shape: %v", url, err)
		}
	}
	return resp
}

func unhex32(t *testing.T, s string) [32]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hash %q", s)
	}
	return [32]byte(b)
}

func TestBoardReadAPI(t *testing.T) {
	f := newFixture(t)
	if r := get(t, f.base+"/checkpoint", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("checkpoint before any: %d", r.StatusCode)
	}
	es := f.add(t, bulletin.TypeBallot, 25)
	f.add(t, bulletin.TypeResult, 1)
	if _, err := f.log.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}

	var cp CheckpointView
	if r := get(t, f.base+"/checkpoint", &cp); r.StatusCode != 200 || cp.Size != 26 || r.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("checkpoint: %d %+v", r.StatusCode, cp)
	}
	c, _, err := bulletin.VerifyCheckpoint([]byte(cp.Note), f.log.Verifier())
	if err != nil || hex.EncodeToString(c.Root[:]) != cp.Root {
		t.Fatalf("checkpoint note: %v", err)
	}

	// Paging: full pages are immutable, the last one is not.
	var page EntriesPage
	r := get(t, f.base+"/entries?start=0&limit=10", &page)
	if r.StatusCode != 200 || len(page.Entries) != 10 || page.Next == nil || *page.Next != 10 {
		t.Fatalf("page 1: %d %+v", r.StatusCode, page.Next)
	}
	if !strings.Contains(r.Header.Get("Cache-Control"), "immutable") || r.Header.Get("ETag") == "" {
		t.Errorf("full page cache headers: %q", r.Header.Get("Cache-Control"))
	}
	if r := get(t, f.base+"/entries?start=0&limit=10", nil, "If-None-Match", r.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %d", r.StatusCode)
	}
	page = EntriesPage{}
	r = get(t, f.base+"/entries?start=20&limit=10", &page)
	if len(page.Entries) != 6 || page.Next != nil || strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("last page: %d entries, next %v, cache %q", len(page.Entries), page.Next, r.Header.Get("Cache-Control"))
	}
	// Every entry view re-verifies from its canonical bytes.
	for _, v := range page.Entries {
		raw, _ := base64.StdEncoding.DecodeString(v.Canonical)
		e, err := bulletin.DecodeEntry(raw)
		if err != nil || e.Verify() != nil || hex.EncodeToString(func() []byte { h := e.Hash(); return h[:] }()) != v.Hash {
			t.Errorf("entry %d does not verify from its canonical bytes", v.Index)
		}
	}

	// Entry by hash, inclusion proof, ballot lookup.
	h := es[7].Hash()
	var ev EntryView
	if r := get(t, f.base+"/entries/"+hex.EncodeToString(h[:]), &ev); r.StatusCode != 200 || ev.Index != 7 || ev.Type != "ballot" {
		t.Fatalf("entry by hash: %d %+v", r.StatusCode, ev)
	}
	var inc InclusionView
	if r := get(t, f.base+"/proof/inclusion?hash="+hex.EncodeToString(h[:]), &inc); r.StatusCode != 200 {
		t.Fatalf("inclusion: %d", r.StatusCode)
	}
	path := make([][32]byte, len(inc.Path))
	for i, p := range inc.Path {
		path[i] = unhex32(t, p)
	}
	if err := bulletin.VerifyInclusion(inc.Index, inc.Size, unhex32(t, inc.LeafHash), path, c.Root); err != nil {
		t.Errorf("inclusion proof from the API: %v", err)
	}
	var bv BallotView
	if r := get(t, f.base+"/ballots/"+hex.EncodeToString(h[:]), &bv); r.StatusCode != 200 || bv.Inclusion == nil || bv.Checkpoint == nil || bv.Entry.Index != 7 {
		t.Fatalf("ballot lookup: %d", r.StatusCode)
	}
	code := sha256.Sum256(es[9].Payload) // the log's IndexKey stands for the tracking code
	bv = BallotView{}
	if r := get(t, f.base+"/ballots/"+hex.EncodeToString(code[:]), &bv); r.StatusCode != 200 || bv.Entry.Index != 9 || bv.Inclusion == nil {
		t.Errorf("ballot lookup by tracking code: %d %+v", r.StatusCode, bv.Entry.Index)
	}
	// The code as voters see it (its first 20 bytes in base32), with or
	// without dashes, in either case.
	shown := ballot.TrackingCode(code).String()
	for _, form := range []string{shown, strings.ReplaceAll(shown, "-", ""), strings.ToLower(shown)} {
		bv = BallotView{}
		if r := get(t, f.base+"/ballots/"+form, &bv); r.StatusCode != 200 || bv.Entry.Index != 9 || bv.Inclusion == nil {
			t.Errorf("ballot lookup by shown code %q: %d %+v", form, r.StatusCode, bv.Entry.Index)
		}
	}
	res := f.log.Size() - 1
	recs, _ := f.log.Entries(context.Background(), res, res+1)
	if r := get(t, f.base+"/ballots/"+hex.EncodeToString(recs[0].Hash[:]), nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("non-ballot looked up as ballot: %d", r.StatusCode)
	}

	// Consistency proof between two checkpoints.
	f.add(t, bulletin.TypeBallot, 5)
	cp2, _ := f.log.Checkpoint(context.Background())
	var cv ConsistencyView
	r = get(t, fmt.Sprintf("%s/proof/consistency?first=%d&second=%d", f.base, cp.Size, cp2.Size), &cv)
	if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("consistency: %d", r.StatusCode)
	}
	cpath := make([][32]byte, len(cv.Path))
	for i, p := range cv.Path {
		cpath[i] = unhex32(t, p)
	}
	if err := bulletin.VerifyConsistency(cv.First, cv.Second, cpath, c.Root, cp2.Root); err != nil {
		t.Errorf("consistency proof from the API: %v", err)
	}

	var boards struct{ Logs []LogInfo }
	if get(t, f.srv.URL+"/api/v1/board", &boards); len(boards.Logs) != 1 || boards.Logs[0].Origin != "evote.example/api" {
		t.Errorf("board list: %+v", boards)
	}
}

func TestBoardBadRequests(t *testing.T) {
	f := newFixture(t)
	f.add(t, bulletin.TypeBallot, 3)
	f.log.Checkpoint(context.Background())
	cases := map[string]int{
		"/entries?start=-1":                    400,
		"/entries?start=01":                    400,
		"/entries?limit=0":                     400,
		"/entries?limit=1001":                  400,
		"/entries?start=99":                    404,
		"/entries/XYZ":                         400,
		"/entries/" + strings.Repeat("AB", 32): 400,
		"/entries/" + strings.Repeat("ab", 32): 404,
		"/proof/inclusion":                     400,
		"/proof/inclusion?index=1&hash=00":     400,
		"/proof/inclusion?index=3":             404,
		"/proof/inclusion?index=0&size=4":      404,
		"/proof/consistency?first=2&second=1":  400,
		"/proof/consistency?first=x":           400,
		"/ballots/" + strings.Repeat("00", 32): 404,
		"/ballots/" + strings.Repeat("A", 32):  404,
		"/ballots/" + strings.Repeat("A", 31):  400,
		"/ballots/" + strings.Repeat("1", 32):  400,
		"/stream?from=x":                       400,
	}
	for path, want := range cases {
		if r := get(t, f.base+path, nil); r.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, r.StatusCode, want)
		}
	}
	if r := get(t, f.srv.URL+"/api/v1/board/"+strings.Repeat("00", 32)+"/checkpoint", nil); r.StatusCode != 404 {
		t.Errorf("unknown log: %d", r.StatusCode)
	}
	resp, err := http.Post(f.base+"/entries", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST to a read route: %d", resp.StatusCode)
	}
}

func TestBoardStream(t *testing.T) {
	f := newFixture(t)
	f.add(t, bulletin.TypeBallot, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/stream?from=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var ids []string
	added := false
	for sc.Scan() && len(ids) < 5 {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			ids = append(ids, id)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var v EntryView
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatal(err)
			}
		}
		if len(ids) == 2 && !added {
			added = true
			f.add(t, bulletin.TypeBallot, 3) // live entries follow
		}
	}
	if strings.Join(ids, ",") != "1,2,3,4,5" {
		t.Errorf("streamed ids %v, want 1..5", ids)
	}
}

// TestBoardStreamIndexView: with view=index the stream announces each
// entry by its index and type only, so that a follower that only waits
// for the board to grow (a trustee's tool) is not sent every mix whole,
// which the server built as an entry view for each subscriber (334 MB for
// a mix of 100,000 rows); any other view is refused.
func TestBoardStreamIndexView(t *testing.T) {
	f := newFixture(t)
	f.add(t, bulletin.TypeBallot, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.Get(f.base + "/stream?from=0&view=everything")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("view=everything: %d, want 400", resp.StatusCode)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/stream?from=1&view=index", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var got []string
	for sc.Scan() && len(got) < 2 {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			got = append(got, data)
		}
	}
	if strings.Join(got, "\n") != `{"index":1,"type":"ballot"}`+"\n"+`{"index":2,"type":"ballot"}` {
		t.Fatalf("index view events %q", got)
	}
}
