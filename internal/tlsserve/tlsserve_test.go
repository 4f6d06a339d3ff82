package tlsserve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"evote/internal/tlsserve/tlstest"
)

func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	c, err := tlstest.WriteCert(certFile, keyFile, serial)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get makes one request on a new connection and returns the answer's HSTS
// header and the serial of the certificate the server showed.
func get(t *testing.T, url string, roots *x509.CertPool) (string, int64, uint16) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Header.Get("Strict-Transport-Security"), resp.TLS.PeerCertificates[0].SerialNumber.Int64(), resp.TLS.Version
}

// TestServeTLSReloads: HTTPS with HSTS from the files; a renewed
// certificate is served without a restart; a renewal that does not load
// leaves the previous one served; TLS 1.1 is refused.
func TestServeTLSReloads(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1 := writeCert(t, certFile, keyFile, 1)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	s, err := Listen(hs, Options{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(c1)
	hsts, serial, v := get(t, s.URL(), roots)
	if hsts != "max-age=63072000; includeSubDomains" || serial != 1 || v < tls.VersionTLS12 {
		t.Fatalf("first: hsts %q serial %d version %x", hsts, serial, v)
	}

	// Renewal: new files, picked up at a handshake after reloadEvery.
	c2 := writeCert(t, certFile, keyFile, 2)
	roots.AddCert(c2)
	time.Sleep(reloadEvery + 100*time.Millisecond)
	if _, serial, _ = get(t, s.URL(), roots); serial != 2 {
		t.Fatalf("after renewal: serial %d, want 2", serial)
	}

	// A broken renewal (a key that does not match): the previous stays.
	k3 := filepath.Join(dir, "other-key.pem")
	writeCert(t, filepath.Join(dir, "other-cert.pem"), k3, 3)
	b, _ := os.ReadFile(k3)
	os.WriteFile(keyFile, b, 0o600)
	time.Sleep(reloadEvery + 100*time.Millisecond)
	if _, serial, _ = get(t, s.URL(), roots); serial != 2 {
		t.Fatalf("after a broken renewal: serial %d, want 2", serial)
	}

	// Old protocol versions are refused.
	conn, err := tls.Dial("tcp", s.Listener.Addr().String(), &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.1 accepted")
	}
}

// TestPlainHTTPOnlyOnLoopback: without a certificate, only a loopback
// address or an explicit InsecureHTTP serves.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	for _, c := range []struct {
		o  Options
		ok bool
	}{
		{Options{Addr: "127.0.0.1:8080"}, true},
		{Options{Addr: "[::1]:8080"}, true},
		{Options{Addr: "localhost:8080"}, true},
		{Options{Addr: "0.0.0.0:8080"}, false},
		{Options{Addr: ":8080"}, false},
		{Options{Addr: "192.0.2.1:8080"}, false},
		{Options{Addr: "0.0.0.0:8080", InsecureHTTP: true}, true},
		{Options{Addr: "0.0.0.0:443", CertFile: "c", KeyFile: "k"}, true},
		{Options{Addr: "127.0.0.1:443", CertFile: "c"}, false},
	} {
		err := c.o.Check()
		if (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.o, err)
		}
		if !c.ok && c.o.CertFile == "" && !errors.Is(err, ErrPlainHTTP) {
			t.Errorf("%+v: %v, want ErrPlainHTTP", c.o, err)
		}
	}
}
