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
	"evote/election"
	"evote/idp"
	"evote/idp/idpconfig"
	"evote/internal/keytext"
	"evote/internal/tlsserve"
	"evote/trustee"
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
	logRaw, err := hex.DecodeString(info.Log)
	if err != nil || len(logRaw) != 32 {
		return errors.New("board: malformed log id")
	}
	board := &client.IdentityBoard{C: bc, ElectionID: cfg.ElectionID, Log: bulletin.LogID(logRaw), Key: cfg.BoardKey}
	if cfg.Fingerprint.IsZero() {
		// Without the fingerprint the service has only the ballot box's
		// word for the election; deniable re-voting refuses that.
		if !identityKeyMatches(info.IdentityKey, pub) {
			return errors.New("the election's manifest names another identity service key")
		}
		if err := refuseUnanchoredRevote(info); err != nil {
			return err
		}
		logger.Warn("EVOTE_IDP_FINGERPRINT is unset: the manifest and EVOTE_IDP_CONTEXT_HASH are taken on the ballot box's word, not checked against the board")
	} else {
		logger.Info("replaying the board's beginning up to the election context", "fingerprint", cfg.Fingerprint.String())
		st, cp, err := anchoredElection(ctx, &client.Board{C: bc, ElectionID: cfg.ElectionID, Log: info.Log}, cfg.Fingerprint, 0)
		if err != nil {
			return fmt.Errorf("board: %w", err)
		}
		if err := checkAnchored(st, pub, cfg.ContextHash); err != nil {
			return err
		}
		if cfg.Revote, err = revoteConfig(st, board); err != nil {
			return err
		}
		logger.Info("election checked against the fingerprint and a witnessed checkpoint", "entries", cp.Size, "context_hash", hex.EncodeToString(st.Context.ExtendedHash[:]))
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

// anchoredElection replays the board from its first entry up to the
// election context (spec §9.2.1) through the election rules, the manifest
// checked against the officials' fingerprint and the joint key and context
// hash recomputed from the trustees' signed key generation, and shows with a
// consistency proof that this prefix lies in a checkpoint the manifest's
// witnesses cosigned (trustee.Follower.WitnessPrefix). The identity
// service then holds nothing of the ballot box's word: a box that showed it
// its own election key, another manifest or a private fork is refused. It
// waits for the context while key generation runs; stale bounds the wait
// for a cosigned checkpoint (0: the follower's default).
func anchoredElection(ctx context.Context, b trustee.Board, fp ballot.ExpectedFingerprint, stale time.Duration) (*election.State, *bulletin.SignedCheckpoint, error) {
	f := trustee.NewFollower(b)
	f.Fingerprint, f.Lean, f.StaleWait = fp, true, stale
	if err := f.ReplayUntil(ctx, func(s *election.State) bool { return s.Context != nil }); err != nil {
		return nil, nil, err
	}
	if err := f.WitnessPrefix(ctx); err != nil {
		return nil, nil, err
	}
	return f.State, f.Witnessed(), nil
}

// checkAnchored checks the replayed election against this service's own
// configuration: the manifest names its board key, and the configured
// context hash (which every token and credential carries) is the one the
// key generation gives.
func checkAnchored(st *election.State, pub ed25519.PublicKey, contextHash [32]byte) error {
	if !ed25519.PublicKey(st.Manifest.IdentityKey[:]).Equal(pub) {
		return errors.New("the election's manifest names another identity service key")
	}
	if st.Context.ExtendedHash != contextHash {
		return fmt.Errorf("EVOTE_IDP_CONTEXT_HASH is %x, but the election's key generation on the board gives %x", contextHash, st.Context.ExtendedHash)
	}
	return nil
}

// refuseUnanchoredRevote refuses to run deniable re-voting on the ballot
// box's word: the election key the service encrypts voters' identifiers
// under must come from the board's key generation, or a box that showed
// its own key could decrypt every row's identifier.
func refuseUnanchoredRevote(info *client.ElectionInfo) error {
	if info.Manifest == "" {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(info.Manifest)
	if err != nil {
		return fmt.Errorf("board: manifest: %w", err)
	}
	m, err := ballot.DecodeManifest(raw)
	if err != nil {
		return fmt.Errorf("board: manifest: %w", err)
	}
	if m.Coercion.Mode == ballot.DeniableRevoting {
		return errors.New("the election uses deniable re-voting: set EVOTE_IDP_FINGERPRINT to the fingerprint the officials published, so that the election key is taken from the board's key generation and not from the ballot box")
	}
	return nil
}

// revoteConfig configures deniable re-voting from the replayed election
// (spec §15.16): nil unless its manifest sets the mode; then the election
// key (from the key generation), the ballot styles, M and the box's
// authority key (the author of the manifest entry, who signs the slots)
// are the board's, and the board signs the credentials with this
// service's key.
func revoteConfig(st *election.State, board *client.IdentityBoard) (*idp.RevoteConfig, error) {
	m := st.Manifest
	if m.Coercion.Mode != ballot.DeniableRevoting {
		return nil, nil
	}
	pk, err := elgamal.NewPublicKey(st.Context.JointKey)
	if err != nil {
		return nil, fmt.Errorf("board: election key: %w", err)
	}
	var styles []string
	for _, s := range m.BallotStyles {
		styles = append(styles, s.ID)
	}
	return &idp.RevoteConfig{PublicKey: pk, Signer: board, Styles: styles, BoxKey: ed25519.PublicKey(st.Authority[:]), MaxBallots: int(m.Coercion.MaxBallots)}, nil
}
