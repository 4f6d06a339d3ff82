package official

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
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

func testService(t *testing.T, now *time.Time) *Service { return testServiceWith(t, now, Limits{}) }

func testServiceWith(t *testing.T, now *time.Time, l Limits) *Service {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(context.Background(), Config{DB: db, Argon2: Argon2Params{Time: 1, Memory: 1024, Threads: 1}, Limits: l, Now: func() time.Time { return *now }})
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
	if _, err := s.Login(ctx, Attempt{User: "admin", Password: "wrong password!!", Code: code}); !errors.Is(err, ErrLogin) {
		t.Fatalf("wrong password: %v", err)
	}
	// The code was used up by that attempt (one password check per code).
	if _, err := s.Login(ctx, Attempt{User: "admin", Password: "correct horse battery", Code: code}); !errors.Is(err, ErrLogin) {
		t.Fatalf("a code used by a failed attempt: %v", err)
	}
	now = now.Add(30 * time.Second)
	code, _ = TOTPCode(secret, now)
	r, err := s.Login(ctx, Attempt{User: "admin", Password: "correct horse battery", Code: code})
	if err != nil || r.Session.Role != RoleAdmin || r.Notice.Failed != 2 {
		t.Fatal(r, err)
	}
	tok := r.Token
	// The same code cannot be used twice.
	if _, err := s.Login(ctx, Attempt{User: "admin", Password: "correct horse battery", Code: code}); !errors.Is(err, ErrLogin) {
		t.Fatalf("replayed code: %v", err)
	}
	if got, err := s.Authenticate(ctx, tok); err != nil || got.User != "admin" {
		t.Fatal(err)
	}
	now = now.Add(31 * time.Minute)
	if _, err := s.Authenticate(ctx, tok); !errors.Is(err, ErrSession) {
		t.Fatalf("expired session: %v", err)
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

// TestSealedTOTPSecrets: with a seal key the database never holds a TOTP
// secret in the clear; logins work; the rows open under no other key nor
// under another user name; a row written without a key is sealed at the
// next login.
func TestSealedTOTPSecrets(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "o.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	open := func(key []byte) *Service {
		s, err := Open(ctx, Config{DB: db, SealKey: key, Argon2: Argon2Params{Time: 1, Memory: 1024, Threads: 1}, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	stored := func(user string) string {
		var v string
		if err := db.QueryRow(`SELECT totp_secret FROM evote_officials WHERE username = $1`, user).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	login := func(s *Service, user, secret string) error {
		now = now.Add(time.Minute) // a fresh TOTP step each time
		code, _ := TOTPCode(secret, now)
		_, err := s.Login(ctx, Attempt{User: user, Password: "correct horse battery", Code: code})
		return err
	}
	key := bytes.Repeat([]byte{7}, 32)
	// A legacy account, created before a key was configured.
	plain := open(nil)
	legacy, _ := NewTOTPSecret()
	if _, err := plain.CreateAccount(ctx, "config", "legacy", "correct horse battery", RoleAdmin, legacy); err != nil {
		t.Fatal(err)
	}
	if stored("legacy") != legacy {
		t.Fatal("without a key the secret is stored as given")
	}
	s := open(key)
	secret, _ := NewTOTPSecret()
	if _, err := s.CreateAccount(ctx, "legacy", "sealed", "correct horse battery", RoleOfficial, secret); err != nil {
		t.Fatal(err)
	}
	if v := stored("sealed"); !strings.HasPrefix(v, sealedPrefix) || strings.Contains(v, secret) {
		t.Fatalf("stored %q", v)
	}
	if err := login(s, "sealed", secret); err != nil {
		t.Fatalf("login with a sealed secret: %v", err)
	}
	if err := login(s, "legacy", legacy); err != nil {
		t.Fatalf("login with a legacy secret: %v", err)
	}
	if v := stored("legacy"); !strings.HasPrefix(v, sealedPrefix) {
		t.Fatalf("legacy secret not sealed at login: %q", v)
	}
	if err := login(s, "legacy", legacy); err != nil {
		t.Fatalf("login after sealing: %v", err)
	}
	// Another key, no key, or a sealed value moved to another user: refused.
	if err := login(open(bytes.Repeat([]byte{8}, 32)), "sealed", secret); !errors.Is(err, ErrSealKey) {
		t.Fatalf("other key: %v", err)
	}
	if err := login(open(nil), "sealed", secret); !errors.Is(err, ErrSealKey) {
		t.Fatalf("no key: %v", err)
	}
	if _, err := db.Exec(`UPDATE evote_officials SET totp_secret = $1 WHERE username = 'legacy'`, stored("sealed")); err != nil {
		t.Fatal(err)
	}
	if err := login(s, "legacy", secret); !errors.Is(err, ErrSealKey) {
		t.Fatalf("sealed value of another user: %v", err)
	}
	if _, err := Open(ctx, Config{DB: db, SealKey: []byte("short")}); err == nil {
		t.Fatal("a 5-byte seal key accepted")
	}
}
