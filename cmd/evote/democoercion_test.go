package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"evote/ballot"
	"evote/store/postgres/pgtest"
	"evote/verify"
)

// evote demo --coercion (spec §15.13 step 8): an election in deniable
// re-voting mode end to end over HTTP, on the embedded store with the
// trustees' evote trustee commands (keygen with the tag key, mix with the
// filter, decrypt) and on PostgreSQL with the trustee library: rows in
// slots, re-votes from a second device, a mark's row, the box's padding,
// the identity service's roll, the filter; the counts equal what the
// voters meant (the last online ballot; a mark's voter not counted online)
// and the exported record verifies, again from its directory.
func TestDemoCoercion(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "record")
		res := demoTest(t, demoOptions{Voters: 20, Coercion: true, TrusteeCLI: true, Record: dir})
		checkCoercionDemo(t, res)
		rec, err := verify.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.Entries) != int(res.Report.Counts.Entries) {
			t.Fatalf("exported %d entries, verified %d", len(rec.Entries), res.Report.Counts.Entries)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.BaseDSN()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("PostgreSQL unreachable at %s under CI: %v", dsn, err)
			}
			t.Skipf("PostgreSQL unreachable at %s: %v", dsn, err)
		}
		conn.Close(ctx)
		checkCoercionDemo(t, demoTest(t, demoOptions{Voters: 20, Coercion: true, DB: dsn}))
	})
}

// checkCoercionDemo checks what the demo's plan makes at 20 voters: two
// re-votes and a vote in person, and a result that checks something.
func checkCoercionDemo(t *testing.T, res *demoResult) {
	t.Helper()
	if res.Revotes != 2 || res.InPerson != 1 || res.Audits != 0 {
		t.Errorf("%d re-votes, %d in person, %d audits; want 2, 1, 0", res.Revotes, res.InPerson, res.Audits)
	}
	if res.Manifest.Coercion.Mode != ballot.DeniableRevoting {
		t.Error("the published manifest is not in deniable re-voting mode")
	}
	shown := 0
	for _, c := range res.Result.Contests {
		if !c.Withheld {
			shown++
		}
	}
	if shown == 0 {
		t.Error("every contest withheld: the result checks nothing")
	}
}
