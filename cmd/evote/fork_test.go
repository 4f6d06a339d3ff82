package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/trustee"
	"evote/verify"
)

// forkFront is a ballot box that forks its board mid-election: from the
// start of mixing it serves everyone the board without the first mix
// (later entries move up by one), so that the next trustees would shuffle
// a list of its choosing, under the honest checkpoints the witnesses
// cosigned. What must catch the fork is everyone who acts on the board:
// the trustees' tools and the auditor.
type forkFront struct {
	next http.Handler
	mu   sync.Mutex
	drop int64 // position of the dropped mix, -1 until there is one
	// served is what the fork showed: entries by position (canonical,
	// base64) and the last checkpoint note.
	served map[int64]string
	note   string
	// forking starts when the officials start mixing: the voters saw the
	// honest board; the trustees, who act on it next, see the fork.
	forking bool
}

func (f *forkFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/actions/start-mixing") {
		f.mu.Lock()
		f.forking = true
		f.mu.Unlock()
	}
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/elections/") && strings.HasSuffix(r.URL.Path, "/checkpoint") {
		rec := httptest.NewRecorder()
		f.next.ServeHTTP(rec, r)
		var cp struct {
			Note string `json:"note"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &cp) == nil && cp.Note != "" {
			// Keep the largest: answers to concurrent requests may
			// arrive out of order.
			f.mu.Lock()
			if noteSize(cp.Note) >= noteSize(f.note) {
				f.note = cp.Note
			}
			f.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/api/v1/board/") || !strings.HasSuffix(r.URL.Path, "/entries") {
		f.next.ServeHTTP(w, r)
		return
	}
	q := r.URL.Query()
	start, _ := strconv.ParseInt(q.Get("start"), 10, 64)
	limit, _ := strconv.ParseInt(q.Get("limit"), 10, 64)
	if limit == 0 {
		limit = 100
	}
	page := func(s, l int64) (map[string]any, []map[string]any) {
		u := *r.URL
		u.RawQuery = "start=" + strconv.FormatInt(s, 10) + "&limit=" + strconv.FormatInt(l, 10)
		rec := httptest.NewRecorder()
		f.next.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.String(), nil))
		var p map[string]any
		json.Unmarshal(rec.Body.Bytes(), &p)
		var es []map[string]any
		raw, _ := json.Marshal(p["entries"])
		json.Unmarshal(raw, &es)
		return p, es
	}
	f.mu.Lock()
	if !f.forking {
		f.mu.Unlock()
		p, es := page(start, limit)
		f.serve(w, p, es)
		return
	}
	drop := f.drop
	if drop < 0 {
		// Find the first mix on the honest board.
		for s := int64(0); ; s += 1000 {
			_, es := page(s, 1000)
			for _, e := range es {
				if e["type"] == "mix-output" {
					drop = int64(e["index"].(float64))
					break
				}
			}
			if drop >= 0 || len(es) < 1000 {
				break
			}
		}
		f.drop = drop
	}
	f.mu.Unlock()
	// (page takes no lock; served is filled below under the lock)
	if drop < 0 {
		p, es := page(start, limit)
		// The mix may have been appended since the scan above: never serve
		// it (nor what follows it) unforked.
		for _, e := range es {
			if e["type"] == "mix-output" {
				drop = int64(e["index"].(float64))
				break
			}
		}
		if drop < 0 {
			f.serve(w, p, es)
			return
		}
		f.mu.Lock()
		if f.drop < 0 {
			f.drop = drop
		}
		drop = f.drop
		f.mu.Unlock()
	}
	realStart := start
	if start >= drop {
		realStart++
	}
	p, es := page(realStart, min(limit+1, 1000))
	var out []map[string]any
	for _, e := range es {
		i := int64(e["index"].(float64))
		if i == drop {
			continue
		}
		if i > drop {
			e["index"] = float64(i - 1)
		}
		if int64(len(out)) < limit {
			out = append(out, e)
		}
	}
	p["start"] = start
	if size, ok := p["size"].(float64); ok {
		p["size"] = size - 1
	}
	delete(p, "next")
	f.serve(w, p, out)
}

// noteSize is the tree size of a checkpoint note (0 if none).
func noteSize(note string) uint64 {
	n, err := bulletin.ParseNote([]byte(note))
	if err != nil {
		return 0
	}
	c, err := bulletin.ParseCheckpoint(n.Body)
	if err != nil {
		return 0
	}
	return c.Size
}

// serve answers an entries page, remembering what it showed.
func (f *forkFront) serve(w http.ResponseWriter, p map[string]any, es []map[string]any) {
	p["entries"] = es
	f.mu.Lock()
	for _, e := range es {
		f.served[int64(e["index"].(float64))], _ = e["canonical"].(string)
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

// TestDemoForkCaught: the ballot box forks its board mid-election (a mix
// silently dropped). The trustees' tools refuse to mix, naming the
// split view and saving the evidence, and the auditor's verifier refuses
// the record the forked board serves.
func TestDemoForkCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election")
	}
	front := &forkFront{drop: -1, served: map[int64]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	dir := t.TempDir()
	o := demoOptions{Voters: 30, Out: &out, Log: io.Discard, KDF: &testKDF, Record: dir,
		Front: func(h http.Handler) http.Handler { front.next = h; return front }}
	_, err := runDemo(ctx, o)
	t.Log("\n" + out.String())
	if !errors.Is(err, trustee.ErrSplitView) {
		t.Fatalf("the demo on a forked board ended with %v, want the trustees to refuse a split view", err)
	}
	evs, _ := filepath.Glob(filepath.Join(dir, "evidence-trustee-*.json"))
	if len(evs) == 0 {
		t.Fatal("no trustee saved the evidence")
	}
	b, err := os.ReadFile(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	var ev trustee.Evidence
	if json.Unmarshal(b, &ev) != nil || len(ev.Checkpoints) == 0 || len(ev.Leaves) == 0 {
		t.Fatalf("evidence file %s: %s", evs[0], b)
	}
	// The auditor, given the published fingerprint, refuses the record the
	// forked board served.
	_, fp, _ := strings.Cut(out.String(), "election fingerprint ")
	fp, _, _ = strings.Cut(fp, " ")
	efp, err := ballot.ParseFingerprint(fp)
	if err != nil {
		t.Fatal(err)
	}
	front.mu.Lock()
	note := front.note
	var rec verify.Record
	rec.Checkpoint = []byte(note)
	for i := int64(0); ; i++ {
		c, ok := front.served[i]
		if !ok {
			break
		}
		e, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			t.Fatal(err)
		}
		rec.Entries = append(rec.Entries, e)
	}
	front.mu.Unlock()
	rep := verify.Verify(&rec, verify.Options{Fingerprint: efp, Partial: true})
	if first, _ := rep.First(); rep.OK || first.Check != verify.CheckTree {
		t.Fatalf("the forked record: first failure %v, want %s (ok %v, %d entries, failures %v)", first, verify.CheckTree, rep.OK, len(rec.Entries), rep.Failures)
	}
}
