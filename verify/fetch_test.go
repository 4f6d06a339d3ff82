package verify

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

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
	l, err := board.Open(ctx, board.Config{Key: f.log, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, f.entries...); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Checkpoint(ctx); err != nil {
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
}
