package verify

import (
	"testing"
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
