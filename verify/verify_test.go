package verify

import (
	"strings"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/election/sim"
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

// TestPostQuantumCheckpoint: when the manifest pins an ML-DSA-65 log key,
// the record's checkpoint must carry a valid ML-DSA-65 signature too.
func TestPostQuantumCheckpoint(t *testing.T) {
	f := newFixtureSim(t, sim.Config{ElectionID: "kg-2027-pq", Trustees: 2, Threshold: 1, Voters: 3, Now: fixtureNow, SingleChoiceOnly: true, PostQuantum: true})
	if rep := Verify(f.record(t), f.options()); !rep.OK {
		t.Fatalf("two-signature checkpoint fails: %v", rep.Failures)
	}
	// A log-key option equal to the manifest's is accepted, another refused.
	opt := f.options()
	opt.Log = f.log.Verifier()
	if rep := Verify(f.record(t), opt); !rep.OK {
		t.Fatalf("with the manifest's log key: %v", rep.Failures)
	}
	opt.Log.MLDSA = nil
	if first, _ := Verify(f.record(t), opt).First(); first.Check != CheckAnchors {
		t.Fatalf("another log key given: first failure %v, want %s", first, CheckAnchors)
	}
	// A checkpoint signed with Ed25519 only does not satisfy the manifest.
	edOnly := *f.log
	edOnly.MLDSA, edOnly.MLDSAPublic = nil, nil
	es := f.encoded()
	tree := bulletin.NewTree()
	for _, e := range es {
		tree.AppendLeaves(bulletin.LeafHash(e))
	}
	r, _ := tree.RootAt(uint64(len(es)))
	note, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: edOnly.Origin, Size: uint64(len(es)), Root: r, Time: time.Unix(fixtureNow, 0).UTC()}, &edOnly)
	if err != nil {
		t.Fatal(err)
	}
	rep := Verify(&Record{Checkpoint: note, Entries: es}, f.options())
	if first, _ := rep.First(); first.Check != CheckCheckpointSig {
		t.Fatalf("first failure %v, want %s", first, CheckCheckpointSig)
	}
}

// TestAnchors: the fingerprint is the verifier's one trust input. Without
// it, or with another election's, nothing else is checked and the record
// is refused; the log key, witnesses and quorum come from the manifest
// that has it.
func TestAnchors(t *testing.T) {
	f := shared(t)
	rec := f.record(t)
	for name, opt := range map[string]Options{
		"no fingerprint":      {},
		"another fingerprint": {Fingerprint: ballot.ExpectFingerprint(ballot.Fingerprint{1})},
	} {
		rep := Verify(rec, opt)
		if first, _ := rep.First(); rep.OK || first.Check != CheckAnchors || len(rep.Failures) != 1 {
			t.Errorf("%s: %v", name, rep.Failures)
		}
	}
	// The short form the officials print is enough.
	fp, err := ballot.ParseFingerprint(f.e.State.Manifest.Fingerprint().String())
	if err != nil {
		t.Fatal(err)
	}
	if rep := Verify(rec, Options{Fingerprint: fp}); !rep.OK {
		t.Errorf("short fingerprint: %v", rep.Failures)
	}
	// A record whose first entry is not a manifest.
	bad := &Record{Checkpoint: rec.Checkpoint, Entries: rec.Entries[1:]}
	if first, _ := Verify(bad, f.options()).First(); first.Check != CheckAnchors {
		t.Errorf("no manifest first: %v", first)
	}
}

// TestCoercionManifestOverChapter9Board: a record whose manifest (the
// published one, properly signed) sets deniable re-voting is verified under
// chapter 15's rules (§15.11), which refuse a board of chapter 9: its
// credentials and ballots show pseudonyms and are not part of this mode.
func TestCoercionManifestOverChapter9Board(t *testing.T) {
	f := shared(t)
	m, err := ballot.DecodeManifest(f.entries[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	m.Revote = ballot.LastBallotCounts
	m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 16, MaxBallots: 4}
	es := f.encoded()
	es[0] = f.sign(t, bulletin.TypeManifest, f.entries[0].Author, m.Encode())
	opt := f.options()
	opt.Fingerprint = ballot.ExpectFingerprint(m.Fingerprint())
	rep := Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, opt)
	refused := map[Check]bool{}
	for _, fl := range rep.Failures {
		if strings.Contains(fl.Reason, "not part of an election in coercion mode deniable-revoting") {
			refused[fl.Check] = true
		}
	}
	if rep.OK || !refused[CheckCredential] || !refused[CheckBallotPeriod] {
		t.Fatalf("coercion manifest over a board of chapter 9: %v", rep.Failures)
	}
}
