package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
)

// BenchmarkStoreAppend measures the backend alone: durable appends of
// batches of 256 records of 160 bytes (a small entry) and 1 KiB (no signature checks), i.e. the
// ceiling the board's group commit can reach on PostgreSQL.
func BenchmarkStoreAppend(b *testing.B) {
	for _, size := range []int{160, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) { benchStoreAppend(b, size) })
	}
}

func benchStoreAppend(b *testing.B, size int) {
	s, err := postgres.Open(context.Background(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 256
	log := store.LogID(sha256.Sum256([]byte("bench")))
	recs := make([]store.Record, batch)
	var first uint64
	b.ResetTimer()
	for n := 0; n < b.N; n += batch {
		for i := range recs {
			data := binary.BigEndian.AppendUint64(make([]byte, size-8), first+uint64(i))
			recs[i] = store.Record{Hash: sha256.Sum256(data), Type: 0x0401, Data: data}
		}
		if err := s.Append(context.Background(), log, first, recs); err != nil {
			b.Fatal(err)
		}
		first += batch
	}
	b.StopTimer()
	b.ReportMetric(float64(first)/b.Elapsed().Seconds(), "records/s")
}
