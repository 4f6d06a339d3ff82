package verify

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"evote/ballot"
)

func TestZZPeak(t *testing.T) {
	dir := os.Getenv("ZZ_REC")
	if dir == "" {
		t.Skip()
	}
	mb, _ := os.ReadFile(dir + "/manifest")
	m, err := ballot.DecodeManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	runtime.MemProfileRate = 64 << 10
	stop := make(chan struct{})
	var done atomic.Uint64
	k := 0
	go func() {
		var maxIn uint64
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > maxIn*11/10 {
				maxIn = ms.HeapInuse
				k++
				f, _ := os.Create(fmt.Sprintf("/tmp/sv/peak%02d.prof", k))
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
				fmt.Printf("%02d heap in use %d MiB at entry %d\n", k, maxIn>>20, done.Load())
			}
		}
	}()
	rep, err := VerifyPath(dir, Options{Fingerprint: ballot.ExpectFingerprint(m.Fingerprint()), Progress: func(_ string, d, _ uint64) { done.Store(d) }})
	close(stop)
	if err != nil || !rep.OK {
		t.Fatal(err, rep.Failures)
	}
}
