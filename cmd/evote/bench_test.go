package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"evote/ballot"
	"evote/client"
	"evote/store/postgres/pgtest"
	"evote/verify"
)

// runBenchChild lets the test binary stand in for the evote command when
// the bench runs it as a child (the trustees' tools, the verifier); it
// returns only if this process is not such a child (TestMain).
func runBenchChild() {
	if os.Getenv(benchChildEnv) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	reportChildPeak()
	if err != nil {
		fmt.Fprintln(os.Stderr, "evote:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// benchTestBallots is the size of TestBenchElection: EVOTE_BENCH_BALLOTS,
// default 10,000.
func benchTestBallots(t *testing.T) int {
	n := 10_000
	if v := os.Getenv("EVOTE_BENCH_BALLOTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("EVOTE_BENCH_BALLOTS=%q: want a positive number", v)
		}
	}
	return n
}

// TestBenchElection runs "evote bench-election" on PostgreSQL (a fresh
// schema) with 10,000 ballots: the verified result must equal what the
// voters cast, and the summary must have every phase, measured.
func TestBenchElection(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election of 10,000 ballots")
	}
	dsn := pgtest.BaseDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := pgx.Connect(ctx, dsn)
	cancel()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at %s under CI: %v", dsn, err)
		}
		t.Skipf("PostgreSQL unreachable at %s: %v", dsn, err)
	}
	conn.Close(context.Background())
	n := benchTestBallots(t)
	var out, prog bytes.Buffer
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := runBench(ctx, benchOptions{Ballots: n, DB: dsn, Contests: 1, Choices: 2, Concurrency: 32, Part: (n + 1) / 2, KDF: &testKDF, Self: self, Progress: &prog, Out: &out})
	t.Logf("%s", out.String())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, prog.String())
	}
	// The result: what the voters cast, every ballot counted.
	want := res.Expected["question-1"]
	var sum uint64
	for _, c := range want {
		sum += c
	}
	if len(want) != 3 || want[0] != 0 || sum != uint64(n) || want[1] == 0 || want[2] == 0 {
		t.Fatalf("the voters cast %v, want %d ballots over both answers and none blank", want, n)
	}
	if !res.Report.OK || len(res.Report.Result) != 1 || !slices.Equal(res.Report.Result[0].Counts, want) || res.Report.Counts.Counted != uint64(n) {
		t.Fatalf("verified result %+v, counted %d, want %v", res.Report.Result, res.Report.Counts.Counted, want)
	}
	// The summary: every phase, in order, measured.
	names := []string{"setup", "voter list", "credentials", "cast", "close+cleanse", "mix", "decrypt", "tally", "export", "verify"}
	if len(res.Phases) != len(names) {
		t.Fatalf("%d phases, want %d", len(res.Phases), len(names))
	}
	children := map[string]int{"mix": 3, "decrypt": 3, "verify": 1}
	for i, p := range res.Phases {
		if p.Name != names[i] || p.Wall <= 0 || p.PeakRSS <= 0 || p.PGCPU < 0 || p.Children != children[p.Name] {
			t.Errorf("phase %d: %+v, want %s with wall time, peak RSS, PostgreSQL's CPU and %d children", i, p, names[i], children[p.Name])
		}
		if p.Children > 0 && (p.ChildCPU <= 0 || p.ChildRSS <= 0) {
			t.Errorf("phase %s: children's CPU %v, peak RSS %d", p.Name, p.ChildCPU, p.ChildRSS)
		}
	}
	if cast := res.Phases[3]; cast.Items != int64(n) || cast.CPU <= 0 || cast.PGCPU <= 0 {
		t.Errorf("cast phase %+v: want %d items, this process's and PostgreSQL's CPU", cast, n)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !slices.ContainsFunc(lines, func(l string) bool {
		return strings.Contains(l, "wall s") && strings.Contains(l, "peak RSS") && strings.Contains(l, "PostgreSQL CPU")
	}) || !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "total") }) {
		t.Errorf("summary without its header or total line:\n%s", out.String())
	}
	// The voters cast in two parts, each after its credentials.
	for _, name := range []string{"credentials 1/2", "cast 1/2", "credentials 2/2", "cast 2/2", "export"} {
		if !strings.Contains(prog.String(), name) || !strings.Contains(prog.String(), "done in") {
			t.Errorf("no progress line for %s:\n%s", name, prog.String())
		}
	}
}

// The bench's check refuses a verified result other than what the voters
// cast, a record that does not verify, and a count short of the ballots.
func TestBenchCheck(t *testing.T) {
	m := benchManifest("bench-check", nil, [32]byte{}, ballot.BoardAnchors{}, 1, 2)
	b := &bench{o: benchOptions{Ballots: 5, Out: &bytes.Buffer{}}, manifest: m}
	expected := map[string][]uint64{"question-1": {0, 3, 2}}
	good := func() *verify.Report {
		return &verify.Report{OK: true, Counts: verify.Counts{Counted: 5}, Result: []verify.ContestCounts{{Contest: "question-1", Ballots: 5, Counts: []uint64{0, 3, 2}}}}
	}
	if err := b.check(&benchResult{Expected: expected, Report: good()}); err != nil {
		t.Fatalf("matching result refused: %v", err)
	}
	for name, tamper := range map[string]func(r *verify.Report){
		"counts swapped":   func(r *verify.Report) { r.Result[0].Counts = []uint64{0, 2, 3} },
		"a ballot short":   func(r *verify.Report) { r.Result[0].Counts = []uint64{0, 3, 1}; r.Result[0].Ballots = 4 },
		"not verified":     func(r *verify.Report) { r.OK = false },
		"counted fewer":    func(r *verify.Report) { r.Counts.Counted = 4 },
		"withheld":         func(r *verify.Report) { r.Result[0].Withheld = true },
		"no contest":       func(r *verify.Report) { r.Result = nil },
		"another contest":  func(r *verify.Report) { r.Result[0].Contest = "question-2" },
		"blank miscounted": func(r *verify.Report) { r.Result[0].Counts = []uint64{1, 2, 2} },
	} {
		r := good()
		tamper(r)
		if err := b.check(&benchResult{Expected: expected, Report: r}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The bench's officials sign in again when their session has ended (it
// lasts 30 minutes; the mixing of 100,000 ballots on a loaded machine took
// longer, and the next action was refused with session_invalid).
func TestBenchActSignsInAgain(t *testing.T) {
	ctx := context.Background()
	env, err := openDemoEnv(ctx, "", io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	b := &bench{env: env, off: client.New(env.boxURL), id: "no-such-election"}
	if err := b.login(ctx); err != nil {
		t.Fatal(err)
	}
	b.off.Token = "an-ended-session"
	if _, err := b.off.Act(ctx, b.id, "open"); !client.IsCode(err, "session_invalid") {
		t.Fatalf("an ended session: %v, want session_invalid", err)
	}
	// Signed in again, the action reaches the election, which does not
	// exist.
	if _, err := b.act(ctx, "open"); !client.IsCode(err, "unknown_election") {
		t.Fatalf("act after the session ended: %v, want unknown_election", err)
	}
}
