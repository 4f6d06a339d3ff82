package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"evote/client"
	"evote/internal/tlsserve"
	"evote/internal/tlsserve/tlstest"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m["EVOTE_IDP_LISTEN"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() { done <- run(ctx, func(k string) string { return m[k] }, &logs) }()
	// Stop it once it serves (start-up takes its time on a loaded machine).
	for range 200 {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
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

// TestServesHTTPSWithLimits (issue 19: TLS, finding 8): the identity
// service serves HTTPS from certificate files with HSTS; its per-address
// limit is configured (burst 2, then one request per 100 s) and the
// client's error shows the Retry-After; plain HTTP on every interface is
// refused.
func TestServesHTTPSWithLimits(t *testing.T) {
	srv, _ := fakeBoard(t, seedPub(0x04))
	m := env(t, srv.URL)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, err := tlstest.WriteCert(certFile, keyFile, 1)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	m["EVOTE_IDP_LISTEN"], m["EVOTE_IDP_TLS_CERT"], m["EVOTE_IDP_TLS_KEY"] = addr, certFile, keyFile
	m["EVOTE_IDP_CLIENT_BURST"], m["EVOTE_IDP_CLIENT_RATE"] = "2", "0.01"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, func(k string) string { return m[k] }, &bytes.Buffer{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	var resp *http.Response
	for range 100 {
		if resp, err = hc.Get("https://" + addr + "/healthz"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("healthz over HTTPS: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	c := client.New("https://" + addr)
	c.HTTP = hc
	for i := range 3 {
		_, err := c.StartAuth(context.Background(), "12345678901234", "ID1234567", "1990-01-01", "")
		var ae *client.APIError
		if i < 2 {
			if errors.As(err, &ae) && ae.Status == 429 {
				t.Fatalf("start %d refused within the burst: %v", i, err)
			}
			continue
		}
		if !errors.As(err, &ae) || ae.Status != 429 || ae.RetryAfter < 90*time.Second || !strings.Contains(err.Error(), "try again in") {
			t.Fatalf("start beyond the burst: %v", err)
		}
	}

	m["EVOTE_IDP_LISTEN"], m["EVOTE_IDP_TLS_CERT"], m["EVOTE_IDP_TLS_KEY"] = "0.0.0.0:0", "", ""
	if err := run(context.Background(), func(k string) string { return m[k] }, &bytes.Buffer{}); !errors.Is(err, tlsserve.ErrPlainHTTP) {
		t.Fatalf("plain HTTP on every interface: %v", err)
	}
}

// TestUsageListsEveryOption: --help names every variable of the table.
func TestUsageListsEveryOption(t *testing.T) {
	u := usage()
	for _, v := range []string{"EVOTE_IDP_MODE", "EVOTE_IDP_CONTEXT_HASH", "EVOTE_IDP_BOARD_KEY (or EVOTE_IDP_BOARD_KEY_FILE)", "EVOTE_IDP_TLS_CERT", "EVOTE_IDP_CLIENT_BURST", "EVOTE_IDP_PIN_CODES", "SSL_CERT_FILE"} {
		if !strings.Contains(u, v) {
			t.Errorf("usage does not name %s", v)
		}
	}
}

// syncBuffer is a buffer one goroutine writes while another reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
