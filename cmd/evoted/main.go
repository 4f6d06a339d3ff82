// Command evoted is the ballot box server: it hosts elections (one bulletin
// board log and one set of election rules each), and serves the HTTP API of
// spec/10-api.md for voters, trustees, the identity service and officials.
//
// Configuration is one table (config.go): flags, EVOTE_* environment
// variables, an optional file, and EVOTE_*_FILE for secrets. By default the
// data lives in an embedded SQLite database under ./evote-data; --db
// postgres://… uses PostgreSQL. --dev generates missing keys and runs
// in-process witnesses; without it the server refuses to start unless the
// authority key, the log key, the identity service's key and the log origin
// are configured.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/bulletin/witness"
	"evote/crypto/sig"
	"evote/internal/keytext"
	"evote/internal/tlsserve"
	"evote/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	var help *HelpError
	if errors.As(err, &help) {
		fmt.Print(help.Text)
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run runs evoted with those arguments until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "log-key" {
		return printLogKey(args[1:], getenv, os.Stdout)
	}
	if len(args) > 0 && args[0] == "backup" {
		return backup(ctx, args[1:], getenv, os.Stdout)
	}
	cfg, printOnly, err := loadConfig(args, getenv)
	if err != nil {
		return err
	}
	if printOnly {
		fmt.Print(cfg)
		return nil
	}
	if err := listenOptions(cfg).Check(); err != nil {
		return fmt.Errorf("evoted: %w", err)
	}
	srv, cleanup, err := build(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute}
	ls, err := tlsserve.Listen(hs, listenOptions(cfg))
	if err != nil {
		return fmt.Errorf("evoted: %w", err)
	}
	slog.Info("evoted listening", "url", ls.URL(), "dev", cfg.bool("dev"))
	if err := ls.Run(ctx, 30*time.Second); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenOptions are the listener's settings from the configuration.
func listenOptions(cfg *Config) tlsserve.Options {
	return tlsserve.Options{Addr: cfg.get("listen"), CertFile: cfg.get("tls-cert"), KeyFile: cfg.get("tls-key"), InsecureHTTP: cfg.bool("insecure-http")}
}

// printLogKey prints the verifier key lines of an election's log,
// "origin+keyid+base64" (chapter 11 §11.2), from the server's own
// configuration: what the operator hands the officials (for the manifest,
// evote official sample-manifest --log-key) and the witnesses, out of band.
//
//	evoted log-key ELECTION-ID [the server's flags]
func printLogKey(args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return errors.New("usage: evoted log-key ELECTION-ID [the server's configuration flags]")
	}
	electionID := args[0]
	cfg, _, err := loadConfig(args[1:], getenv)
	if err != nil {
		return err
	}
	dev := cfg.bool("dev")
	k, err := loadKeys(cfg, dev)
	if err != nil {
		return err
	}
	prefix := cfg.get("origin-prefix")
	if prefix == "" {
		if !dev {
			return errors.New("evoted: origin-prefix is required outside --dev")
		}
		prefix = devOriginPrefix
	}
	sk := &boxtest.ServerKeys{Authority: k.authority, LogEd: k.logEd, LogMLDSA: k.logMLDSA}
	lk, err := sk.LogKey(prefix + "/" + electionID)
	if err != nil {
		return err
	}
	if err := bulletin.ValidOrigin(lk.Origin); err != nil {
		return fmt.Errorf("evoted: election id %q: %w", electionID, err)
	}
	_, err = io.WriteString(out, verify.FormatLogKey(lk.Verifier()))
	return err
}

// devOriginPrefix is the log origin prefix in --dev without one configured.
const devOriginPrefix = "evote.localhost/board"

// keys are the server's secrets, from the configuration or (dev) generated.
type keys struct {
	authority ed25519.PrivateKey
	logEd     ed25519.PrivateKey
	logMLDSA  *sig.MLDSAPrivateKey
}

func loadKeys(cfg *Config, dev bool) (*keys, error) {
	k := &keys{}
	seed := func(name string) ([]byte, error) {
		v := cfg.get(name)
		if v == "" {
			if !dev {
				return nil, fmt.Errorf("evoted: %s is required outside --dev (set %s or %s_FILE)", name, envName(name), envName(name))
			}
			return devSecret(cfg.get("data"), name, 32)
		}
		return key32(name, v)
	}
	a, err := seed("authority-key")
	if err != nil {
		return nil, err
	}
	l, err := seed("log-key")
	if err != nil {
		return nil, err
	}
	k.authority, k.logEd = ed25519.NewKeyFromSeed(a), ed25519.NewKeyFromSeed(l)
	if v := cfg.get("log-mldsa-key"); v != "" {
		s, err := key32("log-mldsa-key", v)
		if err != nil {
			return nil, err
		}
		if k.logMLDSA, err = sig.NewMLDSAKeyFromSeed(s); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// devSecret returns a development secret kept in the data directory, made
// on first use, so that a dev server restarts with the same keys (its
// checkpoints stay verifiable). Never used outside --dev.
func devSecret(dataDir, name string, n int) ([]byte, error) {
	path := filepath.Join(dataDir, "dev-"+name)
	if b, err := os.ReadFile(path); err == nil {
		if s, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err == nil && len(s) == n {
			return s, nil
		}
		return nil, fmt.Errorf("evoted: %s is corrupt", path)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
		return nil, err
	}
	slog.Warn("dev mode: generated a key (development only)", "key", name, "file", path)
	return b, nil
}

// withConsole serves the officials' console under /console/ beside the
// voting page: on every host when host is empty, on that host only
// otherwise (the console then has an origin, hence a session storage, of
// its own, apart from the public voting page's), nowhere for "none".
func withConsole(page, cons http.Handler, host string) http.Handler {
	if host == "none" {
		return page
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if (p == "/console" || strings.HasPrefix(p, "/console/")) && (host == "" || strings.EqualFold(hostOnly(r.Host), host)) {
			cons.ServeHTTP(w, r)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// hostOnly strips the port from a Host header.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// devWitnessKeys loads (or makes, on the first start) the keys of n
// in-process development witnesses, kept in dir so that the witnesses a
// manifest names survive restarts, and logs their names and keys for the
// officials' manifest (evote official sample-manifest --witness).
func devWitnessKeys(dir string, n int) ([]ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var keys []ed25519.PrivateKey
	for i := range n {
		path := filepath.Join(dir, fmt.Sprintf("key-%d", i+1))
		seed, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			seed = make([]byte, ed25519.SeedSize)
			if _, err := rand.Read(seed); err != nil {
				return nil, err
			}
			err = os.WriteFile(path, seed, 0o600)
		}
		if err != nil {
			return nil, fmt.Errorf("evoted: development witness key: %w", err)
		}
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("evoted: development witness key %s is %d bytes, want %d", path, len(seed), ed25519.SeedSize)
		}
		k := ed25519.NewKeyFromSeed(seed)
		keys = append(keys, k)
		slog.Info("dev mode: in-process witness", "witness", boxtest.WitnessName(i)+":"+hex.EncodeToString(k.Public().(ed25519.PublicKey)))
	}
	return keys, nil
}

// remoteWitnesses parses "name|url|key,…".
func remoteWitnesses(spec, quorum string) (func(bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error), error) {
	var clients []ballotbox.Cosigner
	for _, w := range strings.Split(spec, ",") {
		parts := strings.Split(strings.TrimSpace(w), "|")
		if len(parts) != 3 {
			return nil, fmt.Errorf("evoted: witness %q: want name|url|key", w)
		}
		kb, err := keytext.Decode(parts[2], 32)
		if err != nil {
			return nil, fmt.Errorf("evoted: witness %q: %w", parts[0], err)
		}
		clients = append(clients, ballotbox.RemoteWitness{Client: &witness.Client{URL: parts[1], Key: bulletin.CosignerKey{Name: parts[0], Public: [32]byte(kb)}}})
	}
	q, err := strconv.Atoi(quorum)
	if err != nil || q < 0 || q > len(clients) {
		return nil, fmt.Errorf("evoted: witness-quorum must be 0..%d", len(clients))
	}
	if q == 0 {
		q = len(clients)
	}
	return func(bulletin.LogVerifier) ([]ballotbox.Cosigner, int, error) { return clients, q, nil }, nil
}

// trustedProxies parses a comma-separated list of addresses and CIDR
// ranges.
func trustedProxies(v string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return nil, fmt.Errorf("evoted: trusted-proxies: %q is neither an address nor a CIDR range", p)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func base32NoPad(b []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}
