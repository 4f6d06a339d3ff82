package verify

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/recordfile"
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

// BenchmarkVerifyRecord verifies a whole simulated record as evote-verify
// does, streamed from a record directory, and reports CPU per ballot in SM,
// wall time and the peak resident memory of the verification alone (the
// simulation's memory is returned to the system and the peak reset first,
// on Linux). By default the election is the one of spec §11.7: one
// 5-candidate single-choice contest per ballot, 3 trustees, 3 mixes,
// threshold 2, one ballot per voter. EVOTE_VERIFY_SAMPLE=1 uses the whole
// sample election instead (a multi-select contest on every ballot too,
// re-votes, audits, in-person votes). EVOTE_VERIFY_VOTERS sets the number
// of voters (default 400); EVOTE_VERIFY_WRITE=dir writes the record there
// (with log.pub) instead of a temporary directory; EVOTE_VERIFY_RECORD=dir
// verifies the record already there instead of simulating one (trusting
// its manifest). The per-check lines are
// CPU time (each worker's thread, the process's for the proofs of
// shuffle), in SM per ballot; their sum is close to the total.
//
//	EVOTE_VERIFY_VOTERS=100000 go test ./verify -run '^$' -bench VerifyRecord -benchtime 1x
func BenchmarkVerifyRecord(b *testing.B) {
	voters := 400
	if s := os.Getenv("EVOTE_VERIFY_VOTERS"); s != "" {
		voters, _ = strconv.Atoi(s)
	}
	plain := os.Getenv("EVOTE_VERIFY_SAMPLE") == ""
	dir := os.Getenv("EVOTE_VERIFY_WRITE")
	if dir == "" {
		dir = b.TempDir()
	}
	opt := func() Options {
		if rec := os.Getenv("EVOTE_VERIFY_RECORD"); rec != "" {
			dir = rec
			return recordOptions(b, rec)
		}
		f := newFixtureCfg(b, "kg-2027-bench", voters, 0, plain)
		if err := f.record(b).WriteDir(dir); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(dir+"/log.pub", []byte(FormatLogKey(f.log.Verifier())), 0o644); err != nil {
			b.Fatal(err)
		}
		return f.options()
	}()
	opt.Workers = runtime.GOMAXPROCS(0)
	sm0 := smSeconds()
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	b.ResetTimer()
	var rep *Report
	cpu0 := cpuSeconds()
	start := time.Now()
	for range b.N {
		// The label marks the verifier's samples (and its goroutines') in a
		// CPU profile: go tool pprof -tagfocus=phase=verify.
		var err error
		pprof.Do(context.Background(), pprof.Labels("phase", "verify"), func(context.Context) { rep, err = VerifyPath(dir, opt) })
		if err != nil {
			b.Fatal(err)
		}
	}
	wall := time.Since(start).Seconds() / float64(b.N)
	cpu := (cpuSeconds() - cpu0) / float64(b.N)
	b.StopTimer()
	// The SM timed before and after: on a shared machine whose load
	// varies over a long verification, one timing can be far off.
	sm := (sm0 + smSeconds()) / 2
	if !rep.OK {
		b.Fatalf("record fails: %v", rep.Failures)
	}
	n := float64(rep.Counts.Ballots)
	b.ReportMetric(n, "ballots")
	b.ReportMetric(cpu/n/sm, "SM/ballot")
	b.ReportMetric(cpu, "cpu-s/record")
	b.ReportMetric(wall, "s/record")
	if resetPeakRSS {
		b.ReportMetric(float64(peakRSS())/(1<<20), "MiB-peak-rss")
	}
	b.ReportMetric(sm*1e6, "µs/SM")
	var sum float64
	for _, c := range rep.Checks {
		sum += c.Seconds
		if c.Seconds > 0.001*cpu {
			b.Logf("%-22s %8.3f cpu-s  %6.2f SM/ballot", c.Check, c.Seconds, c.Seconds/n/sm)
		}
	}
	b.Logf("%-22s %8.3f cpu-s  %6.2f SM/ballot (the process: %.3f cpu-s)", "sum of the checks", sum, sum/n/sm, cpu)
}

// recordOptions returns the options to verify the record directory dir
// with the fingerprint of its own manifest (for a benchmark, which trusts
// the record it made).
func recordOptions(b *testing.B, dir string) Options {
	f, err := os.Open(dir + "/" + recordfile.EntriesFile)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	first, err := newFrameSource(f).next()
	if err != nil {
		b.Fatal(err)
	}
	e, err := bulletin.DecodeEntry(first)
	if err != nil {
		b.Fatal(err)
	}
	m, err := ballot.DecodeManifest(e.Payload)
	if err != nil {
		b.Fatal(err)
	}
	return Options{Fingerprint: ballot.ExpectFingerprint(m.Fingerprint())}
}

// peakRSS returns the process's peak resident set size (VmHWM) in bytes,
// since it was last reset through /proc/self/clear_refs.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
