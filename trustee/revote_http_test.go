package trustee_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/client"
	"evote/election"
	"evote/election/sim"
	"evote/internal/simboard"
	"evote/internal/testrand"
	"evote/trustee"
)

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
	srv := &simboard.Server{E: e}
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
	srv.Mu.Lock()
	err = e.VoteRevote(sim.RevoteHooks{})
	srv.Mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	// The authority posts each style's filter entry when it is due.
	stop := make(chan struct{})
	authority := make(chan error, 1)
	go func() {
		for {
			srv.Mu.Lock()
			_, err := e.PostRevoteFilter(sim.RevoteHooks{})
			srv.Mu.Unlock()
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
	srv.Mu.Lock()
	defer srv.Mu.Unlock()
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
