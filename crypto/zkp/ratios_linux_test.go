package zkp

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"evote/crypto/group"
)

// threadCPU returns the calling thread's CPU time (user + system). The
// goroutine must be locked to its thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRatios reports the Contest benchmarks' costs in SM (the "SM"
// metric; ns/op is meaningless here). It measures the thread's CPU time,
// not wall time, and alternates scalar multiplications and the operation
// within each iteration, so that the ratio holds on a shared, loaded
// machine:
//
//	go test -run '^$' -bench Ratios -benchtime 300x -count 3 ./crypto/zkp
func BenchmarkRatios(b *testing.B) {
	const k, batch = 5, 64
	pk := mustKeyPair(b).Public()
	sts, encs, ctxs := benchContest(b, pk, k, batch)
	f := newRangeFixture(b, pk, k, 2, ballotContext("bench", "voter", 0))
	pt := new(group.Element).ScalarBaseMult(group.RandomScalar())
	s := group.RandomScalar()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sm := func() time.Duration {
		start := threadCPU()
		e := new(group.Element)
		for i := 0; i < 4; i++ {
			e.ScalarMult(s, pt)
		}
		return (threadCPU() - start) / 4
	}
	ops := map[string]func() (time.Duration, int){
		"prove": func() (time.Duration, int) {
			start := threadCPU()
			if _, err := ProveRange(f.ctx, f.st, f.m, f.r, nil); err != nil {
				b.Fatal(err)
			}
			return threadCPU() - start, 1
		},
		"verify": func() (time.Duration, int) {
			start := threadCPU()
			p, err := ParseRangeProof(encs[0], k)
			if err != nil || p.Verify(ctxs[0], sts[0]) != nil {
				b.Fatal("verify failed")
			}
			return threadCPU() - start, 1
		},
		"batch64": func() (time.Duration, int) {
			start := threadCPU()
			bt := NewBatch()
			gi, hi := bt.Shared(GeneratorElement()), bt.Shared(pk.Element())
			for i := 0; i < batch; i++ {
				p, err := ParseRangeProof(encs[i], k)
				if err != nil || p.AddToBatch(bt, "ballot", ctxs[i], sts[i], gi, hi) != nil {
					b.Fatal("add failed")
				}
			}
			if err := bt.Verify(); err != nil {
				b.Fatal(err)
			}
			return threadCPU() - start, batch
		},
	}
	for _, name := range []string{"prove", "verify", "batch64"} {
		b.Run(name+"/k=5", func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var opT, smT time.Duration
			var n int
			for b.Loop() {
				smT += sm()
				d, c := ops[name]()
				opT += d
				n += c
				smT += sm()
			}
			// opT/n per ballot; smT/(2·iterations) per SM.
			iters := b.N
			b.ReportMetric(float64(opT)/float64(n)/(float64(smT)/float64(2*iters)), "SM")
		})
	}
}
