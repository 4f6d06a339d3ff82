// Command evote-mixbench runs the mix chain of spec chapter 6 at scale: it
// encrypts N rows of w ciphertexts under a fresh key, lets k trustees mix
// in turn (each verifying the chain before mixing, as tally.Mix does),
// round-trips the last mix entry through its board encoding, verifies the
// whole chain as an auditor would, and reports wall time per phase and the
// peak memory of the process.
//
//	go run ./cmd/evote-mixbench -n 1000000 -w 1 -mixers 1
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/tally"
)

func main() {
	n := flag.Int("n", 1000000, "number of rows (ballots)")
	w := flag.Int("w", 1, "ciphertexts per row")
	k := flag.Int("mixers", 1, "number of trustees who mix in turn")
	quiet := flag.Bool("q", false, "no progress lines")
	flag.Parse()
	log.SetFlags(0)
	if *n < 1 || *w < 1 || *k < 1 {
		log.Fatal("evote-mixbench: -n, -w and -mixers must be positive")
	}
	var progress shuffle.Progress
	if !*quiet {
		progress = shuffle.TextProgress(os.Stderr, 10*time.Second)
	}
	fmt.Printf("N = %d rows, width %d, %d mixer(s), GOMAXPROCS = %d\n", *n, *w, *k, runtime.GOMAXPROCS(0))

	sk, err := elgamal.GenerateKey(nil)
	if err != nil {
		log.Fatal(err)
	}
	start := time.Now()
	in := encryptRows(sk.Public(), *n, *w)
	phase("encrypt input (and parse it strictly)", start, *n**w)

	p := &tally.MixParams{ElectionID: "mixbench", ContestID: "c1", Context: []byte("mixbench context"), PublicKey: sk.Public(), Progress: progress}
	start = time.Now()
	p.Generators = shuffle.DeriveGenerators([]byte(p.ElectionID), *n, progress)
	phase("derive generators", start, *n)

	var entries []*tally.MixEntry
	for t := 1; t <= *k; t++ {
		start = time.Now()
		m, chain, err := tally.Mix(p, uint32(t), in, entries, nil)
		if err != nil {
			log.Fatal(err)
		}
		if len(chain.Failures) != 0 {
			log.Fatalf("evote-mixbench: chain failures: %v", chain.Failures)
		}
		phase(fmt.Sprintf("mix %d (verify %d earlier + shuffle + prove)", t, t-1), start, *n**w)
		entries = append(entries, m)
	}

	start = time.Now()
	enc := entries[len(entries)-1].Encode()
	dec, err := tally.DecodeMixEntry(enc)
	if err != nil {
		log.Fatal(err)
	}
	entries[len(entries)-1] = dec
	phase(fmt.Sprintf("encode + strict decode of the last entry (%d MB)", len(enc)>>20), start, *n**w)
	enc = nil

	start = time.Now()
	res := tally.VerifyMixChain(p, in, entries)
	if len(res.Failures) != 0 || res.Complete(*k) != nil {
		log.Fatalf("evote-mixbench: chain does not verify: %v", res.Failures)
	}
	phase(fmt.Sprintf("verify chain of %d", *k), start, *n**w**k)

	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		fmt.Printf("peak resident memory: %d MB; CPU time: user %.1f s, system %.1f s\n",
			ru.Maxrss>>10, time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds())
	}
}

var lastCPU time.Duration

// cpuTime returns the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phase prints the wall and CPU time of a phase (since the previous one)
// and their cost per ciphertext. On a machine shared with other work the
// CPU time is the steadier figure.
func phase(name string, start time.Time, cts int) {
	d := time.Since(start)
	cpu := cpuTime()
	c := cpu - lastCPU
	lastCPU = cpu
	fmt.Printf("%-58s %7.1f s wall %7.1f µs/ct | %7.1f s CPU %7.1f µs/ct\n", name, d.Seconds(),
		float64(d.Microseconds())/float64(cts), c.Seconds(), float64(c.Microseconds())/float64(cts))
}

// encryptRows encrypts n·w small messages on all cores, straight into the
// rows' encoding (no decoded copy of the list is kept).
func encryptRows(pk *elgamal.PublicKey, n, w int) *shuffle.Rows {
	total := n * w
	enc := make([]byte, 8, 8+total*elgamal.CiphertextSize)
	binary.BigEndian.PutUint32(enc, uint32(n))
	binary.BigEndian.PutUint32(enc[4:], uint32(w))
	enc = enc[:8+total*elgamal.CiphertextSize]
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < total; i += workers {
				c := pk.EncryptWithRandomness(new(group.Scalar).SetUint64(uint64(i%10)), group.RandomScalar())
				c.AppendBytes(enc[8+i*elgamal.CiphertextSize : 8+i*elgamal.CiphertextSize])
			}
		}()
	}
	wg.Wait()
	rows, err := shuffle.ParseRows(enc)
	if err != nil {
		log.Fatal(err)
	}
	return rows
}
