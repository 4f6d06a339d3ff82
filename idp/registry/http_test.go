package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"evote/idp/registry"
	"evote/idp/registry/registrytest"
)

var day = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func sim(t *testing.T) *registry.Simulated {
	t.Helper()
	s, err := registry.NewSimulated(registry.SimulatedConfig{Seed: "http", Constituencies: []string{"KG-ABR-01"}, PerConstituency: 10, ElectionDay: day})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func adapter(t *testing.T, url string, mod func(*registry.HTTPConfig)) *registry.HTTP {
	t.Helper()
	cfg := registry.HTTPConfig{Endpoint: url, ClientID: "KG/GOV/70000001/evote", AllowHTTP: true, Timeout: 200 * time.Millisecond, MaxAttempts: 3, BackoffBase: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	h, err := registry.NewHTTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func query(p *registry.SimPerson) registry.Query {
	return registry.Query{PIN: p.PIN, DocumentNumber: p.DocumentNumber, BirthDate: p.BirthDate}
}

func TestHTTPAnswers(t *testing.T) {
	s := sim(t)
	srv := registrytest.New(s)
	defer srv.Close()
	h := adapter(t, srv.URL, nil)
	ctx := context.Background()
	p := s.People()[0]
	c, err := h.Lookup(ctx, query(p))
	if err != nil || c.Phone != p.Phone || c.Constituency != p.Constituency || !c.BirthDate.Equal(p.BirthDate) || c.PIN.Digits() != p.PIN.Digits() {
		t.Fatalf("Lookup = %+v, %v", c, err)
	}
	if got := srv.Clients(); got[0] != "KG/GOV/70000001/evote" {
		t.Errorf("X-Road-Client = %q", got[0])
	}
	q := query(p)
	q.DocumentNumber = "ZZ0000000"
	if _, err := h.Lookup(ctx, q); !errors.Is(err, registry.ErrDocumentMismatch) {
		t.Errorf("document: %v", err)
	}
	q = query(p)
	q.BirthDate = q.BirthDate.AddDate(0, 0, 1)
	if _, err := h.Lookup(ctx, q); !errors.Is(err, registry.ErrBirthDateMismatch) {
		t.Errorf("birth date: %v", err)
	}
	q = query(p)
	q.PIN = registry.MustParsePIN("10101190099999")
	if _, err := h.Lookup(ctx, q); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	d := s.People()[9] // deceased
	if c, err := h.Lookup(ctx, query(d)); err != nil || !c.Deceased {
		t.Errorf("deceased flag lost: %+v %v", c, err)
	}
}

func TestHTTPMisbehaviour(t *testing.T) {
	s := sim(t)
	srv := registrytest.New(s)
	defer srv.Close()
	ctx := context.Background()
	p := s.People()[0]

	t.Run("5xx retried then unavailable", func(t *testing.T) {
		h := adapter(t, srv.URL, nil)
		srv.SetMode(registrytest.ServerError, 0)
		defer srv.SetMode(registrytest.Normal, 0)
		before := srv.Requests()
		if _, err := h.Lookup(ctx, query(p)); !errors.Is(err, registry.ErrUnavailable) || registry.IsMismatch(err) {
			t.Errorf("5xx: %v", err)
		}
		if n := srv.Requests() - before; n != 3 {
			t.Errorf("5xx: %d attempts, want 3", n)
		}
	})
	t.Run("transient 5xx then success", func(t *testing.T) {
		h := adapter(t, srv.URL, nil)
		srv.FailNext(2)
		before := srv.Requests()
		if _, err := h.Lookup(ctx, query(p)); err != nil {
			t.Errorf("after 2 failures: %v", err)
		}
		if n := srv.Requests() - before; n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
	})
	t.Run("slow", func(t *testing.T) {
		h := adapter(t, srv.URL, func(c *registry.HTTPConfig) { c.Timeout = 30 * time.Millisecond; c.MaxAttempts = 2 })
		srv.SetMode(registrytest.Slow, 300*time.Millisecond)
		defer srv.SetMode(registrytest.Normal, 0)
		start := time.Now()
		_, err := h.Lookup(ctx, query(p))
		if !errors.Is(err, registry.ErrTimeout) || !registry.IsUnavailable(err) {
			t.Errorf("slow: %v", err)
		}
		if el := time.Since(start); el > 250*time.Millisecond {
			t.Errorf("slow lookup took %v despite 30 ms timeouts", el)
		}
	})
	t.Run("caller deadline", func(t *testing.T) {
		h := adapter(t, srv.URL, func(c *registry.HTTPConfig) { c.Timeout = time.Second })
		srv.SetMode(registrytest.Slow, 300*time.Millisecond)
		defer srv.SetMode(registrytest.Normal, 0)
		cctx, cancel := context.WithTimeout(ctx, 40*time.Millisecond)
		defer cancel()
		if _, err := h.Lookup(cctx, query(p)); !errors.Is(err, registry.ErrTimeout) {
			t.Errorf("deadline: %v", err)
		}
	})
	t.Run("malformed not retried", func(t *testing.T) {
		h := adapter(t, srv.URL, nil)
		srv.SetMode(registrytest.Malformed, 0)
		defer srv.SetMode(registrytest.Normal, 0)
		before := srv.Requests()
		if _, err := h.Lookup(ctx, query(p)); !errors.Is(err, registry.ErrMalformed) || !registry.IsUnavailable(err) {
			t.Errorf("malformed: %v", err)
		}
		if n := srv.Requests() - before; n != 1 {
			t.Errorf("malformed answer retried: %d attempts", n)
		}
	})
	t.Run("wrong person", func(t *testing.T) {
		h := adapter(t, srv.URL, nil)
		srv.SetMode(registrytest.WrongPerson, 0)
		defer srv.SetMode(registrytest.Normal, 0)
		if _, err := h.Lookup(ctx, query(s.People()[3])); !errors.Is(err, registry.ErrWrongPerson) || !errors.Is(err, registry.ErrMalformed) {
			t.Errorf("wrong person: %v", err)
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		h := adapter(t, srv.URL, nil)
		srv.SetMode(registrytest.Redirect, 0)
		defer srv.SetMode(registrytest.Normal, 0)
		if _, err := h.Lookup(ctx, query(p)); !errors.Is(err, registry.ErrMalformed) {
			t.Errorf("redirect: %v", err)
		}
	})
}

func TestCircuitBreaker(t *testing.T) {
	s := sim(t)
	srv := registrytest.New(s)
	defer srv.Close()
	ck := &clock{t: day}
	h := adapter(t, srv.URL, func(c *registry.HTTPConfig) {
		c.MaxAttempts, c.BreakerThreshold, c.BreakerCooldown, c.Now = 1, 2, 10*time.Second, ck.now
	})
	ctx := context.Background()
	p := s.People()[0]
	srv.SetMode(registrytest.ServerError, 0)
	h.Lookup(ctx, query(p))
	h.Lookup(ctx, query(p))
	before := srv.Requests()
	if _, err := h.Lookup(ctx, query(p)); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("open circuit: %v", err)
	}
	if srv.Requests() != before {
		t.Fatal("open circuit still sent a request")
	}
	srv.SetMode(registrytest.Normal, 0)
	ck.add(11 * time.Second)
	if _, err := h.Lookup(ctx, query(p)); err != nil {
		t.Fatalf("half-open trial: %v", err)
	}
	if _, err := h.Lookup(ctx, query(p)); err != nil {
		t.Fatalf("closed again: %v", err)
	}
	// Mismatches are answers, not failures: they never open the circuit.
	q := query(p)
	q.DocumentNumber = "ZZ0000000"
	for i := 0; i < 5; i++ {
		h.Lookup(ctx, q)
	}
	if _, err := h.Lookup(ctx, query(p)); err != nil {
		t.Fatalf("mismatches opened the circuit: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []registry.HTTPConfig{
		{Endpoint: "http://tunduk.example/x", AllowHTTP: true},
		{Endpoint: "http://127.0.0.1:1/x"},
		{Endpoint: "https://tunduk.example/x"}, // no client certificate
		{Endpoint: "::bad"},
	} {
		if _, err := registry.NewHTTP(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// pki makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA.
func pki(t *testing.T) (pool *x509.CertPool, server, client tls.Certificate) {
	t.Helper()
	mk := func(tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (tls.Certificate, *x509.Certificate, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if parent == nil {
			parent, parentKey = tmpl, k
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, c, k
	}
	now := time.Now()
	_, ca, caKey := mk(&x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	server, _, _ = mk(&x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "registry"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	client, _, _ = mk(&x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "evote-idp"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pool, server, client
}

func TestMutualTLS(t *testing.T) {
	s := sim(t)
	fake := &registrytest.Server{Sim: s}
	pool, serverCert, clientCert := pki(t)
	srv := httptest.NewUnstartedServer(fake.Handler())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures below are expected
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()
	p := s.People()[0]
	good, err := registry.NewHTTP(registry.HTTPConfig{Endpoint: srv.URL, TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}}, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.Lookup(context.Background(), query(p)); err != nil {
		t.Fatalf("mutual TLS lookup: %v", err)
	}
	// A client certificate from another CA is refused by the server.
	_, _, strangerCert := pki(t)
	bad, _ := registry.NewHTTP(registry.HTTPConfig{Endpoint: srv.URL, TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{strangerCert}}, MaxAttempts: 1})
	if _, err := bad.Lookup(context.Background(), query(p)); !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("foreign client certificate: %v", err)
	}
	// A server not signed by the trusted CA is refused by the client.
	otherPool, _, _ := pki(t)
	wrongRoot, _ := registry.NewHTTP(registry.HTTPConfig{Endpoint: srv.URL, TLS: &tls.Config{RootCAs: otherPool, Certificates: []tls.Certificate{clientCert}}, MaxAttempts: 1})
	if _, err := wrongRoot.Lookup(context.Background(), query(p)); !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("untrusted server: %v", err)
	}
}
