package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"evote/bulletin"
)

// discardWriter is a ResponseWriter that keeps only the status and the
// number of body bytes, so that what a request allocates is the server's
// own, not a recorder's copy of the body.
type discardWriter struct {
	hdr    http.Header
	status int
	n      int
	tail   []byte // the last bytes written, to check the page's end
}

func (w *discardWriter) Header() http.Header { return w.hdr }
func (w *discardWriter) WriteHeader(s int)   { w.status = s }
func (w *discardWriter) Flush()              {}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	w.tail = append(w.tail[:0], b[max(0, len(b)-64):]...)
	return len(b), nil
}

// addPayload appends an entry of type typ with the given payload.
func (f *fixture) addPayload(t *testing.T, typ bulletin.Type, payload []byte) *bulletin.Entry {
	t.Helper()
	e, err := bulletin.NewEntry(f.log.ID(), typ, f.author.Public(), f.author, payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.log.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	return e
}

// The streamed entry view is byte for byte what json.Marshal gives for
// the EntryView, so that no client sees a change.
func TestEntryJSONMatchesView(t *testing.T) {
	f := newFixture(t)
	f.add(t, bulletin.TypeManifest, 1)
	f.add(t, bulletin.TypeBallot, 3)
	f.addPayload(t, bulletin.TypeMixOutput, bytes.Repeat([]byte{0xfb, 0xff, 0x3e}, 40000))
	f.addPayload(t, bulletin.TypeBallot, nil)
	recs, err := f.log.Entries(context.Background(), 0, f.log.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		v, err := entryView(r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(v)
		var got bytes.Buffer
		w := bufio.NewWriter(&got)
		if err := writeEntryJSON(w, r); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("entry %d: streamed view differs from json.Marshal:\n got %.300s\nwant %.300s", r.Index, got.Bytes(), want)
		}
	}
}

// One read of a page or of an entry holding a large mix allocates about
// the entry's raw bytes once (what the store returns), not its JSON view
// (two base64 copies of it inside a built document: 334 MB for a
// 100,000-row mix of 22.4 MB before the view was streamed).
func TestEntryReadMemoryBounded(t *testing.T) {
	f := newFixture(t)
	f.add(t, bulletin.TypeManifest, 1)
	const mix = 16 << 20
	payload := make([]byte, mix)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	e := f.addPayload(t, bulletin.TypeMixOutput, payload)
	payload = nil
	f.add(t, bulletin.TypeBallot, 2)
	h := NewServer(f.log).Handler()
	id := f.log.ID()
	hash := e.Hash()
	for _, path := range []string{
		fmt.Sprintf("/api/v1/board/%x/entries?start=0&limit=1000", id[:]),
		fmt.Sprintf("/api/v1/board/%x/entries?start=1&limit=1", id[:]),
		fmt.Sprintf("/api/v1/board/%x/entries/%x", id[:], hash[:]),
	} {
		var before, after runtime.MemStats
		const reads = 3
		var w *discardWriter
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range reads {
			w = &discardWriter{hdr: http.Header{}}
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		}
		runtime.ReadMemStats(&after)
		perRead := (after.TotalAlloc - before.TotalAlloc) / reads
		if w.status != http.StatusOK || w.n < mix*8/3 {
			t.Fatalf("%s: status %d, %d bytes: the mix is not in the answer", path, w.status, w.n)
		}
		// The raw entry from the store (its bytes, and the driver's copy)
		// plus fixed buffers; the view itself would be ≥ 2.7 × mix.
		limit := uint64(2*mix + 2<<20)
		t.Logf("%s: %.1f MiB allocated per read of a %d MiB entry (limit %.1f MiB), answer %.1f MiB",
			path, float64(perRead)/(1<<20), mix>>20, float64(limit)/(1<<20), float64(w.n)/(1<<20))
		if perRead > limit {
			t.Errorf("%s: one read allocated %.1f MiB, more than %.1f MiB: the entry's view is built in memory",
				path, float64(perRead)/(1<<20), float64(limit)/(1<<20))
		}
	}
}

// A page stops at its byte budget, after at least one entry, with next
// pointing at what follows; following next reads every entry once.
func TestEntriesPageByteBudget(t *testing.T) {
	f := newFixture(t)
	for i := range 7 {
		f.addPayload(t, bulletin.TypeMixOutput, bytes.Repeat([]byte{byte(i)}, pageBytes/3+1))
	}
	f.add(t, bulletin.TypeBallot, 5)
	size := f.log.Size()
	var sizes []int
	for start := uint64(0); ; {
		var p EntriesPage
		if r := get(t, fmt.Sprintf("%s/entries?start=%d&limit=1000", f.base, start), &p); r.StatusCode != http.StatusOK {
			t.Fatalf("page at %d: %s", start, r.Status)
		}
		if p.Start != start || p.Size != size || len(p.Entries) == 0 {
			t.Fatalf("page at %d: start %d size %d with %d entries", start, p.Start, p.Size, len(p.Entries))
		}
		bytesIn := 0
		for i, v := range p.Entries {
			if v.Index != start+uint64(i) {
				t.Fatalf("page at %d: entry %d at offset %d", start, v.Index, i)
			}
			if i > 0 && bytesIn >= pageBytes {
				t.Fatalf("page at %d goes on past its byte budget at offset %d", start, i)
			}
			bytesIn += len(v.Canonical) * 3 / 4
		}
		sizes = append(sizes, len(p.Entries))
		start += uint64(len(p.Entries))
		if p.Next == nil {
			if start != size {
				t.Fatalf("the last page ends at %d, the log at %d", start, size)
			}
			break
		}
		if *p.Next != start {
			t.Fatalf("next is %d, the page ended at %d", *p.Next, start)
		}
	}
	// Three mixes reach the budget; the seventh mix and the ballots share
	// the last page.
	if want := []int{3, 3, 6}; fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Errorf("page sizes %v, want %v", sizes, want)
	}
	// A page of one entry larger than the budget is still served.
	var p EntriesPage
	f.addPayload(t, bulletin.TypeMixOutput, make([]byte, 2*pageBytes))
	get(t, fmt.Sprintf("%s/entries?start=%d&limit=5", f.base, size), &p)
	if len(p.Entries) != 1 || p.Next != nil {
		t.Errorf("a page starting at an entry over the budget has %d entries, next %v", len(p.Entries), p.Next)
	}
}

// readAlloc serves path reads times and returns what one read allocated.
func readAlloc(t *testing.T, h http.Handler, path string, reads int) (uint64, *discardWriter) {
	t.Helper()
	var before, after runtime.MemStats
	var w *discardWriter
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range reads {
		w = &discardWriter{hdr: http.Header{}}
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	}
	runtime.ReadMemStats(&after)
	if w.status != http.StatusOK {
		t.Fatalf("%s: status %d", path, w.status)
	}
	return (after.TotalAlloc - before.TotalAlloc) / uint64(reads), w
}

// A page over several large entries that follow small ones (the mixes of
// several contests after the ballots) loads its byte budget and one entry
// from the store, by the entries' stored sizes, not every entry its count
// allows.
func TestEntriesPageLoadsItsBudget(t *testing.T) {
	f := newFixture(t)
	f.add(t, bulletin.TypeBallot, 3)
	const mix = 3 << 20
	for i := range 6 {
		f.addPayload(t, bulletin.TypeMixOutput, bytes.Repeat([]byte{byte(i)}, mix))
	}
	id := f.log.ID()
	perRead, w := readAlloc(t, NewServer(f.log).Handler(), fmt.Sprintf("/api/v1/board/%x/entries?start=0&limit=1000", id[:]), 3)
	// Three ballots and two mixes reach the budget; the SQLite store
	// returns each entry's bytes twice (the driver's copy and
	// database/sql's).
	limit := uint64(2*(pageBytes+mix) + 2<<20)
	t.Logf("%.1f MiB allocated per read (limit %.1f MiB), answer %.1f MiB", float64(perRead)/(1<<20), float64(limit)/(1<<20), float64(w.n)/(1<<20))
	if perRead > limit {
		t.Errorf("one read allocated %.1f MiB, more than %.1f MiB: it loaded entries beyond its budget", float64(perRead)/(1<<20), float64(limit)/(1<<20))
	}
	if !bytes.HasSuffix(w.tail, []byte(`,"next":5}`)) {
		t.Errorf("the page does not end at its budget: …%s", w.tail)
	}
}
