package idp

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
)

// BenchmarkRestart measures what the identity service does at start
// (issue 16, finding 5): open its store (migrations checked) and build
// the service (the key history read and extended, the outbox flushed), on
// a SQLite database holding n voters, n credentials and n posted outbox
// entries (EVOTE_IDP_RESTART_ROWS, default 100,000; the rows are written
// directly). The service keeps its state in the database and replays
// nothing, so the time must not grow with n. Reported: ms-wall/restart.
//
//	EVOTE_IDP_RESTART_ROWS=1000000 go test -run '^$' -bench Restart -benchtime 5x ./idp
func BenchmarkRestart(b *testing.B) {
	n := 100_000
	if s := os.Getenv("EVOTE_IDP_RESTART_ROWS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	ctx := context.Background()
	dsn := "file:" + filepath.Join(b.TempDir(), "idp.db")
	st, err := idpstore.Open(ctx, "sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
		 INSERT INTO idp_voters (election_id, pseudonym, ballot_style, phone) SELECT 'e', randomblob(32), 'S', '+996555' || i FROM c`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
		 INSERT INTO idp_credentials (election_id, token_id, pseudonym, device_key, ballot_style, key_id, issued_at, expires_at)
		 SELECT 'e', randomblob(16), randomblob(32), randomblob(32), 'S', 'k1', 1000 + i, 8200 + i FROM c`,
		`WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?)
		 INSERT INTO idp_outbox (entry_type, payload, created_at, board_index, posted_at) SELECT 9, randomblob(200), i, i, i FROM c`,
	} {
		if _, err := st.DB().ExecContext(ctx, q, n); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	day := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	sim, _ := registry.NewSimulated(registry.SimulatedConfig{Seed: "svc", Constituencies: []string{"A"}, PerConstituency: 10, ElectionDay: day})
	seed := sha256.Sum256([]byte("k"))
	iss, _ := token.NewIssuer(token.IssuerConfig{Issuer: "i", Audience: "a"}, ed25519.NewKeyFromSeed(seed[:]))
	ctxh := sha256.Sum256([]byte("ctx"))
	b.ResetTimer()
	for range b.N {
		st, err := idpstore.Open(ctx, "sqlite", dsn)
		if err != nil {
			b.Fatal(err)
		}
		_, err = New(ctx, Config{ElectionID: "e", ContextHash: ctxh, ElectionDay: day, PseudonymKey: seed[:], Registry: sim, Sender: &otp.Recorder{}, Store: st,
			Board: &nullBoard{}, Issuer: iss, Authority: &voterlist.Authority{ElectionID: "e", ContextHash: ctxh}, Now: func() time.Time { return day.Add(8 * time.Hour) }})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms-wall/restart")
}
