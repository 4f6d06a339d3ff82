package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"evote/api"
	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/official"
	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
	"evote/verify"
)

// election is a running election on a store: keys made, the voter list
// posted, voting open, some ballots cast.
type election struct {
	f       *boxtest.Fixture
	dir     string // the witnesses' state
	ballots int
}

func startElection(t *testing.T, st store.Store, db *sql.DB, dialect official.Dialect, dir string) *election {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	offs, err := official.Open(ctx, official.Config{DB: db, Dialect: dialect, Argon2: official.Argon2Params{Time: 1, Memory: 1024, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st, Catalog: offs, Witnesses: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	e := &election{f: f, dir: dir}
	for range 3 {
		e.cast(t)
	}
	return e
}

// cast casts one ballot of a new voter on the fixture's box, and wants a
// receipt cosigned by the witnesses.
func (e *election) cast(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	v, err := e.f.NewVoter(ctx, [32]byte{}, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := e.f.Prepare(v, e.f.Selection(e.ballots, v.Style))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.f.Box.Cast(ctx, v.Token, raw)
	if err != nil {
		t.Fatalf("cast: %v", err)
	}
	if !r.Witnessed {
		t.Fatal("cast: the receipt is not witnessed")
	}
	e.ballots++
}

// snapshot has the box take a snapshot of its state (spec §7.7.1) and
// casts one more ballot after it, so a reopen restores the snapshot and
// replays what follows; it returns the snapshot's size.
func (e *election) snapshot(t *testing.T) uint64 {
	t.Helper()
	n, err := e.f.Box.Snapshot(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("snapshot: %d, %v", n, err)
	}
	e.cast(t)
	return n
}

// resume opens the elections again on a restored store with the server's
// keys, finds every ballot cast before the backup, casts one more ballot
// (witnessed), and checks that the whole board verifies (fetched over the
// API, against the election's fingerprint). The box must have restored
// the snapshot of size snap (0: replayed the whole board).
func (e *election) resume(t *testing.T, st store.Store, db *sql.DB, dialect official.Dialect, snap uint64) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	ctx := context.Background()
	offs, err := official.Open(ctx, official.Config{DB: db, Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	sk := e.f.Server
	reg, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: offs, OriginPrefix: "evote.test/board",
		LogKey: sk.LogKey, Authority: sk.Authority, Audience: boxtest.Audience, Witnesses: boxtest.LocalWitnesses(e.dir, sk.Witnesses)})
	if err != nil {
		t.Fatalf("reopen on the restored database: %v", err)
	}
	t.Cleanup(func() { reg.Close() })
	box, err := reg.Get(e.f.ElectionID)
	if err != nil {
		t.Fatalf("the restored database does not hold the election: %v", err)
	}
	if n := box.View().Ballots; n != e.ballots {
		t.Fatalf("restored box has %d ballots, want %d", n, e.ballots)
	}
	if got := box.RestoredFrom(); got != snap {
		t.Fatalf("the restored box started from a snapshot of size %d, want %d (0: the whole board replayed)", got, snap)
	}
	// The box takes ballots again, witnessed. (Only then does the board
	// serve a cosigned checkpoint: a box keeps its witnesses' cosignatures
	// in memory, so after any restart the board's checkpoint is witnessed
	// again at the next entry.)
	e.f.Registry, e.f.Box = reg, box
	e.cast(t)
	srv := api.NewServer()
	srv.Registry = reg
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	fp := ballot.ExpectFingerprint(box.View().Manifest.Fingerprint())
	board, err := verify.FindBoard(ctx, hs.Client(), hs.URL, fp)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := verify.Fetch(ctx, hs.Client(), board, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep := verify.Verify(rec, verify.Options{Fingerprint: fp, Partial: true}); !rep.OK {
		first, _ := rep.First()
		t.Fatalf("the restored board does not verify: %s", first)
	}
	if n := box.View().Ballots; n != e.ballots {
		t.Fatalf("restored box has %d ballots, want %d", n, e.ballots)
	}
}

// TestBackupRestoreSQLite: evoted backup copies the embedded database
// while the election runs (VACUUM INTO); the copy, put in a fresh data
// directory, opens, its board verifies, and the box takes ballots again.
// The backup carries the box's snapshot (kept in a file beside the
// database, spec §7.7.1) inside the copy: the restored box starts from it
// and replays only what follows, not the whole board.
func TestBackupRestoreSQLite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	st, err := sqlite.Open(ctx, filepath.Join(data, "evote.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := startElection(t, st, st.DB(), official.SQLite, filepath.Join(dir, "witnesses"))
	snap := e.snapshot(t)

	// Online: the server's store is open and in use.
	file := filepath.Join(dir, "backup.db")
	var out strings.Builder
	if err := backup(ctx, []string{"--out", file, "--data", data}, env(nil), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "integrity checked") || !strings.Contains(out.String(), "carried in the copy") {
		t.Fatalf("backup said %q", out.String())
	}
	if err := backup(ctx, []string{"--out", file, "--data", data}, env(nil), &out); err == nil {
		t.Fatal("a backup overwrote a file")
	}
	e.f.Registry.Close()
	st.Close()

	// Restore into a fresh data directory.
	restored := filepath.Join(dir, "restored")
	os.MkdirAll(restored, 0o700)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored, "evote.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	st2, err := sqlite.Open(ctx, filepath.Join(restored, "evote.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	e.resume(t, st2, st2.DB(), official.SQLite, snap)
}

// TestBackupRestorePostgres: pg_dump --format=custom of the running
// election's database, pg_restore into a fresh database; the board
// verifies and the box takes ballots again (docs/operator.md, Backups).
func TestBackupRestorePostgres(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed under CI", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	ctx := context.Background()
	src, dst := freshDatabase(t), freshDatabase(t)
	pg, err := postgres.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	e := startElection(t, pg, stdlib.OpenDBFromPool(pg.Pool()), official.Postgres, filepath.Join(t.TempDir(), "witnesses"))
	snap := e.snapshot(t)

	dump := filepath.Join(t.TempDir(), "evote.dump")
	if out, err := exec.Command("pg_dump", "--format=custom", "--file="+dump, "--dbname="+src).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	e.f.Registry.Close()
	pg.Close()
	if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname="+dst, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	pg2, err := postgres.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer pg2.Close()
	e.resume(t, pg2, stdlib.OpenDBFromPool(pg2.Pool()), official.Postgres, snap)
}

// freshDatabase creates a database with a unique name on the test server,
// dropped when the test ends, and returns its DSN.
func freshDatabase(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	base := pgtest.BaseDSN()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable under CI: %v", err)
		}
		t.Skipf("PostgreSQL unreachable: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "evote_ops_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
