package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"evote/ballotbox"
	"evote/bulletin"
	"evote/internal/tlsserve"
	"evote/internal/tlsserve/tlstest"
	"evote/official"
	"evote/verify"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigSourcesAndRedaction(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "authority.key")
	secret := base64.StdEncoding.EncodeToString(make([]byte, 32))
	os.WriteFile(keyFile, []byte(secret+"\n"), 0o600)
	cfgFile := filepath.Join(dir, "evoted.conf")
	os.WriteFile(cfgFile, []byte("# comment\nEVOTE_LISTEN=127.0.0.1:9000\nEVOTE_AUDIENCE=from-file\n"), 0o600)
	c, _, err := loadConfig([]string{"--audience", "from-flag"}, env(map[string]string{
		"EVOTE_CONFIG":             cfgFile,
		"EVOTE_AUTHORITY_KEY_FILE": keyFile,
		"EVOTE_DB":                 "postgres://evote:hunter2@db.internal/evote",
		"EVOTE_ADMIN_PASSWORD":     "very secret password",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.get("listen") != "127.0.0.1:9000" || c.get("audience") != "from-flag" || c.get("authority-key") != secret {
		t.Fatalf("sources: listen %q audience %q key %q", c.get("listen"), c.get("audience"), c.get("authority-key"))
	}
	out := c.String()
	for _, leak := range []string{secret, "hunter2", "very secret password"} {
		if strings.Contains(out, leak) {
			t.Fatalf("printed configuration leaks %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(out, "<redacted>") {
		t.Fatalf("no redaction marker:\n%s", out)
	}
	if _, _, err := loadConfig([]string{"--no-such-flag"}, env(nil)); err == nil {
		t.Fatal("unknown flag accepted")
	}
	os.WriteFile(cfgFile, []byte("EVOTE_NOPE=1\n"), 0o600)
	if _, _, err := loadConfig(nil, env(map[string]string{"EVOTE_CONFIG": cfgFile})); err == nil {
		t.Fatal("unknown setting in the file accepted")
	}
}

// TestProductionRefusesWithoutKeys: outside --dev, each missing key stops
// the server before it opens anything.
func TestProductionRefusesWithoutKeys(t *testing.T) {
	k := base64.StdEncoding.EncodeToString(make([]byte, 32))
	full := map[string]string{
		"EVOTE_DATA": t.TempDir(), "EVOTE_AUTHORITY_KEY": k, "EVOTE_LOG_KEY": k,
		"EVOTE_IDENTITY_KEY": k, "EVOTE_ORIGIN_PREFIX": "evote.example/board",
		"EVOTE_ADMIN_USER": "admin", "EVOTE_ADMIN_PASSWORD": "a long admin password", "EVOTE_ADMIN_TOTP": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
	}
	for _, missing := range []string{"EVOTE_AUTHORITY_KEY", "EVOTE_LOG_KEY", "EVOTE_IDENTITY_KEY", "EVOTE_ORIGIN_PREFIX", "EVOTE_ADMIN_PASSWORD"} {
		m := map[string]string{}
		for k, v := range full {
			if k != missing {
				m[k] = v
			}
		}
		m["EVOTE_DATA"] = t.TempDir()
		c, _, err := loadConfig(nil, env(m))
		if err != nil {
			t.Fatal(err)
		}
		if _, cleanup, err := build(context.Background(), c); err == nil {
			cleanup()
			t.Fatalf("started without %s", missing)
		}
	}
	c, _, _ := loadConfig(nil, env(full))
	srv, cleanup, err := build(context.Background(), c)
	if err != nil {
		t.Fatalf("full configuration: %v", err)
	}
	cleanup()
	_ = srv
}

// TestDevServerServes starts the dev configuration on SQLite and checks the
// health endpoints and an official's login with the bootstrap admin.
func TestDevServerServes(t *testing.T) {
	gin.SetMode(gin.TestMode)
	secret, _ := official.NewTOTPSecret()
	c, _, err := loadConfig([]string{"--dev", "--data", t.TempDir()}, env(map[string]string{
		"EVOTE_ADMIN_USER": "admin", "EVOTE_ADMIN_PASSWORD": "a long admin password", "EVOTE_ADMIN_TOTP": secret,
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv, cleanup, err := build(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/v1/elections", "/", "/console/"} {
		resp, err := hs.Client().Get(hs.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, err, resp.StatusCode)
		}
		b, _ := io.ReadAll(resp.Body)
		if p == "/metrics" {
			// The database pool, the runtime and the process, through
			// the Prometheus client library.
			p := expfmt.NewTextParser(model.UTF8Validation)
			fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"go_sql_open_connections", "go_goroutines", "process_cpu_seconds_total", "evote_http_requests_total"} {
				if fams[name] == nil {
					t.Errorf("metrics: no %s", name)
				}
			}
		}
		resp.Body.Close()
		// The voting page at /, the officials' console under /console/.
		if p == "/" && !strings.Contains(string(b), "evote.wasm") || p == "/console/" && !strings.Contains(string(b), "/console/console.js") {
			t.Fatalf("%s serves %.300s", p, b)
		}
	}
}

// TestConsoleHost: with --console-host the console is served on that
// host only (its own origin); on the voting page's host /console/ is the
// voting page's not-found; "none" serves no console.
func TestConsoleHost(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	cons := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("console")) })
	for _, c := range []struct {
		host, reqHost, path string
		console             bool
	}{
		{"", "vote.example", "/console/", true},
		{"officials.example", "officials.example:443", "/console/x.js", true},
		{"officials.example", "OFFICIALS.example", "/console", true},
		{"officials.example", "vote.example", "/console/", false},
		{"none", "vote.example", "/console/", false},
		{"", "vote.example", "/consoles", false},
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		req.Host = c.reqHost
		w := httptest.NewRecorder()
		withConsole(page, cons, c.host).ServeHTTP(w, req)
		if got := w.Body.String() == "console"; got != c.console {
			t.Errorf("console-host %q, Host %q, %s: console %v", c.host, c.reqHost, c.path, got)
		}
	}
}

// TestLogKeyCommand (issue 19, finding 3): evoted log-key prints the
// election log's verifier key lines from the server's own configuration,
// the same key the server signs that election's checkpoints with; its dev
// witnesses keep their keys across restarts (issue 16, finding 7).
func TestLogKeyCommand(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if err := printLogKey([]string{"pilot-2027", "--dev", "--data", dir}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	lv, err := verify.ParseLogKey(out.String())
	if err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if lv.Origin != devOriginPrefix+"/pilot-2027" {
		t.Fatalf("origin %q", lv.Origin)
	}
	// The same keys on a second run (they were generated into dir).
	var again strings.Builder
	if err := printLogKey([]string{"pilot-2027", "--dev", "--data", dir}, env(nil), &again); err != nil || again.String() != out.String() {
		t.Fatalf("second run: %v %q", err, again.String())
	}
	if err := printLogKey([]string{"--dev"}, env(nil), &out); err == nil {
		t.Fatal("no election id accepted")
	}
	if err := printLogKey([]string{"Bad Id", "--dev", "--data", dir}, env(nil), &out); err == nil {
		t.Fatal("an election id that makes no origin accepted")
	}
	k1, err := devWitnessKeys(filepath.Join(dir, "w"), 2)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := devWitnessKeys(filepath.Join(dir, "w"), 2)
	if err != nil || !k1[0].Equal(k2[0]) || !k1[1].Equal(k2[1]) || k1[0].Equal(k1[1]) {
		t.Fatalf("dev witness keys differ across restarts or repeat: %v", err)
	}
}

// TestHelp (issue 19, finding 2): --help prints every option with its
// environment variable and default, not "flag: help requested".
func TestHelp(t *testing.T) {
	_, _, err := loadConfig([]string{"--help"}, env(nil))
	var h *HelpError
	if !errors.As(err, &h) {
		t.Fatalf("--help: %v", err)
	}
	for _, o := range options() {
		if !strings.Contains(h.Text, "--"+o.name) || !strings.Contains(h.Text, envName(o.name)) {
			t.Errorf("help lacks %s", o.name)
		}
	}
	if !strings.Contains(h.Text, "log-key ELECTION-ID") {
		t.Error("help lacks the log-key command")
	}
	if _, _, err := loadConfig([]string{"--no-such-option"}, env(nil)); err == nil || errors.As(err, &h) || !strings.Contains(err.Error(), "--help") {
		t.Errorf("unknown option: %v", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	got, err := trustedProxies(" 10.0.0.1, 192.168.0.0/16,,::1 ")
	if err != nil || strings.Join(got, "|") != "10.0.0.1|192.168.0.0/16|::1" {
		t.Fatalf("%q %v", got, err)
	}
	for _, bad := range []string{"proxy.example", "10.0.0.0/33", "10.0.0.1 10.0.0.2"} {
		if _, err := trustedProxies(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServesHTTPS (issue 19, TLS): evoted serves HTTPS from the
// certificate files with HSTS, and a renewed certificate without a
// restart; plain HTTP on a non-loopback address is refused before
// anything starts unless --insecure-http says so.
func TestServesHTTPS(t *testing.T) {
	gin.SetMode(gin.TestMode)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1, err := tlstest.WriteCert(certFile, keyFile, 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--dev", "--data", filepath.Join(dir, "data"), "--listen", addr, "--tls-cert", certFile, "--tls-key", keyFile}, env(nil))
	}()
	roots := x509.NewCertPool()
	roots.AddCert(c1)
	get := func() *http.Response {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}
		for range 100 {
			resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
				return resp
			}
			select {
			case err := <-done:
				t.Fatalf("evoted stopped: %v", err)
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Fatal("evoted does not answer over HTTPS")
		return nil
	}
	resp := get()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 1 {
		t.Fatalf("first answer: %d %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	c2, err := tlstest.WriteCert(certFile, keyFile, 2)
	if err != nil {
		t.Fatal(err)
	}
	roots.AddCert(c2)
	time.Sleep(1100 * time.Millisecond) // the files are looked at once a second at most
	if resp = get(); resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 2 {
		t.Fatalf("renewed certificate not served: serial %v", resp.TLS.PeerCertificates[0].SerialNumber)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	err = run(context.Background(), []string{"--dev", "--data", filepath.Join(dir, "data"), "--listen", "0.0.0.0:0"}, env(nil))
	if !errors.Is(err, tlsserve.ErrPlainHTTP) {
		t.Fatalf("plain HTTP on every interface: %v", err)
	}
}

// TestSnapshotEveryOption: --snapshot-every takes a positive count or
// "off"; anything else stops the start with a message naming the option.
func TestSnapshotEveryOption(t *testing.T) {
	gin.SetMode(gin.TestMode)
	for v, ok := range map[string]bool{"5000": true, "off": true, "0": false, "-1": false, "never": false} {
		c, _, err := loadConfig([]string{"--dev", "--data", t.TempDir(), "--snapshot-every", v}, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		_, cleanup, err := build(context.Background(), c)
		if err == nil {
			cleanup()
		}
		if ok != (err == nil) || !ok && !strings.Contains(err.Error(), "snapshot-every") {
			t.Errorf("--snapshot-every %s: %v", v, err)
		}
	}
}

// TestKeysInAnyEncoding (issue 19, finding 2): the identity service's key,
// the server's seeds and a witness's key are taken in hex, base64 or
// base64url alike (internal/keytext); a wrong length is refused with the
// lengths it wants.
func TestKeysInAnyEncoding(t *testing.T) {
	k := bytes.Repeat([]byte{0xfb, 0xef, 0x7f}, 11)[:32]
	for _, v := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k)} {
		b, err := key32("identity-key", v)
		if err != nil || !bytes.Equal(b, k) {
			t.Fatalf("%s: %x %v", v, b, err)
		}
		ws, err := remoteWitnesses("w.example/1|http://127.0.0.1:1|"+v, "1")
		if err != nil {
			t.Fatalf("witness key %s: %v", v, err)
		}
		cs, _, _ := ws(bulletin.LogVerifier{})
		if got := cs[0].(ballotbox.RemoteWitness).Client.Key.Public; !bytes.Equal(got[:], k) {
			t.Fatalf("witness key %s decoded %x", v, got)
		}
	}
	if _, err := key32("identity-key", hex.EncodeToString(k[:31])); err == nil || !strings.Contains(err.Error(), "identity-key") || !strings.Contains(err.Error(), "64 hex digits") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := remoteWitnesses("w|http://x|"+hex.EncodeToString(k[:31]), "1"); err == nil {
		t.Fatal("short witness key accepted")
	}
}
