package trustee_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/client"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
	"evote/trustee"
)

// boardServer serves a simulated election's board over the routes of the
// ballot box's API that the trustee's tool uses (spec §10.1, §10.3, §7.9):
// the election, the board's entries, a cosigned checkpoint, and the
// trustee route, which applies every entry through election.State's rules
// (sim.Election.Append) as the box does. The ballot box itself cannot yet
// create an election in deniable re-voting mode (spec §15.13 step 4), so
// this stands in for it, no more: it checks no header or phase before
// reading a body, and has no event stream (the client polls).
type boardServer struct {
	mu sync.Mutex
	e  *sim.Election
}

func (s *boardServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.e
	id, log := e.Cfg.ElectionID, hex.EncodeToString(e.Log[:])
	fail := func(status int, code string, err error) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/elections/"+id:
		json.NewEncoder(w).Encode(client.ElectionInfo{ElectionID: id, Log: log, Phase: e.State.Phase.String(), Size: uint64(len(e.Entries))})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/board/"+log+"/entries":
		start, _ := strconv.ParseUint(r.URL.Query().Get("start"), 10, 64)
		limit, _ := strconv.ParseUint(r.URL.Query().Get("limit"), 10, 64)
		if start > uint64(len(e.Entries)) {
			fail(http.StatusNotFound, "not_found", fmt.Errorf("start %d beyond the board", start))
			return
		}
		type view struct {
			Index     uint64 `json:"index"`
			Canonical string `json:"canonical"`
		}
		page := struct {
			Start   uint64  `json:"start"`
			Size    uint64  `json:"size"`
			Entries []view  `json:"entries"`
			Next    *uint64 `json:"next"`
		}{Start: start, Size: uint64(len(e.Entries)), Entries: []view{}}
		for i := start; i < uint64(len(e.Entries)) && i < start+limit; i++ {
			page.Entries = append(page.Entries, view{i, base64.StdEncoding.EncodeToString(e.Entries[i].Encode())})
		}
		if end := start + uint64(len(page.Entries)); end < uint64(len(e.Entries)) {
			page.Next = &end
		}
		json.NewEncoder(w).Encode(page)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/elections/"+id+"/checkpoint":
		enc := make([][]byte, len(e.Entries))
		for i, x := range e.Entries {
			enc[i] = x.Encode()
		}
		note, err := e.Keys.SignCheckpoint(id, enc, time.Now())
		if err != nil {
			fail(http.StatusInternalServerError, "internal", err)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"size": len(enc), "note": string(note)})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/elections/"+id+"/trustee/entries":
		var body struct{ Entry string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(http.StatusBadRequest, "bad_request", err)
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(body.Entry)
		if err != nil {
			fail(http.StatusBadRequest, "bad_request", err)
			return
		}
		x, err := bulletin.DecodeEntry(raw)
		if err != nil {
			fail(http.StatusBadRequest, "bad_request", err)
			return
		}
		culprits := len(e.State.Culprits)
		if err := e.Append(x); err != nil {
			fail(http.StatusUnprocessableEntity, "entry_invalid", err)
			return
		}
		valid := len(e.State.Culprits) == culprits
		a := client.PostedAnswer{Index: uint64(len(e.Entries) - 1), Valid: &valid}
		if !valid {
			a.Reason = e.State.Culprits[culprits].Reason
			w.WriteHeader(http.StatusAccepted)
		} else {
			w.WriteHeader(http.StatusCreated)
		}
		json.NewEncoder(w).Encode(a)
	default:
		fail(http.StatusNotFound, "not_found", fmt.Errorf("no route %s %s", r.Method, r.URL.Path))
	}
}

// TestRevoteTrusteeOverHTTP: the trustees' tools post their tag keys and
// every style's filter steps and roll call through the HTTP client
// (client.Board, polling) to a board served over the API's routes, which
// applies each entry through the rules; every style's roll call is done.
func TestRevoteTrusteeOverHTTP(t *testing.T) {
	cfg := sim.Config{ElectionID: "kg-2027-revote-http", Trustees: 3, Threshold: 2, Voters: 9, RevoteEvery: 3, InPersonEvery: 4,
		SlotRows: 8, MaxBallots: 4, Coercion: true, NoTagKeys: true, Rand: testrand.New("revote-over-http"), Now: 1798800000}
	e, err := sim.Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &boardServer{e: e}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fp := ballot.ExpectFingerprint(e.State.Manifest.Fingerprint())
	pass := []byte("passphrase")
	fast := trustee.KDFParams{Time: 1, Memory: 8 << 10, Threads: 1}
	keys := make([]*trustee.Keys, cfg.Trustees)
	for j := range keys {
		k := &trustee.Keys{SignSeed: [32]byte(e.Keys.Trustees[j].Seed()), HPKESeed: e.Keys.HPKESeeds[j], ElectionID: cfg.ElectionID, Index: j + 1, Share: e.Keys.Shares[j]}
		f, err := k.Seal(pass, fast)
		if err != nil {
			t.Fatal(err)
		}
		if keys[j], err = trustee.OpenKeys(f, pass); err != nil {
			t.Fatal(err)
		}
	}
	run := func(f func(j int, b *client.Board, o trustee.Options) error) {
		t.Helper()
		errs := make([]error, len(keys))
		var wg sync.WaitGroup
		for j := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := client.NewBoard(ctx, client.New(ts.URL), cfg.ElectionID)
				if err != nil {
					errs[j] = err
					return
				}
				b.NoStream, b.Poll = true, 20*time.Millisecond
				errs[j] = f(j, b, trustee.Options{Fingerprint: fp, Rand: testrand.New(fmt.Sprint("http", j)), RoundWait: 2 * time.Second})
			}()
		}
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				t.Fatalf("trustee %d: %v", j+1, err)
			}
		}
	}
	run(func(j int, b *client.Board, o trustee.Options) error {
		o.SaveKeys = func(k *trustee.Keys) error { keys[j] = k; return nil }
		_, err := trustee.RunTagKey(ctx, b, keys[j], o)
		return err
	})
	srv.mu.Lock()
	err = e.VoteRevote(sim.RevoteHooks{})
	srv.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// The authority posts each style's filter entry when it is due.
	stop := make(chan struct{})
	authority := make(chan error, 1)
	go func() {
		for {
			srv.mu.Lock()
			_, err := e.PostRevoteFilter(sim.RevoteHooks{})
			srv.mu.Unlock()
			if err != nil {
				authority <- err
				return
			}
			select {
			case <-stop:
				authority <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	run(func(j int, b *client.Board, o trustee.Options) error { return trustee.RunFilter(ctx, b, keys[j], o) })
	close(stop)
	if err := <-authority; err != nil {
		t.Fatalf("authority: %v", err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if !trustee.FilterDone(e.State) || len(e.State.Culprits) != 0 {
		t.Fatalf("filter done: %t, culprits %v", trustee.FilterDone(e.State), e.State.Culprits)
	}
	blinds := 0
	for _, x := range e.Entries {
		if x.Type == bulletin.TypeRevoteBlind {
			blinds++
		}
	}
	if want := int(e.State.Manifest.Threshold) * len(e.State.Manifest.BallotStyles); blinds != want || e.State.Phase != election.PhaseClosed {
		t.Fatalf("%d blinding steps (want %d), phase %s", blinds, want, e.State.Phase)
	}
}
