package revote

import (
	"crypto/rand"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"evote/crypto/group"
)

var (
	benchVoters  = flag.Int("voters", 2500, "voters of BenchmarkFilter")
	benchBallots = flag.Int("ballots", 0, "ballots cast in BenchmarkFilter, 1.1 per voter (sets -voters to ⌈ballots/1.1⌉)")
)

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// smCPU measures one variable-base scalar multiplication (the unit SM) in
// CPU time, in this run, so that the filter's figures read as ratios.
func smCPU() float64 {
	p := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	e := new(group.Element)
	const k = 2000
	cpu := cpuTime()
	for range k {
		e.ScalarMult(s, p)
	}
	return float64(cpuTime()-cpu) / k
}

// BenchmarkFilter measures the filter for -voters voters (default 2,500),
// or for -ballots ballots (⌈ballots/1.1⌉ voters), 10% of whom cast a second ballot, with 10% more rows of dummies on the
// board and the close's padding to M = 4 rows per voter (spec §15.4):
// about 4.2 filter rows per voter. Ballots of one ciphertext, 2-of-3
// trustees, two mixes of each list. "prove" is all the trustees' work (two
// mixes of X, width 4, and of Y, width 1; two blinding steps over 2 rows'
// worth of ciphertexts; two decryption shares; the selection), "verify" is
// Verify. Reported: wall and CPU time per filter row, CPU time as a ratio
// to one scalar multiplication measured in the same run (SM/row), and the
// same per ballot cast (SM/ballot). The board rows are made a chunk at a
// time and only the lists X and Y are kept (VerifyLists), as a verifier
// of a million ballots does. Commands (spec §15.11):
//
//	go test ./tally/revote -run '^$' -bench Filter -benchtime 1x [-voters 25000]
//	go test ./tally/revote -run '^$' -bench Filter -benchtime 1x -timeout 0 -ballots 1000000
func BenchmarkFilter(b *testing.B) {
	// The process holds the whole record (about 2 KB a filter row, nearly
	// all of it long-lived encodings, which the collector does not scan):
	// collecting when the heap has grown by a tenth rather than doubled
	// keeps its resident memory near that, for little CPU. GOGC overrides.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(10))
	}
	voters := *benchVoters
	if *benchBallots > 0 {
		voters = (10**benchBallots + 10) / 11
	}
	extra := voters / 10
	board := voters + extra + voters/10
	e := newTestElection(b, rand.Reader, 4)
	s, err := newScenario(mrand.New(mrand.NewPCG(1, 2)), board, voters, extra, 0, 4)
	if err != nil {
		b.Fatal(err)
	}
	x, y := e.lists(b, s, rand.Reader)
	s = nil
	n, cast := x.Len(), voters+extra
	sm := smCPU()
	var rec *Record
	b.Run(fmt.Sprintf("prove/voters=%d/ballots=%d/rows=%d", voters, cast, n), func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			rec = e.runLists(b, x, y, rand.Reader)
		}
		report(b, n, cast, cpu, sm)
	})
	b.Run(fmt.Sprintf("verify/voters=%d/ballots=%d/rows=%d", voters, cast, n), func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, err := VerifyLists(e.p, x, y, rec); err != nil {
				b.Fatal(err)
			}
		}
		report(b, n, cast, cpu, sm)
	})
}

func report(b *testing.B, n, cast int, cpu time.Duration, sm float64) {
	total := float64(cpuTime()-cpu) / float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
	b.ReportMetric(total/float64(n), "cpu-ns/row")
	b.ReportMetric(total/float64(n)/sm, "SM/row")
	b.ReportMetric(total/float64(cast)/sm, "SM/ballot")
	b.ReportMetric(sm, "cpu-ns/SM")
}
