package official

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// RFC 6238 Appendix B (SHA-1 key "12345678901234567890"), last 6 digits.
func TestTOTPVectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, v := range []struct {
		t    int64
		code string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		if got := hotp(key, uint64(v.t)/30); got != v.code {
			t.Errorf("T=%d: %s, want %s", v.t, got, v.code)
		}
	}
}

func testService(t *testing.T, now *time.Time) *Service {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(context.Background(), Config{DB: db, Argon2: Argon2Params{Time: 1, Memory: 1024, Threads: 1}, Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoginFlow(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testService(t, &now)
	ctx := context.Background()
	if _, err := s.Bootstrap(ctx, "", "", ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bootstrap without config: %v", err)
	}
	secret, _ := NewTOTPSecret()
	if ok, err := s.Bootstrap(ctx, "admin", "correct horse battery", secret); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if ok, _ := s.Bootstrap(ctx, "admin2", "correct horse battery", secret); ok {
		t.Fatal("second bootstrap created an account")
	}
	code, _ := TOTPCode(secret, now)
	if _, _, err := s.Login(ctx, "admin", "wrong password!!", code); !errors.Is(err, ErrLogin) {
		t.Fatalf("wrong password: %v", err)
	}
	tok, sess, err := s.Login(ctx, "admin", "correct horse battery", code)
	if err != nil || sess.Role != RoleAdmin {
		t.Fatal(err)
	}
	// The same code cannot be used twice.
	if _, _, err := s.Login(ctx, "admin", "correct horse battery", code); !errors.Is(err, ErrLogin) {
		t.Fatalf("replayed code: %v", err)
	}
	if got, err := s.Authenticate(tok); err != nil || got.User != "admin" {
		t.Fatal(err)
	}
	now = now.Add(31 * time.Minute)
	if _, err := s.Authenticate(tok); !errors.Is(err, ErrSession) {
		t.Fatalf("expired session: %v", err)
	}
	// Lockout after repeated failures, even with the right code later.
	for range maxFailures {
		s.Login(ctx, "admin", "wrong password!!", "000000")
	}
	code, _ = TOTPCode(secret, now)
	if _, _, err := s.Login(ctx, "admin", "correct horse battery", code); !errors.Is(err, ErrLocked) {
		t.Fatalf("after failures: %v", err)
	}
	ops, err := s.Operations(ctx, 50)
	if err != nil || len(ops) < 4 {
		t.Fatalf("oplog: %v %d", err, len(ops))
	}
	for _, o := range ops {
		if o.Detail == "correct horse battery" || o.Detail == secret {
			t.Fatal("secret in operations log")
		}
	}
	// Accounts and roles.
	acc, err := s.CreateAccount(ctx, "admin", "observer-1", "another long password", RoleObserver, "")
	if err != nil || acc.TOTPSecret == "" {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, "admin", "observer-1", "another long password", RoleObserver, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate account: %v", err)
	}
	if RoleObserver.Allowed("run") || !RoleOfficial.Allowed("run") || RoleOfficial.Allowed("manage") {
		t.Fatal("role table")
	}
}
