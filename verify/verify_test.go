package verify

import (
	"testing"
	"time"

	"evote/bulletin"
	"evote/crypto/sig"
)

// TestHonestRecord checks that the honest record passes every check and
// that the report counts what the election holds.
func TestHonestRecord(t *testing.T) {
	f := shared(t)
	rep := Verify(f.record(t), f.options())
	if !rep.OK {
		t.Fatalf("honest record fails: %v", rep.Failures)
	}
	s := f.e.State
	if rep.Counts.ValidBallots != uint64(len(s.Ballots)) || rep.Counts.Counted != uint64(len(s.Cleansing.Counted)) || rep.Counts.Cancelled != uint64(len(s.Cleansing.Cancelled)) {
		t.Errorf("counts %+v, state has %d ballots, %d counted", rep.Counts, len(s.Ballots), len(s.Cleansing.Counted))
	}
	if rep.Phase != "tallied" || rep.ElectionID != f.e.Cfg.ElectionID {
		t.Errorf("phase %q election %q", rep.Phase, rep.ElectionID)
	}
	for _, c := range rep.Checks {
		if c.Items == 0 && c.Check != CheckConsistency && c.Check != CheckVoterList && c.Check != CheckProtocol {
			t.Errorf("check %s covered nothing", c.Check)
		}
	}
	// The same with earlier checkpoints at every size and one worker.
	opt := f.options()
	opt.Workers = 1
	es := f.encoded()
	for _, n := range []int{1, 7, len(es) / 2, len(es)} {
		opt.Earlier = append(opt.Earlier, f.checkpoint(t, es[:n]))
	}
	if rep := Verify(f.record(t), opt); !rep.OK {
		t.Fatalf("with earlier checkpoints: %v", rep.Failures)
	}
}

// TestPostQuantumCheckpoint: with an ML-DSA-65 line in the log key, the
// record's checkpoint must carry a valid ML-DSA-65 signature too.
func TestPostQuantumCheckpoint(t *testing.T) {
	f := shared(t)
	m, err := sig.NewMLDSAKeyFromSeed(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	pq := *f.log
	pq.MLDSA, pq.MLDSAPublic = bulletin.NewMLDSASigner(m), m.PublicKey()
	es := f.encoded()
	root := bulletin.NewTree()
	for _, e := range es {
		root.AppendLeaves(bulletin.LeafHash(e))
	}
	r, _ := root.RootAt(uint64(len(es)))
	note, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: pq.Origin, Size: uint64(len(es)), Root: r, Time: time.Unix(fixtureNow, 0).UTC()}, &pq)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := ParseLogKey(FormatLogKey(pq.Verifier()))
	if err != nil {
		t.Fatal(err)
	}
	if rep := Verify(&Record{Checkpoint: note, Entries: es}, Options{Log: lv}); !rep.OK {
		t.Fatalf("two-signature checkpoint fails: %v", rep.Failures)
	}
	// The Ed25519-only checkpoint does not satisfy a key with ML-DSA-65.
	rep := Verify(f.record(t), Options{Log: lv})
	if first, _ := rep.First(); first.Check != CheckCheckpointSig {
		t.Fatalf("first failure %v, want %s", first, CheckCheckpointSig)
	}
}
