package verify

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"testing"
	"time"

	"evote/crypto/group"
)

// smSeconds measures the CPU time of one SM: a constant-time variable-base scalar
// multiplication on this machine (the unit of spec §11.7), as
// crypto/group's BenchmarkScalarMult does.
func smSeconds() float64 {
	x := new(group.Scalar).SetUint64(0xdeadbeef)
	x.Invert(x)
	p := new(group.Element).ScalarBaseMult(x)
	const n = 4000
	start := cpuSeconds() // CPU time: other processes on the machine do not inflate it
	for range n {
		p.ScalarMult(x, p)
	}
	return (cpuSeconds() - start) / n
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkVerifyRecord verifies a whole simulated record and reports CPU
// per ballot in SM, wall time and heap. By default the election is the one
// of spec §11.7: one 5-candidate single-choice contest per ballot, 3
// trustees, 3 mixes, threshold 2, one ballot per voter.
// EVOTE_VERIFY_SAMPLE=1 uses the whole sample election instead (a
// multi-select contest on every ballot too, re-votes, audits, in-person
// votes). EVOTE_VERIFY_VOTERS sets the number of voters (default 400);
// EVOTE_VERIFY_WRITE=dir also writes the record there, with log.pub.
//
//	EVOTE_VERIFY_VOTERS=3000 go test ./verify -run '^$' -bench VerifyRecord -benchtime 1x
func BenchmarkVerifyRecord(b *testing.B) {
	voters := 400
	if s := os.Getenv("EVOTE_VERIFY_VOTERS"); s != "" {
		voters, _ = strconv.Atoi(s)
	}
	plain := os.Getenv("EVOTE_VERIFY_SAMPLE") == ""
	f := newFixtureCfg(b, "kg-2027-bench", voters, 0, plain)
	rec := f.record(b)
	if dir := os.Getenv("EVOTE_VERIFY_WRITE"); dir != "" {
		// Keep the record for a run of cmd/evote-verify (its memory alone).
		if err := rec.WriteDir(dir); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(dir+"/log.pub", []byte(FormatLogKey(f.log.Verifier())), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	opt := f.options()
	opt.Workers = runtime.GOMAXPROCS(0)
	sm := smSeconds()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var rep *Report
	cpu0 := cpuSeconds()
	start := time.Now()
	for range b.N {
		// The label marks the verifier's samples (and its goroutines') in a
		// CPU profile: go tool pprof -tagfocus=phase=verify.
		pprof.Do(context.Background(), pprof.Labels("phase", "verify"), func(context.Context) { rep = Verify(rec, opt) })
	}
	wall := time.Since(start).Seconds() / float64(b.N)
	cpu := (cpuSeconds() - cpu0) / float64(b.N)
	b.StopTimer()
	if !rep.OK {
		b.Fatalf("record fails: %v", rep.Failures)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	n := float64(rep.Counts.Ballots)
	b.ReportMetric(n, "ballots")
	b.ReportMetric(cpu/n/sm, "SM/ballot")
	b.ReportMetric(cpu, "cpu-s/record")
	b.ReportMetric(wall, "s/record")
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "MiB-heap")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Maxrss)/1024, "MiB-maxrss")
	b.ReportMetric(sm*1e6, "µs/SM")
	for _, c := range rep.Checks {
		if c.Seconds > 0.001*wall {
			b.Logf("%-22s %8.3fs  %6.2f SM/ballot", c.Check, c.Seconds, c.Seconds/n/sm)
		}
	}
}
