package board

import (
	"context"
	"evote/bulletin"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
)

// cpuTime returns the user+system CPU time used by this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ballotPayload is the payload size of a ballot of spec §11.7's election
// (one 5-candidate contest: a ciphertext, its range proof and the ballot's
// fields): its entries are 1,015 bytes on the board.
const ballotPayload = 880

// BenchmarkAppend measures durable appends per second through a Log: many
// concurrent callers each appending one signed ballot-sized entry
// (ballotPayload bytes; signature checked) and waiting for its durable
// acknowledgement; the group committer batches them into one transaction.
func BenchmarkAppend(b *testing.B) {
	backends := map[string]func(b *testing.B) store.Store{
		"sqlite": func(b *testing.B) store.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"postgres": func(b *testing.B) store.Store {
			s, err := postgres.Open(context.Background(), pgtest.Schema(b))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			st := backends[name](b)
			defer st.Close()
			k := testLogKey(fmt.Sprintf("evote.example/bench-%s-%d", name, b.N), false)
			l, err := Open(context.Background(), Config{Key: k, Store: st})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			author := seededEd25519("bench author")
			es := make([]*bulletin.Entry, b.N)
			for i := range es {
				payload := fmt.Appendf(make([]byte, 0, ballotPayload), "bench ballot %d of %d ", i, b.N)
				for len(payload) < ballotPayload {
					payload = append(payload, byte('a'+len(payload)%26))
				}
				es[i], err = bulletin.NewEntry(l.ID(), bulletin.TypeBallot, author.Public(), author, payload)
				if err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.SetParallelism(256)
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					if _, err := l.Append(context.Background(), es[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			// CPU of this process per append (the database's own CPU is
			// not included): a load-independent figure on a shared machine.
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/append")
			if l.Size() != uint64(b.N) {
				b.Fatalf("size %d after %d appends", l.Size(), b.N)
			}
		})
	}
}
