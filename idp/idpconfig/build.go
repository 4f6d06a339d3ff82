package idpconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"evote/idp"
	"evote/idp/devpeople"
	"evote/idp/idpapi"
	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
)

// Runtime is a wired identity service.
type Runtime struct {
	Service  *idp.Service
	Handler  http.Handler
	Store    *idpstore.Store
	Issuer   *token.Issuer
	Registry registry.Registry // *registry.Simulated in development with the simulated register
	// DevSMS, with the log SMS sender (development), is the service's
	// sender: it writes each message to the log and keeps the last one per
	// phone for the development page (devpeople.Path).
	DevSMS *devpeople.Recorder
}

// Close releases the database.
func (r *Runtime) Close() error { return r.Store.Close() }

// Build wires the service described by c. board posts the service's
// entries; devSMS receives development SMS lines (the log sender).
func Build(ctx context.Context, c *Config, board idp.Board, logger *slog.Logger, devSMS io.Writer) (*Runtime, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if board == nil {
		return nil, errors.New("idpconfig: a bulletin-board client is required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	var reg registry.Registry
	var sim *registry.Simulated
	switch c.Registry {
	case "simulated":
		s, err := registry.NewSimulated(registry.SimulatedConfig{Seed: c.SimSeed, Constituencies: c.SimConstituencies, PerConstituency: c.SimPerConstituency, ElectionDay: c.ElectionDay})
		if err != nil {
			return nil, err
		}
		sim, reg = s, s
	case "http":
		tlsCfg, err := clientTLS(c)
		if err != nil {
			return nil, err
		}
		reg, err = registry.NewHTTP(registry.HTTPConfig{Endpoint: c.RegistryURL, ClientID: c.RegistryClientID, TLS: tlsCfg, Timeout: c.RegistryTimeout})
		if err != nil {
			return nil, err
		}
	}
	var sender otp.Sender
	var devSent *devpeople.Recorder
	switch c.SMS {
	case "log":
		if devSMS == nil {
			devSMS = os.Stderr
		}
		devSent = &devpeople.Recorder{Next: &otp.LogSender{W: devSMS}}
		sender = devSent
	case "gateway":
		gw, err := otp.NewGateway(otp.GatewayConfig{URL: c.SMSURL, APIKey: c.SMSAPIKey, SenderID: c.SMSSenderID})
		if err != nil {
			return nil, err
		}
		sender = gw
	}
	store, err := idpstore.Open(ctx, c.DBDriver, c.DBDSN)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Runtime, error) {
		store.Close()
		return nil, err
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Issuer: c.Issuer, Audience: c.Audience, TTL: c.TokenTTL}, c.SigningKeys[0])
	if err != nil {
		return fail(err)
	}
	for _, k := range c.SigningKeys[1:] {
		if err := issuer.AddKey(k); err != nil {
			return fail(err)
		}
	}
	svc, err := idp.New(ctx, idp.Config{
		ElectionID: c.ElectionID, ContextHash: c.ContextHash, ElectionDay: c.ElectionDay, PseudonymKey: c.PseudonymKey,
		VotingOpens: c.VotingOpens, VotingCloses: c.VotingCloses, TOTPKey: c.TOTPKey,
		Registry: reg, Sender: sender, Store: store, Board: board, Issuer: issuer,
		Authority: &voterlist.Authority{ElectionID: c.ElectionID, ContextHash: c.ContextHash,
			Stations: c.Stations, Polling: c.PollingOfficials, List: c.ListOfficials},
		AccessLogRetention: c.AccessLogRetention, Logger: logger, Abuse: c.Abuse, Revote: c.Revote,
	})
	if err != nil {
		return fail(err)
	}
	h, err := idpapi.New(svc, issuer, idpapi.Options{TrustedProxies: c.TrustedProxies, Logger: logger})
	if err != nil {
		return fail(err)
	}
	// The development page (devpeople.Path): the simulated people and the
	// last code texted to each; refused unless all three development
	// stand-ins are in use (Validate allows them only in development mode).
	mux := http.NewServeMux()
	if c.Mode != "development" {
		sim, devSent = nil, nil
	}
	mux.Handle(devpeople.Path, devpeople.Handler(sim, devSent))
	mux.Handle("/", h)
	return &Runtime{Service: svc, Handler: mux, Store: store, Issuer: issuer, Registry: reg, DevSMS: devSent}, nil
}

func clientTLS(c *Config) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.RegistryCert, c.RegistryKey)
	if err != nil {
		return nil, fmt.Errorf("idpconfig: register client certificate: %w", err)
	}
	pem, err := os.ReadFile(c.RegistryCA)
	if err != nil {
		return nil, fmt.Errorf("idpconfig: register roots: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("idpconfig: register roots: no certificate in file")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
