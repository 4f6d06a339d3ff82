package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"evote/api"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/ballotbox/idsource"
	"evote/idp/boxauth"
	"evote/official"
	"evote/store"
	"evote/store/postgres"
	"evote/store/sqlite"
	"evote/web"
	"evote/web/console"
	"evote/web/portal"
)

// build wires the stores, the officials' service, the elections and the
// API from the configuration. It returns the server and what closes it;
// on an error, whatever was opened is closed.
func build(ctx context.Context, cfg *Config) (*api.Server, func(), error) {
	b := &builder{cfg: cfg, dev: cfg.bool("dev")}
	srv, err := b.build(ctx)
	if err != nil {
		b.cleanup()
		return nil, nil, err
	}
	return srv, b.cleanup, nil
}

// builder holds what build has opened so far, closed in reverse order by
// cleanup.
type builder struct {
	cfg     *Config
	dev     bool
	dataDir string
	closers []func()
}

func (b *builder) cleanup() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// build is the steps of build, in order.
func (b *builder) build(ctx context.Context) (*api.Server, error) {
	k, err := loadKeys(b.cfg, b.dev)
	if err != nil {
		return nil, err
	}
	origin, idKey, err := b.anchors()
	if err != nil {
		return nil, err
	}
	// The server first, so that its metrics can watch the store and the
	// witnesses the elections are opened with.
	srv := api.NewServer()
	met := srv.Metrics()
	b.dataDir = b.cfg.get("data")
	if err := os.MkdirAll(b.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("evoted: data directory: %w", err)
	}
	st, db, dialect, dbStats, err := b.openStore(ctx)
	if err != nil {
		return nil, err
	}
	if err := met.Register(dbStats); err != nil {
		return nil, err
	}
	offs, err := b.officials(ctx, k, db, dialect)
	if err != nil {
		return nil, err
	}
	rc, err := b.registryConfig(k, st, offs, origin, idKey)
	if err != nil {
		return nil, err
	}
	rc.Store, rc.Witnesses = met.Store(st), met.Witnesses(rc.Witnesses)
	reg, err := ballotbox.OpenRegistry(ctx, rc)
	if err != nil {
		return nil, err
	}
	b.closers = append(b.closers, func() { reg.Close() })
	gin.SetMode(gin.ReleaseMode)
	srv.Registry, srv.Officials = reg, offs
	srv.Ready = func() error { return db.PingContext(context.Background()) }
	if srv.TrustedProxies, err = trustedProxies(b.cfg.get("trusted-proxies")); err != nil {
		return nil, err
	}
	// The identity service: the voting page forwards the voter's sign-in
	// routes to it, the officials' voter-list routes their signed changes.
	if u := b.cfg.get("identity-url"); u != "" {
		if srv.Identity, err = url.Parse(u); err != nil {
			return nil, fmt.Errorf("evoted: identity-url: %w", err)
		}
	}
	return srv, b.mountWeb(srv)
}

// anchors reads the origin prefix of the elections' logs and the
// identity service's board key (development defaults under --dev only).
func (b *builder) anchors() (origin string, idKey *[32]byte, err error) {
	origin = b.cfg.get("origin-prefix")
	if origin == "" {
		if !b.dev {
			return "", nil, errors.New("evoted: origin-prefix is required outside --dev")
		}
		origin = devOriginPrefix
	}
	if v := b.cfg.get("identity-key"); v != "" {
		k, err := key32("identity-key", v)
		if err != nil {
			return "", nil, err
		}
		idKey = (*[32]byte)(k)
	} else if !b.dev {
		return "", nil, errors.New("evoted: identity-key (the identity service's board key) is required outside --dev")
	}
	return origin, idKey, nil
}

// openStore opens PostgreSQL (--db postgres://…) or the embedded SQLite
// in the data directory, with the collector of its pool's metrics.
func (b *builder) openStore(ctx context.Context) (store.Store, *sql.DB, official.Dialect, prometheus.Collector, error) {
	dsn := b.cfg.get("db")
	switch {
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		pg, err := postgres.Open(ctx, dsn)
		if err != nil {
			return nil, nil, 0, nil, err
		}
		b.closers = append(b.closers, func() { pg.Close() })
		return pg, stdlib.OpenDBFromPool(pg.Pool()), official.Postgres, pgxPoolCollector{pg.Pool()}, nil
	case dsn != "":
		return nil, nil, 0, nil, errors.New("evoted: --db must be a postgres:// DSN (empty for the embedded SQLite)")
	}
	sq, err := sqlite.Open(ctx, filepath.Join(b.dataDir, "evote.db"))
	if err != nil {
		return nil, nil, 0, nil, err
	}
	b.closers = append(b.closers, func() { sq.Close() })
	return sq, sq.DB(), official.SQLite, collectors.NewDBStatsCollector(sq.DB(), "evote"), nil
}

// officials opens the officials' service and creates the first admin
// account if there is none (a random one, printed once, under --dev).
func (b *builder) officials(ctx context.Context, k *keys, db *sql.DB, dialect official.Dialect) (*official.Service, error) {
	// The officials' TOTP secrets are sealed in the database under a key
	// derived from the authority key, so a copy of the database alone
	// does not yield them.
	sealKey, err := hkdf.Key(sha256.New, k.authority.Seed(), nil, "evote/official/totp-seal/v1", 32)
	if err != nil {
		return nil, err
	}
	offs, err := official.Open(ctx, official.Config{DB: db, Dialect: dialect, SealKey: sealKey})
	if err != nil {
		return nil, err
	}
	adminUser, adminPass, adminTOTP := b.cfg.get("admin-user"), b.cfg.get("admin-password"), b.cfg.get("admin-totp")
	devAdmin := b.dev && adminUser == ""
	if devAdmin {
		// A random admin for development, printed once; never a default.
		p, err := devSecret(b.dataDir, "admin-password", 18)
		if err != nil {
			return nil, err
		}
		t, err := devSecret(b.dataDir, "admin-totp", official.TOTPSecretSize)
		if err != nil {
			return nil, err
		}
		adminUser, adminPass, adminTOTP = "admin", base64.StdEncoding.EncodeToString(p), base32NoPad(t)
	}
	created, err := offs.Bootstrap(ctx, adminUser, adminPass, adminTOTP)
	if err != nil {
		return nil, err
	}
	if created {
		slog.Info("bootstrap admin account created", "user", adminUser)
		if devAdmin {
			slog.Warn("dev mode: development admin (password and TOTP secret are in the data directory)", "user", adminUser,
				"password_file", filepath.Join(b.dataDir, "dev-admin-password"), "totp_uri", official.TOTPURI("evote-dev", adminUser, adminTOTP))
		}
	}
	return offs, nil
}

// registryConfig is the elections' configuration: keys, anchors, audit
// and snapshot periods, and the witnesses (remote ones, or local ones
// under --dev).
func (b *builder) registryConfig(k *keys, st store.Store, offs *official.Service, origin string, idKey *[32]byte) (ballotbox.RegistryConfig, error) {
	sk := &boxtest.ServerKeys{Authority: k.authority, LogEd: k.logEd, LogMLDSA: k.logMLDSA}
	rc := ballotbox.RegistryConfig{Store: st, Catalog: offs, OriginPrefix: origin, LogKey: sk.LogKey, Authority: k.authority, IdentityKey: idKey, Audience: b.cfg.get("audience")}
	if u := b.cfg.get("identity-url"); u != "" {
		// Deniable re-voting: the identity service signs the credentials
		// of the box's dummy and padding rows (spec §15.16.2).
		rc.Credentials = idsource.Source{C: &boxauth.Client{BaseURL: u, Key: k.authority}}
	}
	every, err := b.cfg.positive("audit-every")
	if err == nil {
		rc.AuditEvery = uint64(every)
		rc.AuditMinBatch, err = b.cfg.positive("audit-min-batch")
	}
	if err == nil {
		if b.cfg.get("snapshot-every") == "off" {
			rc.NoSnapshots = true
		} else if every, err = b.cfg.positive("snapshot-every"); err == nil {
			rc.SnapshotEvery = uint64(every)
		}
	}
	if err != nil {
		return rc, err
	}
	if ws := b.cfg.get("witnesses"); ws != "" {
		rc.Witnesses, err = remoteWitnesses(ws, b.cfg.get("witness-quorum"))
		return rc, err
	}
	if b.dev {
		n, _ := strconv.Atoi(b.cfg.get("dev-witnesses"))
		keys, err := devWitnessKeys(filepath.Join(b.dataDir, "witnesses"), n)
		if err != nil {
			return rc, err
		}
		rc.Witnesses = boxtest.LocalWitnesses(filepath.Join(b.dataDir, "witnesses"), keys)
	}
	return rc, nil
}

// mountWeb serves the voting page (embedded, or --web-dir), the
// observers' portal at /portal/ and the officials' console beside them.
func (b *builder) mountWeb(srv *api.Server) error {
	var err error
	if dir := b.cfg.get("web-dir"); dir != "" {
		srv.Web = http.FileServer(http.Dir(dir))
	} else {
		// The voting page embedded in the binary (package web), reaching
		// the identity service through its own origin.
		if srv.Web, err = web.New(web.Options{Identity: srv.Identity}); err != nil {
			return err
		}
		srv.ClientHash = web.ClientHash()
	}
	// The observers' portal (package portal) at /portal/, on the public
	// read routes of the same origin.
	obs, err := portal.New(portal.Options{})
	if err != nil {
		return err
	}
	srv.Web = portal.Mount(obs, srv.Web)
	// The officials' console beside the voting page, under its own path
	// (or host); it calls the same /api/v1 routes as the CLI.
	cons, err := console.New()
	if err != nil {
		return err
	}
	srv.Web = withConsole(srv.Web, cons, b.cfg.get("console-host"))
	return nil
}
