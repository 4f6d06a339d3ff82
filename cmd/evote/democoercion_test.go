package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/bulletin"
	"evote/store/postgres/pgtest"
	"evote/tally/revote"
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
	if res.Revotes != 2 || res.InPerson != 1 || res.Audits != 2 {
		t.Errorf("%d re-votes, %d in person, %d audits; want 2, 1, 2", res.Revotes, res.InPerson, res.Audits)
	}
	if c := res.Report.Counts; c.Audited != uint64(res.Audits) {
		t.Errorf("the verifier counts %d audits, the voters made %d", c.Audited, res.Audits)
	}
	// Every voter cast at least one row, kept by the filter (a marked
	// voter's mark).
	if c := res.Report.Counts; c.RevoteVoters != uint64(res.Voters) || c.RevoteSlots == 0 || c.RevoteRows < uint64(res.Voters+res.Revotes+res.InPerson) {
		t.Errorf("the verifier counts %d slots, %d rows, %d voters kept; %d voters cast %d rows", c.RevoteSlots, c.RevoteRows, c.RevoteVoters, res.Voters, res.Voters+res.Revotes+res.InPerson)
	}
	if res.Manifest.Coercion.Mode != ballot.DeniableRevoting {
		t.Error("the published manifest is not in deniable re-voting mode")
	}
	shown, multi := 0, 0
	for _, c := range res.Result.Contests {
		if !c.Withheld {
			shown++
			if mc, ok := res.Manifest.Contest(c.ContestID); ok && mc.Kind == ballot.MultiSelect {
				multi++ // its flags, then its sums (spec §15.5 step 6)
			}
		}
	}
	if shown == 0 {
		t.Error("every contest withheld: the result checks nothing")
	}
	if multi == 0 {
		t.Error("no multi-select contest counted in this mode")
	}
}

// The test of two boards (issue #21's acceptance, spec §15.13 step 8): two
// elections of the same voters, one where voter 3 re-votes and one where
// it does not, with the same number of slots. Their full records, as the
// demo exports them, show the same shapes: the same number of entries of
// each type, and per ballot style the same slots in the same order, each
// with the same number of rows and the same size; the padding, depths,
// marks, filter and roll entries too. Only the counts of the result may
// tell the elections apart (they are different votes).
func TestDemoCoercionTwoBoards(t *testing.T) {
	const slots = 6 // per style, more than the rows need
	run := func(noRevote map[int]bool) (*demoResult, []*bulletin.Entry) {
		dir := filepath.Join(t.TempDir(), "record")
		res := demoTest(t, demoOptions{Voters: 20, Coercion: true, Record: dir, electionID: "demo-two-boards", slots: slots, noRevote: noRevote})
		rec, err := verify.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var es []*bulletin.Entry
		for i, raw := range rec.Entries {
			e, err := bulletin.DecodeEntry(raw)
			if err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			es = append(es, e)
		}
		return res, es
	}
	resA, a := run(nil)
	resB, b := run(map[int]bool{3: true})
	if resA.Revotes != resB.Revotes+1 {
		t.Fatalf("re-votes %d and %d: want the second run without voter 3's", resA.Revotes, resB.Revotes)
	}
	shapes := func(es []*bulletin.Entry) (types map[bulletin.Type]int, perStyle map[string][]string, closing map[bulletin.Type][]int) {
		types, perStyle, closing = map[bulletin.Type]int{}, map[string][]string{}, map[bulletin.Type][]int{}
		for _, e := range es {
			// How many decryption shares beyond the t needed reach the
			// board depends on when each trustee's tool runs (a tool that
			// finds a list decrypted posts no more), not on any voter:
			// 24 and 23 were seen; the verifier checked both records.
			if e.Type != bulletin.TypeDecryptionShare {
				types[e.Type]++
			}
			switch e.Type {
			case bulletin.TypeRevoteSlot:
				s, err := revote.DecodeSlot(e.Payload)
				if err != nil {
					t.Fatal(err)
				}
				perStyle[s.Style] = append(perStyle[s.Style], fmt.Sprintf("slot %d: %d rows, %d bytes", s.Slot, len(s.Rows), len(e.Payload)))
			case bulletin.TypeRevotePadding, bulletin.TypeRevoteDepths, bulletin.TypeRevoteMarks, bulletin.TypeRevoteFilter, bulletin.TypeRevoteRoll:
				closing[e.Type] = append(closing[e.Type], len(e.Payload))
			}
		}
		return
	}
	typesA, slotsA, revA := shapes(a)
	typesB, slotsB, revB := shapes(b)
	if !maps.Equal(typesA, typesB) {
		t.Errorf("entries by type differ:\n%v\n%v", typesA, typesB)
	}
	if len(slotsA) == 0 {
		t.Fatal("no slot on the board")
	}
	for st, sa := range slotsA {
		if len(sa) < slots {
			t.Errorf("style %s has %d slots, want at least %d", st, len(sa), slots)
		}
		if !slices.Equal(sa, slotsB[st]) {
			t.Errorf("style %s: slots differ:\n%v\n%v", st, sa, slotsB[st])
		}
	}
	for typ, sa := range revA {
		if !slices.Equal(sa, revB[typ]) {
			t.Errorf("%s entries' sizes differ: %v and %v", typ, sa, revB[typ])
		}
	}
	if len(revA) != 5 {
		t.Errorf("%d kinds of close and filter entries, want 5 (padding, depths, marks, filter, roll)", len(revA))
	}
}

// TestDemoVoterCommandsCoercion: in deniable re-voting mode one voter uses
// the voter's commands (spec §15.9). An audit opens a row (ballot and
// flag) that the second device checks by tracking code; a cast with
// --save is refused before sign-in (no receipt file in this mode); a cast
// prints the receipt number, waits for the row's slot and checks it on
// the board; evote ballot check-row finds it again by that number as
// typed, with the same tracking code, and refuses a mistyped and an
// unknown number. Neither says whether the row counts; the demo's tally
// counts it.
func TestDemoVoterCommandsCoercion(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election")
	}
	dir := t.TempDir()
	demoTest(t, demoOptions{Voters: 5, Coercion: true, ExtraVoter: func(ctx context.Context, v *extraVoter) (ballot.Selection, error) {
		village := strings.TrimPrefix(v.Person.Constituency, "style-")
		choices := "council-" + village + "=1;priorities=0,2"
		fp := v.Fingerprint.String()
		line := func(out, prefix string) string {
			_, s, _ := strings.Cut(out, prefix)
			s, _, _ = strings.Cut(s, "\n")
			return s
		}
		audited := filepath.Join(dir, "audited.bin")
		out, err := voteCLI(t, v, "--choices", "council-"+village+"=3;priorities=1", "--audit", "--save", audited)
		if err != nil || !strings.Contains(out, "audited: ") {
			return nil, fmt.Errorf("vote --audit: %v %q", err, out)
		}
		code := line(out, "tracking code: ")
		out, err = runCLI(t, "ballot", "check-audit", "--server", v.BoxURL, "--election", v.ElectionID, "--code", code, "--ballot", audited, "--fingerprint", fp)
		if err != nil || !strings.Contains(out, "opens to") {
			return nil, fmt.Errorf("check-audit of the row: %v %q", err, out)
		}
		before := v.Messages()
		if _, err := voteCLI(t, v, "--choices", choices, "--save", filepath.Join(dir, "receipt.json")); err == nil || !strings.Contains(err.Error(), "no receipt is saved") {
			return nil, fmt.Errorf("vote --save in deniable re-voting mode: %v", err)
		}
		if v.Messages() != before {
			return nil, fmt.Errorf("a code was texted for a vote refused before sign-in")
		}
		out, err = voteCLI(t, v, "--choices", choices, "--poll", "200ms", "--wait", "2m")
		if err != nil || !strings.Contains(out, "on the board: time slot ") || !strings.Contains(out, "does not prove that your ballot will be counted") {
			return nil, fmt.Errorf("vote: %v %q", err, out)
		}
		number, code := line(out, "receipt number: "), line(out, "tracking code: ")
		if _, err := revoterow.ParseReceiptNumber(number); err != nil {
			return nil, fmt.Errorf("vote printed receipt number %q: %v", number, err)
		}
		checkRow := func(n string) (string, error) {
			return runCLI(t, "ballot", "check-row", "--server", v.BoxURL, "--election", v.ElectionID, "--number", n, "--fingerprint", fp)
		}
		out, err = checkRow(strings.ToLower(strings.ReplaceAll(number, "-", " ")))
		if err != nil || !strings.Contains(out, "on the board, time slot ") || !strings.Contains(out, "tracking code "+code) || strings.Contains(out, "superseded") {
			return nil, fmt.Errorf("check-row: %v %q (tracking code %s)", err, out, code)
		}
		if _, err := checkRow(number[:40]); err == nil || !strings.Contains(err.Error(), "52 letters") {
			return nil, fmt.Errorf("check-row of a mistyped number: %v", err)
		}
		if _, err := checkRow(strings.Repeat("A", 52)); err == nil || !strings.Contains(err.Error(), "knows no ballot") {
			return nil, fmt.Errorf("check-row of an unknown number: %v", err)
		}
		ps, _, err := v.SignIn(ctx)
		if err != nil {
			return nil, err
		}
		v.Pseudonym = ps
		return ballot.Selection{"council-" + village: {1}, "priorities": {0, 2}}, nil
	}})
}
