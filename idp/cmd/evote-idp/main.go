// Command evote-idp runs the identity service on its own, a trust domain
// apart from the ballot box: its own keys, its own database, its own HTTP
// listener. It is configured entirely from EVOTE_IDP_* environment variables
// (package idpconfig, spec/08-identity.md §8.12) and posts its entries to
// the election's board through the ballot box's identity endpoint, signed
// with its board key (EVOTE_IDP_BOARD_URL, EVOTE_IDP_BOARD_KEY[_FILE]).
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"evote/ballot"
	"evote/bulletin"
	"evote/client"
	"evote/crypto/elgamal"
	"evote/idp"
	"evote/idp/idpconfig"
	"evote/internal/keytext"
	"evote/internal/tlsserve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 {
		if a := os.Args[1]; a == "--help" || a == "-help" || a == "-h" || a == "help" {
			fmt.Print(usage())
			return
		}
		fmt.Fprintf(os.Stderr, "evote-idp: takes no arguments (it is configured by EVOTE_IDP_* variables); see evote-idp --help\n")
		os.Exit(2)
	}
	if err := run(ctx, os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "evote-idp:", err)
		os.Exit(1)
	}
}

// usage is the --help text: what the command does and its options.
func usage() string {
	return `usage: evote-idp     the identity service (spec chapter 8), a trust domain apart from the ballot box

Configured entirely by environment variables; a secret may instead be read
from the file named by <VARIABLE>_FILE (systemd's LoadCredential puts them
under $CREDENTIALS_DIRECTORY). Keys and hashes are taken in hex, base64 or
base64url alike (by length and alphabet). It starts only once the
election exists on the ballot box (it checks that the manifest names its
board key) and needs the election's context hash (64 hex digits, or the
base64url the ballot box's API shows as extended_hash in GET
/api/v1/elections/<id> once key generation is done).

Development: EVOTE_IDP_MODE=development with EVOTE_IDP_REGISTRY=simulated
(synthetic people) and EVOTE_IDP_SMS=log (codes in this service's log)
runs without a register or an SMS gateway; GET /dev/people then lists the
test people with the last code texted to each (refused with 403 otherwise).

Serves HTTPS with EVOTE_IDP_TLS_CERT and EVOTE_IDP_TLS_KEY; plain HTTP only
on a loopback address or with EVOTE_IDP_INSECURE_HTTP=true. The ballot box's
certificate is checked against the system's roots, or those in the file
SSL_CERT_FILE names.

` + idpconfig.Help()
}

func run(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := idpconfig.Load(getenv)
	if err != nil {
		return err
	}
	if cfg.BoardURL == "" || len(cfg.BoardKey) == 0 {
		return errors.New("EVOTE_IDP_BOARD_URL and EVOTE_IDP_BOARD_KEY are required")
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	logger.Info("configuration", "config", cfg.String())

	// The board must know this service: the manifest's identity key is our
	// board key.
	bc := client.NewPooled(cfg.BoardURL, idp.PostConcurrency)
	info, err := bc.Election(ctx, cfg.ElectionID)
	if err != nil {
		return fmt.Errorf("board: %w", err)
	}
	pub := cfg.BoardKey.Public().(ed25519.PublicKey)
	if !identityKeyMatches(info.IdentityKey, pub) {
		return errors.New("the election's manifest names another identity service key")
	}
	logRaw, err := hex.DecodeString(info.Log)
	if err != nil || len(logRaw) != 32 {
		return errors.New("board: malformed log id")
	}
	board := &client.IdentityBoard{C: bc, ElectionID: cfg.ElectionID, Log: bulletin.LogID(logRaw), Key: cfg.BoardKey}
	if cfg.Revote, err = revoteConfig(info, board); err != nil {
		return err
	}

	gin.SetMode(gin.ReleaseMode)
	rt, err := idpconfig.Build(ctx, cfg, board, logger, stderr)
	if err != nil {
		return err
	}
	defer rt.Close()

	srv := &http.Server{Handler: rt.Handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	ls, err := tlsserve.Listen(srv, tlsserve.Options{Addr: cfg.Listen, CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, InsecureHTTP: cfg.InsecureHTTP, Logger: logger})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- ls.Serve() }()
	logger.Info("listening", "url", ls.URL())

	rollPosted := false
	flush := time.NewTicker(10 * time.Second) // post entries queued while the board was down
	purge := time.NewTicker(24 * time.Hour)   // access-log retention
	defer flush.Stop()
	defer purge.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-flush.C:
			if _, err := rt.Service.FlushBoard(ctx); err != nil {
				logger.Warn("board flush", "err", err)
			}
			if cfg.Revote != nil && !rollPosted && rt.Service.VotingOver() {
				// Deniable re-voting: the roll once the board holds the
				// close (spec §15.7; the same entry every time).
				if err := rt.Service.PostRoll(ctx); err != nil {
					logger.Warn("roll not posted; retrying", "err", err)
				} else {
					rollPosted = true
					logger.Info("roll posted")
				}
			}
		case <-purge.C:
			if n, err := rt.Service.PurgeAccessLog(ctx); err != nil {
				logger.Error("access-log purge", "err", err)
			} else {
				logger.Info("access-log purge", "deleted", n)
			}
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		}
	}
}

// identityKeyMatches compares the board's identity key (base64url, hex or
// base64, whichever the API used) with pub.
func identityKeyMatches(s string, pub ed25519.PublicKey) bool {
	b, err := keytext.Decode(s, ed25519.PublicKeySize)
	return err == nil && ed25519.PublicKey(b).Equal(pub)
}

// revoteConfig configures deniable re-voting from the board's election
// (spec §15.16): nil unless the manifest sets the mode; then the election
// key, the ballot styles, M and the box's authority key (the author of
// the slots) come from the manifest and context the ballot box serves,
// and the board signs the credentials with this service's key.
func revoteConfig(info *client.ElectionInfo, board *client.IdentityBoard) (*idp.RevoteConfig, error) {
	if info.Manifest == "" {
		return nil, nil // a board that does not show it (the box always does)
	}
	raw, err := base64.RawURLEncoding.DecodeString(info.Manifest)
	if err != nil {
		return nil, fmt.Errorf("board: manifest: %w", err)
	}
	m, err := ballot.DecodeManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("board: manifest: %w", err)
	}
	if m.Coercion.Mode != ballot.DeniableRevoting {
		return nil, nil
	}
	jk, err := base64.RawURLEncoding.DecodeString(info.JointKey)
	if err != nil {
		return nil, fmt.Errorf("board: joint key: %w", err)
	}
	pk, err := elgamal.ParsePublicKey(jk)
	if err != nil {
		return nil, fmt.Errorf("board: deniable re-voting needs the election key (start after key generation): %w", err)
	}
	ak, err := keytext.Decode(info.AuthorityKey, ed25519.PublicKeySize)
	if err != nil {
		return nil, fmt.Errorf("board: authority key: %w", err)
	}
	var styles []string
	for _, st := range m.BallotStyles {
		styles = append(styles, st.ID)
	}
	return &idp.RevoteConfig{PublicKey: pk, Signer: board, Styles: styles, BoxKey: ed25519.PublicKey(ak), MaxBallots: int(m.Coercion.MaxBallots)}, nil
}
