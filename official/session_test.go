package official

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"evote/store/postgres/pgtest"
)

// dialects opens an officials' database of each kind: SQLite, and
// PostgreSQL in a fresh schema (skipped without a server, except under CI).
func dialects(t *testing.T, f func(t *testing.T, db *sql.DB, d Dialect)) {
	t.Run("sqlite", func(t *testing.T) {
		db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "o.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		f(t, db, SQLite)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := sql.Open("pgx", pgtest.Schema(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		f(t, db, Postgres)
	})
}

// TestSessionsSurviveRestart (issue 16, finding 4): sessions live in the
// store, hashed: a server restarted on the same database (another
// Service) still knows them; the database holds no token; a session can be
// listed and revoked by its public id (its owner's, or anyone's by an
// admin), and expires.
func TestSessionsSurviveRestart(t *testing.T) {
	dialects(t, func(t *testing.T, db *sql.DB, d Dialect) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0)
		open := func() *Service {
			s, err := Open(ctx, Config{DB: db, Dialect: d, Argon2: Argon2Params{Time: 1, Memory: 1024, Threads: 1}, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		a := open()
		admin, _ := NewTOTPSecret()
		obs, _ := NewTOTPSecret()
		if _, err := a.Bootstrap(ctx, "admin", "correct horse battery", admin); err != nil {
			t.Fatal(err)
		}
		if _, err := a.CreateAccount(ctx, "admin", "obs", "correct horse battery", RoleObserver, obs); err != nil {
			t.Fatal(err)
		}
		login := func(s *Service, user, secret string) (string, *Session) {
			t.Helper()
			now = now.Add(30 * time.Second)
			code, _ := TOTPCode(secret, now)
			r, err := s.Login(ctx, Attempt{User: user, Password: "correct horse battery", Code: code})
			if err != nil {
				t.Fatal(err)
			}
			return r.Token, r.Session
		}
		tokA, sessA := login(a, "admin", admin)
		tokO, sessO := login(a, "obs", obs)

		b := open() // the server restarted
		got, err := b.Authenticate(ctx, tokA)
		if err != nil || got.User != "admin" || got.Role != RoleAdmin || got.ID != sessA.ID {
			t.Fatalf("session after a restart: %+v %v", got, err)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM evote_official_sessions WHERE token_hash = $1 OR token_hash = $2 OR id = $1`, tokA, tokO).Scan(&n); err != nil || n != 0 {
			t.Fatalf("the store holds a token in the clear: %d %v", n, err)
		}
		// An observer sees and revokes only their own sessions.
		oSess, _ := b.Authenticate(ctx, tokO)
		if l, err := b.Sessions(ctx, oSess); err != nil || len(l) != 1 || l[0].ID != sessO.ID {
			t.Fatalf("observer's sessions: %+v %v", l, err)
		}
		if err := b.Revoke(ctx, oSess, sessA.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("observer revoking the admin's session: %v", err)
		}
		if l, err := b.Sessions(ctx, got); err != nil || len(l) != 2 {
			t.Fatalf("admin's view of the sessions: %+v %v", l, err)
		}
		if err := b.Revoke(ctx, got, sessO.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(ctx, tokO); !errors.Is(err, ErrSession) {
			t.Fatalf("revoked session still valid on the other instance: %v", err)
		}
		ops, _ := b.Operations(ctx, 5)
		if len(ops) == 0 || ops[0].Action != "revoke-session" || ops[0].Outcome != "ok" || !strings.Contains(ops[0].Detail, sessO.ID) {
			t.Fatalf("revocation not in the operations log: %+v", ops)
		}
		// Logout, and expiry.
		tok2, _ := login(b, "admin", admin)
		if err := b.Logout(ctx, tok2); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(ctx, tok2); !errors.Is(err, ErrSession) {
			t.Fatalf("session after logout: %v", err)
		}
		now = now.Add(31 * time.Minute)
		if _, err := b.Authenticate(ctx, tokA); !errors.Is(err, ErrSession) {
			t.Fatalf("expired session: %v", err)
		}
		for _, bad := range []string{"", strings.Repeat("g", 64), strings.Repeat("\x00", 64)} {
			if _, err := b.Authenticate(ctx, bad); !errors.Is(err, ErrSession) {
				t.Fatalf("token %q: %v", bad, err)
			}
		}
	})
}
