package ballotbox_test

import (
	"context"
	"testing"
	"time"

	"evote/ballot"
	"evote/ballotbox/boxtest"
	"evote/election"
	"evote/internal/cpustat"
)

// BenchmarkRevoteSlotPerSM measures one slot of deniable re-voting made
// of dummy rows only (the worst case: every row needs a credential, a
// blank ballot with its proofs and a flag proof), per row, in CPU time
// as a ratio to one scalar multiplication measured in the same run
// (SM/row): the identity service's credential (played in-process by the
// fixture: an encryption, a Schnorr proof, a signature), the box's row
// and the rules' check of the slot. Sample manifest (one single-choice
// contest per style), B = 60 (20 rows per style). Command:
//
//	go test ./ballotbox -run '^$' -bench RevoteSlotPerSM -benchtime 5x
func BenchmarkRevoteSlotPerSM(b *testing.B) {
	ctx := context.Background()
	clk := &clock{}
	clk.set(votingStart.Add(-time.Hour))
	st := openSQLite(b, b.TempDir())
	b.Cleanup(func() { st.Close() })
	f := newFixture(b, boxtest.Options{Store: st, Now: clk.now, Listed: 16,
		Coercion: ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 60, MaxBallots: 4}})
	rows := 0
	f.Box.WithState(func(s *election.State) {
		for _, rs := range s.RevoteStyles() {
			rows += rs.SlotRows
		}
	})
	sm := float64(cpustat.ScalarMult())
	b.ResetTimer()
	cpu0 := cpustat.Process()
	for i := range b.N {
		clk.set(votingStart.Add(time.Duration(i+1) * time.Minute))
		if err := f.Box.PostDueSlots(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu := cpustat.Process() - cpu0
	b.StopTimer()
	n := float64(b.N * rows)
	b.ReportMetric(float64(cpu)/n/sm, "SM/row")
	b.ReportMetric(float64(cpu.Microseconds())/1000/n, "cpu_ms/row")
	b.ReportMetric(sm, "cpu_ns/SM")
}

// BenchmarkRevoteCastPerSM measures the box's acceptance of one cast row
// (spec §15.16.3: the token, the row's proofs and signatures, the board's
// and the ledger's checks, the durable store on SQLite), in CPU time as a
// ratio to one scalar multiplication (SM/cast); the device's and the
// identity service's work are outside the measure. M = 64 so that no
// voter reaches the limit. Command:
//
//	go test ./ballotbox -run '^$' -bench RevoteCastPerSM -benchtime 50x
func BenchmarkRevoteCastPerSM(b *testing.B) {
	ctx := context.Background()
	clk := &clock{}
	clk.set(votingStart.Add(-time.Hour))
	st := openSQLite(b, b.TempDir())
	b.Cleanup(func() { st.Close() })
	f := newFixture(b, boxtest.Options{Store: st, Now: clk.now, Listed: 16,
		Coercion: ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 3600, SlotRows: 60, MaxBallots: 64}})
	clk.set(votingStart.Add(time.Second))
	var style string
	f.Box.WithState(func(s *election.State) { style = s.Manifest.BallotStyles[0].ID })
	sm := float64(cpustat.ScalarMult())
	b.ResetTimer()
	var cpu time.Duration
	for i := range b.N {
		b.StopTimer()
		var p [32]byte
		p[0], p[1] = byte(i), byte(i>>8)
		v, err := f.SignInRevote(p, style)
		if err != nil {
			b.Fatal(err)
		}
		row, err := f.Row(v, f.Selection(i, style))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := cpustat.Process()
		if _, err := f.Box.CastRow(ctx, v.Token, row); err != nil {
			b.Fatal(err)
		}
		cpu += cpustat.Process() - c0
	}
	b.StopTimer()
	b.ReportMetric(float64(cpu)/float64(b.N)/sm, "SM/cast")
	b.ReportMetric(sm, "cpu_ns/SM")
}
