package board

import (
	"context"
	"evote/bulletin"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
)

// BenchmarkAppend measures durable appends per second through a Log: many
// concurrent callers each appending one signed entry (signature checked)
// and waiting for its durable acknowledgement; the group committer batches
// them into one transaction.
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
				es[i], err = bulletin.NewEntry(l.ID(), bulletin.TypeBallot, author.Public(), author, fmt.Appendf(nil, "bench ballot %d of %d", i, b.N))
				if err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.SetParallelism(256)
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
			if l.Size() != uint64(b.N) {
				b.Fatalf("size %d after %d appends", l.Size(), b.N)
			}
		})
	}
}
