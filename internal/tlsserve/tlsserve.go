// Package tlsserve serves evote's HTTP servers (cmd/evoted, the identity
// service's idp/cmd/evote-idp) over TLS from certificate files that are
// reloaded when they change, with modern settings and HSTS; plain HTTP is
// allowed only on a loopback address (development, or behind a reverse
// proxy on the same host) or when the operator says so explicitly.
//
// Settings: TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE key exchange
// with AEAD ciphers (AES-GCM, ChaCha20-Poly1305), so every connection has
// forward secrecy; TLS 1.3's suites and the key exchanges (X25519MLKEM768
// first) are Go's defaults. HSTS tells browsers to use HTTPS only, for two
// years, subdomains included.
package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Options say how a server listens.
type Options struct {
	// Addr is the address to listen on (host:port).
	Addr string
	// CertFile and KeyFile are PEM files: the certificate chain (leaf
	// first) and its private key. Both or neither.
	CertFile, KeyFile string
	// InsecureHTTP allows plain HTTP on an address that is not loopback
	// (a reverse proxy on another host terminates TLS).
	InsecureHTTP bool
	// HSTSMaxAge is the Strict-Transport-Security max-age (default two
	// years).
	HSTSMaxAge time.Duration
	// Logger reports reloads and their failures (default slog.Default).
	Logger *slog.Logger
}

// ErrPlainHTTP is returned for plain HTTP on a non-loopback address
// without InsecureHTTP.
var ErrPlainHTTP = errors.New("tlsserve: plain HTTP is served only on a loopback address: give a certificate and key, or allow plain HTTP explicitly behind a TLS-terminating reverse proxy")

// TLS reports whether the options serve HTTPS.
func (o Options) TLS() bool { return o.CertFile != "" || o.KeyFile != "" }

// Check validates the options.
func (o Options) Check() error {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return errors.New("tlsserve: a certificate file needs its key file and a key file its certificate file")
	}
	if o.TLS() || o.InsecureHTTP {
		return nil
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("tlsserve: listen address %q: %w", o.Addr, err)
	}
	if !Loopback(host) {
		return fmt.Errorf("%w (address %s)", ErrPlainHTTP, o.Addr)
	}
	return nil
}

// Loopback reports whether host names only the loopback interface; an
// empty host (every interface) is not.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Reloader holds a certificate loaded from files and loads it again when
// either file changes (checked at most once a second, at a handshake), so
// that a renewed certificate is served without a restart. A renewal that
// does not load (a key that does not match, a half-written file) is logged
// and the previous certificate kept.
type Reloader struct {
	certFile, keyFile string
	logger            *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string    // the files' sizes and modification times at load
	checked time.Time // last look at the files
}

// NewReloader loads the certificate and key; they must load.
func NewReloader(certFile, keyFile string, logger *slog.Logger) (*Reloader, error) {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, logger: logger}
	stamp, err := r.stampNow()
	if err != nil {
		return nil, err
	}
	if r.cert, err = r.load(); err != nil {
		return nil, err
	}
	r.stamp, r.checked = stamp, time.Now()
	return r, nil
}

func (r *Reloader) stampNow() (string, error) {
	var b strings.Builder
	for _, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("tlsserve: %w", err)
		}
		fmt.Fprintf(&b, "%d:%d;", st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

func (r *Reloader) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsserve: certificate %s, key %s: %w", r.certFile, r.keyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tlsserve: certificate %s: %w", r.certFile, err)
		}
	}
	return &c, nil
}

// reloadEvery is how often, at most, a handshake looks at the files.
const reloadEvery = time.Second

// GetCertificate implements tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < reloadEvery {
		return r.cert, nil
	}
	r.checked = time.Now()
	stamp, err := r.stampNow()
	if err != nil || stamp == r.stamp {
		if err != nil {
			r.logger.Error("tlsserve: certificate files unreadable, serving the loaded certificate", "err", err)
		}
		return r.cert, nil
	}
	c, err := r.load()
	if err != nil {
		// Perhaps half written: try again at a later handshake.
		r.logger.Error("tlsserve: new certificate does not load, serving the previous one", "err", err)
		return r.cert, nil
	}
	r.cert, r.stamp = c, stamp
	r.logger.Info("tlsserve: certificate reloaded", "file", r.certFile, "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter)
	return c, nil
}

// Config returns the server TLS settings with r's certificate.
func Config(r *Reloader) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// TLS 1.2 only (1.3's are fixed): ECDHE and AEAD.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// DefaultHSTSMaxAge is two years, what HSTS preload lists ask for.
const DefaultHSTSMaxAge = 2 * 365 * 24 * time.Hour

// HSTS adds Strict-Transport-Security to every answer of h.
func HSTS(h http.Handler, maxAge time.Duration) http.Handler {
	if maxAge <= 0 {
		maxAge = DefaultHSTSMaxAge
	}
	v := fmt.Sprintf("max-age=%d; includeSubDomains", int64(maxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", v)
		h.ServeHTTP(w, r)
	})
}

// Server is a listening server.
type Server struct {
	HTTP     *http.Server
	Listener net.Listener
	TLS      bool
}

// Listen checks the options and listens; hs's handler is wrapped with
// HSTS and its TLS settings set when the options serve HTTPS.
func Listen(hs *http.Server, o Options) (*Server, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("tlsserve: %w", err)
	}
	s := &Server{HTTP: hs, Listener: ln, TLS: o.TLS()}
	if !s.TLS {
		if host, _, _ := net.SplitHostPort(o.Addr); !Loopback(host) {
			logger(o).Warn("tlsserve: serving plain HTTP on a non-loopback address (insecure-http): a reverse proxy must terminate TLS in front", "addr", o.Addr)
		}
		return s, nil
	}
	r, err := NewReloader(o.CertFile, o.KeyFile, logger(o))
	if err != nil {
		ln.Close()
		return nil, err
	}
	hs.TLSConfig = Config(r)
	hs.Handler = HSTS(hs.Handler, o.HSTSMaxAge)
	return s, nil
}

func logger(o Options) *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// Serve serves until the listener fails or Shutdown is called (then it
// returns http.ErrServerClosed).
func (s *Server) Serve() error {
	if s.TLS {
		return s.HTTP.ServeTLS(s.Listener, "", "")
	}
	return s.HTTP.Serve(s.Listener)
}

// URL is the server's base URL (scheme and the listener's address).
func (s *Server) URL() string {
	if s.TLS {
		return "https://" + s.Listener.Addr().String()
	}
	return "http://" + s.Listener.Addr().String()
}

// Run serves until ctx ends, then shuts down within grace.
func (s *Server) Run(ctx context.Context, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return s.HTTP.Shutdown(sctx)
}
