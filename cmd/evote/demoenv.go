package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"evote/api"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/client"
	"evote/idp"
	"evote/idp/boxauth"
	"evote/idp/idpapi"
	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/official"
	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
	"evote/trustee"
)

// demoEnv is the server side of the demo: the ballot box (api over
// ballotbox) and, once the election context exists, the identity service,
// each on its own loopback port, over an embedded store in a temporary
// directory or a fresh PostgreSQL schema.
type demoEnv struct {
	dir     string
	pgBase  string // PostgreSQL server DSN, "" for the embedded store
	schema  string // the demo's schema, dropped at the end
	dsn     string // DSN selecting it
	store   store.Store
	offDB   *sql.DB
	keys    *boxtest.ServerKeys
	reg     *ballotbox.Registry
	off     *official.Service
	idKey   ed25519.PrivateKey // identity service's board key
	tokKey  ed25519.PrivateKey // its token key
	adminPW string
	totp    string
	boxURL  string
	idpURL  string
	sms     *otp.Recorder
	sim     *registry.Simulated
	idpSvc  *idp.Service
	idStore *idpstore.Store
	// station and officials of the identity service's authority
	station, poll, list ed25519.PrivateKey
	// clock is the ballot box's; creds its credential source (deniable
	// re-voting), the identity service once it runs.
	clock   *demoClock
	creds   *demoCredentials
	servers []*http.Server
	closers []func()
}

const (
	demoOriginPrefix = "demo.evote.local/board"
	demoAudience     = "evote-ballot-box"
	demoIssuer       = "https://id.demo.evote.local"
)

func newKey() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startServer serves h on a fresh loopback port and returns its URL.
func (e *demoEnv) startServer(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	e.servers = append(e.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

// openDemoEnv opens the stores and starts the ballot box.
func openDemoEnv(ctx context.Context, dbDSN string, logw io.Writer, front func(http.Handler) http.Handler) (*demoEnv, error) {
	gin.SetMode(gin.ReleaseMode)
	e := &demoEnv{clock: &demoClock{}, creds: &demoCredentials{}, sms: &otp.Recorder{}, idKey: newKey(), tokKey: newKey(), station: newKey(), poll: newKey(), list: newKey()}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	dir, err := os.MkdirTemp("", "evote-demo-")
	if err != nil {
		return nil, err
	}
	e.dir = dir
	var dialect official.Dialect
	switch {
	case dbDSN == "":
		st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
		if err != nil {
			return nil, err
		}
		e.store = st
		if e.offDB, err = sql.Open("sqlite", "file:"+filepath.Join(dir, "officials.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"); err != nil {
			return nil, err
		}
		e.offDB.SetMaxOpenConns(1)
		dialect = official.SQLite
	case strings.HasPrefix(dbDSN, "postgres://") || strings.HasPrefix(dbDSN, "postgresql://"):
		// A fresh schema per run, dropped at the end.
		e.pgBase, e.schema = dbDSN, "evote_demo_"+randomHex(6)
		conn, err := pgx.Connect(ctx, dbDSN)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		_, err = conn.Exec(ctx, "CREATE SCHEMA "+e.schema)
		conn.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("postgres: create schema: %w", err)
		}
		e.dsn = pgtest.WithSearchPath(dbDSN, e.schema)
		st, err := postgres.Open(ctx, e.dsn)
		if err != nil {
			return nil, err
		}
		e.store = st
		if e.offDB, err = sql.Open("pgx", e.dsn); err != nil {
			return nil, err
		}
		dialect = official.Postgres
	default:
		return nil, fmt.Errorf("--db: want a postgres:// URL, got %q", dbDSN)
	}
	sealKey := make([]byte, 32) // the officials' TOTP secrets are sealed, as evoted does
	if _, err := rand.Read(sealKey); err != nil {
		return nil, err
	}
	if e.off, err = official.Open(ctx, official.Config{DB: e.offDB, Dialect: dialect, SealKey: sealKey, Argon2: official.Argon2Params{Time: 1, Memory: 19 << 10, Threads: 1}}); err != nil {
		return nil, err
	}
	e.adminPW = randomHex(16)
	if e.totp, err = official.NewTOTPSecret(); err != nil {
		return nil, err
	}
	if _, err := e.off.Bootstrap(ctx, "admin", e.adminPW, e.totp); err != nil {
		return nil, err
	}
	if e.keys, err = boxtest.NewServerKeys(false, 2); err != nil {
		return nil, err
	}
	idPub := [32]byte(e.idKey.Public().(ed25519.PublicKey))
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.reg, err = ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{
		Store: e.store, Catalog: e.off, OriginPrefix: demoOriginPrefix, LogKey: e.keys.LogKey,
		Authority: e.keys.Authority, Witnesses: boxtest.LocalWitnesses(dir, e.keys.Witnesses), IdentityKey: &idPub,
		Audience: demoAudience, Logger: logger, Now: e.clock.Now, Credentials: e.creds,
	})
	if err != nil {
		return nil, err
	}
	srv := &api.Server{Registry: e.reg, Officials: e.off}
	h := srv.Handler()
	if front != nil {
		h = front(h)
	}
	if e.boxURL, err = e.startServer(h); err != nil {
		return nil, err
	}
	ok = true
	return e, nil
}

// startIdentity starts the identity service for an election whose context
// hash is known, with a simulated population register whose
// constituencies are the election's ballot styles.
func (e *demoEnv) startIdentity(ctx context.Context, electionID string, contextHash [32]byte, log bulletin.LogID, styles []string, perStyle int, logw io.Writer, board idp.Board, rv *idp.RevoteConfig) error {
	day := time.Now().UTC().Truncate(24 * time.Hour)
	var err error
	if e.sim, err = registry.NewSimulated(registry.SimulatedConfig{Seed: "evote-demo-" + electionID, Constituencies: styles, PerConstituency: perStyle, ElectionDay: day}); err != nil {
		return err
	}
	if e.pgBase == "" {
		e.idStore, err = idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(e.dir, "idp.db"))
	} else {
		e.idStore, err = idpstore.Open(ctx, "pgx", e.dsn)
	}
	if err != nil {
		return err
	}
	issuer, err := token.NewIssuer(token.IssuerConfig{Issuer: demoIssuer, Audience: demoAudience, TTL: 30 * time.Minute}, e.tokKey)
	if err != nil {
		return err
	}
	pk := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	auth := &voterlist.Authority{ElectionID: electionID, ContextHash: contextHash,
		Stations: map[string]ed25519.PublicKey{"station-bishkek-1": pk(e.station)},
		Polling:  map[string]ed25519.PublicKey{"poll-official-1": pk(e.poll)},
		List:     map[string]ed25519.PublicKey{"list-official-1": pk(e.list)}}
	pkey := make([]byte, voterlist.PseudonymKeySize)
	rand.Read(pkey)
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.idpSvc, err = idp.New(ctx, idp.Config{
		ElectionID: electionID, ContextHash: contextHash, ElectionDay: day, PseudonymKey: pkey,
		Registry: e.sim, Sender: e.sms, Store: e.idStore, Board: board, Issuer: issuer, Authority: auth, Logger: logger,
		// Every simulated voter comes from the same loopback address: the
		// per-client rate limit would throttle the demo, not an attacker.
		Abuse:  idp.AbuseConfig{ClientRate: 1e6, ClientBurst: 1e6, ClientMaxFailures: 1 << 30},
		Revote: rv,
	})
	if err != nil {
		return err
	}
	h, err := idpapi.New(e.idpSvc, issuer, idpapi.Options{Logger: logger})
	if err != nil {
		return err
	}
	if e.idpURL, err = e.startServer(h); err != nil {
		return err
	}
	e.creds.set(&boxauth.Client{BaseURL: e.idpURL, Key: e.keys.Authority})
	return nil
}

// Close stops the servers, closes the stores and removes the temporary
// directory and PostgreSQL schema.
func (e *demoEnv) Close() {
	for _, s := range e.servers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.Shutdown(ctx)
		cancel()
	}
	if e.reg != nil {
		e.reg.Close()
	}
	if e.idStore != nil {
		e.idStore.Close()
	}
	if e.offDB != nil {
		e.offDB.Close()
	}
	if e.store != nil {
		e.store.Close()
	}
	for _, c := range e.closers {
		c()
	}
	if e.schema != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, e.pgBase); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+e.schema+" CASCADE")
			conn.Close(ctx)
		}
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

var errDemo = errors.New("demo failed")

// officiateKeygen plays the officials during key generation: n trustees'
// tools report their steps on steps and their outcome on errs; when every
// trustee has done a step the officials post the entry that ends its
// round (the qualified set, the close of the extraction round, the
// context). It returns once every trustee's tool has finished.
func officiateKeygen(ctx context.Context, n int, steps <-chan string, errs <-chan error, off *client.Client, electionID string, newBoard func() (*client.Board, error)) error {
	count := map[string]int{}
	finished := 0
	for count[trustee.StepExtractionComplaint] < n {
		select {
		case s := <-steps:
			count[s]++
			if count[s] != n {
				continue
			}
			switch s {
			case trustee.StepComplained:
				// Wait for the answers to every complaint (at most a
				// minute: a dealer that does not answer is disqualified).
				ob, err := newBoard()
				if err != nil {
					return err
				}
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				err = trustee.NewFollower(ob).Until(wctx, trustee.ComplaintsAnswered)
				cancel()
				if err != nil && !errors.Is(err, context.DeadlineExceeded) {
					return err
				}
				if err := act(ctx, off, electionID, "qualified"); err != nil {
					return err
				}
			case trustee.StepExtracted:
				// Every trustee's extraction is on the board: the
				// officials close the round (its deadline, in the log).
				if err := act(ctx, off, electionID, "close-extraction"); err != nil {
					return err
				}
			case trustee.StepExtractionComplaint:
				if err := act(ctx, off, electionID, "context"); err != nil {
					return err
				}
			}
		case err := <-errs:
			finished++
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for ; finished < n; finished++ {
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}
