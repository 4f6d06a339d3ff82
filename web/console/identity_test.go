package console_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"evote/bulletin"
	"evote/idp"
	"evote/idp/idpapi"
	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
)

// testIdentity is a real identity service (package idp behind idpapi) for
// the console's tests. Its address exists from the start, so the
// officials' API can be configured with it; the service itself starts once
// the election's context hash is known (start), answering 503 before.
// Its board records what it posts: the ballot box's own handling of
// identity entries is tested in ballotbox.
type testIdentity struct {
	URL     string
	ListKey ed25519.PrivateKey // the registered key of "list-official-1"

	handler atomic.Pointer[http.Handler]
	board   *recordingBoard
}

type recordingBoard struct {
	mu      sync.Mutex
	entries [][]byte
	types   []uint16
}

func (b *recordingBoard) Post(_ context.Context, typ uint16, payload []byte) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.types = append(b.types, typ)
	b.entries = append(b.entries, append([]byte(nil), payload...))
	return uint64(len(b.entries)), nil
}

// listChanges returns the voter-list changes posted so far.
func (b *recordingBoard) listChanges() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out [][]byte
	for i, typ := range b.types {
		if typ == uint16(bulletin.TypeVoterListChange) {
			out = append(out, b.entries[i])
		}
	}
	return out
}

func newTestIdentity(t *testing.T) *testIdentity {
	t.Helper()
	seed := sha256.Sum256([]byte("console test list official"))
	ti := &testIdentity{ListKey: ed25519.NewKeyFromSeed(seed[:]), board: &recordingBoard{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := ti.handler.Load()
		if h == nil {
			http.Error(w, `{"error":{"code":"not_started","message":"not started"}}`, http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ti.URL = srv.URL
	return ti
}

// start runs the identity service for the election with the given
// extended hash, list-official-1 registered under ListKey.
func (ti *testIdentity) start(t *testing.T, electionID string, contextHash [32]byte) {
	t.Helper()
	ctx := context.Background()
	day := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(24 * time.Hour)
	sim, err := registry.NewSimulated(registry.SimulatedConfig{Seed: "console", Constituencies: []string{"KG-01"}, PerConstituency: 3, ElectionDay: day})
	if err != nil {
		t.Fatal(err)
	}
	st, err := idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(t.TempDir(), "idp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	issKey := sha256.Sum256([]byte("console test issuer"))
	iss, err := token.NewIssuer(token.IssuerConfig{Issuer: "https://id.test", Audience: "evote-ballot-box", TTL: 15 * time.Minute}, ed25519.NewKeyFromSeed(issKey[:]))
	if err != nil {
		t.Fatal(err)
	}
	pk := sha256.Sum256([]byte("console test pseudonym key"))
	svc, err := idp.New(ctx, idp.Config{ElectionID: electionID, ContextHash: contextHash, ElectionDay: day, PseudonymKey: pk[:],
		Registry: sim, Sender: &otp.Recorder{}, Store: st, Board: ti.board, Issuer: iss, Logger: slog.New(slog.DiscardHandler),
		Authority: &voterlist.Authority{ElectionID: electionID, ContextHash: contextHash,
			List: map[string]ed25519.PublicKey{"list-official-1": ti.ListKey.Public().(ed25519.PublicKey)}}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := idpapi.New(svc, iss, idpapi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var hh http.Handler = h
	ti.handler.Store(&hh)
}
