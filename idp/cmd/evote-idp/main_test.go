package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func env(t *testing.T, boardURL string) map[string]string {
	return map[string]string{
		"EVOTE_IDP_MODE": "development", "EVOTE_IDP_ELECTION_ID": "kg-2026-parl",
		"EVOTE_IDP_CONTEXT_HASH": strings.Repeat("03", 32), "EVOTE_IDP_ELECTION_DAY": "2026-12-20",
		"EVOTE_IDP_PSEUDONYM_KEY": strings.Repeat("01", 32), "EVOTE_IDP_SIGNING_KEYS": strings.Repeat("02", 32),
		"EVOTE_IDP_ISSUER": "https://id.test", "EVOTE_IDP_REGISTRY": "simulated", "EVOTE_IDP_SIM_CONSTITUENCIES": "KG-ABR-01",
		"EVOTE_IDP_SMS": "log", "EVOTE_IDP_DB_DRIVER": "sqlite", "EVOTE_IDP_DB_DSN": "file:" + filepath.Join(t.TempDir(), "idp.db"),
		"EVOTE_IDP_LISTEN": "127.0.0.1:0", "EVOTE_IDP_BOARD_URL": boardURL, "EVOTE_IDP_BOARD_KEY": strings.Repeat("04", 32),
	}
}

// fakeBoard answers the election lookup with the given identity key and
// accepts identity entries.
func fakeBoard(t *testing.T, identityKey []byte) (*httptest.Server, *atomic.Int64) {
	posts := &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/elections/kg-2026-parl"):
			json.NewEncoder(w).Encode(map[string]string{"election_id": "kg-2026-parl", "log": strings.Repeat("ab", 32),
				"identity_key": base64.RawURLEncoding.EncodeToString(identityKey)})
		case r.Method == http.MethodPost:
			n := posts.Add(1)
			w.WriteHeader(201)
			json.NewEncoder(w).Encode(map[string]any{"index": n, "entry_hash": ""})
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, posts
}

func seedPub(hexByte byte) []byte {
	seed := bytes.Repeat([]byte{hexByte}, 32)
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

func TestRunStartsAndStops(t *testing.T) {
	srv, posts := fakeBoard(t, seedPub(0x04))
	m := env(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- run(ctx, func(k string) string { return m[k] }, &logs) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
	if posts.Load() == 0 {
		t.Error("the key set was not posted to the board")
	}
	if strings.Contains(logs.String(), strings.Repeat("01", 32)) {
		t.Error("a secret reached the log")
	}
}

func TestRunRefusesForeignIdentityKey(t *testing.T) {
	other := sha256.Sum256([]byte("x"))
	srv, _ := fakeBoard(t, ed25519.NewKeyFromSeed(other[:]).Public().(ed25519.PublicKey))
	m := env(t, srv.URL)
	err := run(context.Background(), func(k string) string { return m[k] }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "another identity service") {
		t.Fatalf("run = %v", err)
	}
	delete(m, "EVOTE_IDP_BOARD_URL")
	if err := run(context.Background(), func(k string) string { return m[k] }, &bytes.Buffer{}); err == nil {
		t.Fatal("ran without a board")
	}
}
