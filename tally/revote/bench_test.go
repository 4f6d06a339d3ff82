package revote

import (
	"crypto/rand"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"syscall"
	"testing"
	"time"

	"evote/crypto/group"
)

var benchRows = flag.Int("rows", 10000, "board rows of BenchmarkFilter")

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

// BenchmarkFilter measures the filter over a board of -rows rows (default
// 10,000) in which 10% of the voters cast a second ballot and the rest of
// the rows are dummies under the padding rule (M = 4), ballots of one
// ciphertext, 2-of-3 trustees, two mixes of each list. "prove" is all the
// trustees' work (two mixes of X, width 4, and of Y, width 1; two blinding
// steps over 2N ciphertexts; two decryption shares; the selection),
// "verify" is Verify. Reported per board row: wall and CPU time, and CPU
// time as a ratio to one scalar multiplication measured in the same run
// (SM/row). Command:
//
//	go test ./tally/revote -run '^$' -bench Filter -benchtime 1x [-rows 100000]
func BenchmarkFilter(b *testing.B) {
	n := *benchRows
	voters := n * 100 / 115
	extra := voters / 10
	e := newTestElection(b, rand.Reader, 4)
	s, err := newScenario(mrand.New(mrand.NewPCG(1, 2)), n, voters, extra, 0, 4)
	if err != nil {
		b.Fatal(err)
	}
	rows := e.rows(b, s, rand.Reader)
	sm := smCPU()
	var rec *Record
	b.Run(fmt.Sprintf("prove/rows=%d", n), func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			rec = e.run(b, rows, rand.Reader)
		}
		report(b, n, cpu, sm)
	})
	b.Run(fmt.Sprintf("verify/rows=%d", n), func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, err := Verify(e.p, rows, rec); err != nil {
				b.Fatal(err)
			}
		}
		report(b, n, cpu, sm)
	})
}

func report(b *testing.B, n int, cpu time.Duration, sm float64) {
	perRow := float64(cpuTime()-cpu) / float64(b.N) / float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/row")
	b.ReportMetric(perRow, "cpu-ns/row")
	b.ReportMetric(perRow/sm, "SM/row")
	b.ReportMetric(sm, "cpu-ns/SM")
}
