package sim

import (
	"errors"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/election"
	"evote/internal/testrand"
	"evote/tally"
)

func small(seed string) Config {
	return Config{ElectionID: "kg-2027-sim", Trustees: 3, Threshold: 2, Voters: 30, RevoteEvery: 5, AuditEvery: 7, InPersonEvery: 11, Rand: testrand.New(seed), Now: 1798800000}
}

func TestSimulatedElectionReplays(t *testing.T) {
	e, err := Setup(small("replay"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Vote(); err != nil {
		t.Fatal(err)
	}
	// Replay the record from scratch, checking every signature: the same
	// rules accept it.
	s := election.NewState()
	for i, entry := range e.Entries {
		enc := entry.Encode()
		d, err := bulletin.DecodeEntry(enc)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if err := d.Verify(); err != nil {
			t.Fatalf("entry %d signature: %v", i, err)
		}
		if err := s.Apply(d); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if s.Phase != election.PhaseClosed || s.Cleansing == nil {
		t.Fatalf("phase %s", s.Phase)
	}
	// 30 voters, 2 in person (i = 10, 21): 28 counted; 6 re-votes.
	if got := len(s.Cleansing.Counted); got != 28 {
		t.Errorf("%d counted ballots, want 28", got)
	}
	if got := len(s.Ballots); got != 36 {
		t.Errorf("%d ballots on the board, want 36", got)
	}
	if len(e.Intended) != 28 {
		t.Errorf("%d intended votes, want 28", len(e.Intended))
	}
}

// TestRulesRefuse checks that the rules refuse the attacks of
// ../shared/SECURITY.md #2, #10, #11 and out-of-order entries, and that a
// refused entry leaves the state unchanged.
func TestRulesRefuse(t *testing.T) {
	e, err := Setup(small("refuse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Credential([32]byte{1}, "style-ala-archa"); !errors.Is(err, election.ErrRefused) {
		t.Errorf("credential before open: %v", err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(election.PhaseOpen); !errors.Is(err, election.ErrRefused) {
		t.Errorf("opening twice: %v", err)
	}
	a, err := e.Credential([32]byte{1}, "style-ala-archa")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Credential([32]byte{2}, "style-ala-archa")
	p, err := e.Cast(a, e.Selection(1, "style-ala-archa"))
	if err != nil {
		t.Fatal(err)
	}
	size := e.State.Size
	// Replay of a's ballot (identical entry): the tracking code repeats.
	if err := e.Post(bulletin.TypeBallot, a.Device, p.Ballot.Encode()); !errors.Is(err, election.ErrRefused) {
		t.Errorf("replayed ballot: %v", err)
	}
	// a's ballot under b's device key: the proofs bind a's credential.
	copyB := *p.Ballot
	copyB.CredentialKey = pub(b.Device)
	if err := e.Post(bulletin.TypeBallot, b.Device, copyB.Encode()); !errors.Is(err, election.ErrRefused) {
		t.Errorf("copied ballot: %v", err)
	}
	// A ballot under a device key with no credential.
	stranger := &Voter{Pseudonym: [32]byte{9}, Style: "style-ala-archa", Device: e.key()}
	if _, err := e.Cast(stranger, nil); !errors.Is(err, election.ErrRefused) {
		t.Errorf("ballot without credential: %v", err)
	}
	// Wrong ballot style for the credential.
	wrong := &Voter{Pseudonym: b.Pseudonym, Style: "style-kara-suu", Device: b.Device}
	if _, err := e.Cast(wrong, nil); !errors.Is(err, election.ErrRefused) {
		t.Errorf("ballot of another style: %v", err)
	}
	// A second credential for an already bound device key.
	if err := e.Post(bulletin.TypeBallot, e.Keys.Authority, p.Ballot.Encode()); !errors.Is(err, election.ErrRefused) {
		t.Errorf("ballot signed by another key: %v", err)
	}
	if e.State.Size != size {
		t.Errorf("refused entries changed the state size %d → %d", size, e.State.Size)
	}
	// Close; then no more ballots, credentials or marks.
	if err := e.Transition(election.PhaseClosed); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cast(b, nil); !errors.Is(err, election.ErrRefused) {
		t.Errorf("ballot after close: %v", err)
	}
	if _, err := e.Credential([32]byte{3}, "style-ala-archa"); !errors.Is(err, election.ErrRefused) {
		t.Errorf("credential after close: %v", err)
	}
	if err := e.MarkInPerson([32]byte{2}, "style-ala-archa"); !errors.Is(err, election.ErrRefused) {
		t.Errorf("mark after close: %v", err)
	}
	if err := e.Transition(election.PhaseMixing); !errors.Is(err, election.ErrRefused) {
		t.Errorf("mixing before cleansing: %v", err)
	}
}

func TestAuditedCiphertextCannotBeCast(t *testing.T) {
	e, err := Setup(small("audit"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	v, _ := e.Credential([32]byte{1}, "style-tash-dobo")
	p, err := e.State.Election().Encrypt(v.Style, pub(v.Device), e.Selection(3, v.Style), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Post(bulletin.TypeAuditedBallot, e.Keys.Authority, p.Audit().Encode()); err != nil {
		t.Fatal(err)
	}
	if err := e.Post(bulletin.TypeBallot, v.Device, p.Ballot.Encode()); !errors.Is(err, election.ErrRefused) {
		t.Errorf("audited ballot cast: %v", err)
	}
}

func TestSingleBallotPolicy(t *testing.T) {
	cfg := small("single")
	cfg.Revote = ballot.SingleBallot
	e, err := Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	v, _ := e.Credential([32]byte{1}, "style-tash-dobo")
	if _, err := e.Cast(v, nil); err != nil {
		t.Fatal(err)
	}
	v2, _ := e.Credential([32]byte{1}, "style-tash-dobo")
	if _, err := e.Cast(v2, nil); !errors.Is(err, election.ErrRefused) {
		t.Errorf("second ballot under the one-ballot policy: %v", err)
	}
}

func TestInPersonCancels(t *testing.T) {
	e, err := Setup(small("inperson"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Transition(election.PhaseOpen); err != nil {
		t.Fatal(err)
	}
	v, _ := e.Credential([32]byte{1}, "style-tash-dobo")
	if _, err := e.Cast(v, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.MarkInPerson(v.Pseudonym, v.Style); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cast(v, e.Selection(2, v.Style)); !errors.Is(err, election.ErrRefused) {
		t.Errorf("online ballot after the in-person vote: %v", err)
	}
	if _, err := e.Credential(v.Pseudonym, v.Style); !errors.Is(err, election.ErrRefused) {
		t.Errorf("credential after the in-person vote: %v", err)
	}
	if err := e.Transition(election.PhaseClosed); err != nil {
		t.Fatal(err)
	}
	c, _ := e.State.ComputeCleansing()
	if len(c.Counted) != 0 || len(c.Cancelled) != 1 {
		t.Errorf("cleansing %+v, want the ballot cancelled", c)
	}
}

func TestWholeElectionCountsAsIntended(t *testing.T) {
	e, err := Run(small("whole"), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if e.State.Phase != election.PhaseTallied {
		t.Fatalf("phase %s", e.State.Phase)
	}
	if want := e.Expected(); !e.State.Result.Equal(want) {
		t.Fatalf("result %+v, want %+v", e.State.Result, want)
	}
	if len(e.State.Culprits) != 0 {
		t.Fatalf("honest trustees named: %v", e.State.Culprits)
	}
}

// TestBadTrusteesNamed: a trustee posting a bad mix or a bad decryption
// share is named and the tally still completes with the honest ones.
func TestBadTrusteesNamed(t *testing.T) {
	cfg := small("cheat")
	cfg.Trustees, cfg.Threshold, cfg.Mixes = 4, 2, 3
	h := Hooks{
		Mix: func(trustee int, m *tally.MixEntry) *tally.MixEntry {
			if trustee != 2 {
				return m
			}
			// Trustee 2 swaps two rows of its output after proving.
			bad := *m
			cts, _ := m.Output.Ciphertexts()
			cts[0], cts[1] = cts[1], cts[0]
			bad.Output, _ = shuffle.NewRows(1, cts)
			return &bad
		},
		Share: func(trustee int, d *tally.DecryptionEntry) *tally.DecryptionEntry {
			if trustee != 1 {
				return d
			}
			bad := *d
			sh := *d.Share
			sh.D = append([]*group.Element{group.NewGeneratorElement()}, d.Share.D[1:]...)
			bad.Share = &sh
			return &bad
		},
	}
	e, err := Run(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if !e.State.Result.Equal(e.Expected()) {
		t.Fatal("result differs from the intended votes")
	}
	named := map[int]bool{}
	for _, c := range e.State.Culprits {
		named[c.Trustee] = true
	}
	if !named[1] || !named[2] || named[3] || named[4] {
		t.Fatalf("culprits %v, want trustees 1 (share) and 2 (mix)", e.State.Culprits)
	}
}

// TestSingleChoiceOnly runs a small election whose ballots carry only the
// 5-candidate contest, to the result.
func TestSingleChoiceOnly(t *testing.T) {
	cfg := small("single-choice")
	cfg.Voters, cfg.SingleChoiceOnly = 12, true
	e, err := Run(cfg, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range e.State.Manifest.Contests {
		if c.Kind != ballot.SingleChoice {
			t.Fatalf("contest %s is not single choice", c.ID)
		}
	}
	for _, b := range e.State.Ballots {
		if b.Contests() != 1 {
			t.Fatalf("ballot with %d contests", b.Contests())
		}
	}
	if !e.State.Result.Equal(e.Expected()) {
		t.Fatalf("result %+v, expected %+v", e.State.Result, e.Expected())
	}
}

// TestKeygenStepsOncePerTrustee: a trustee cannot post a second version of
// a key-generation step, nor one for another trustee.
func TestKeygenStepsOncePerTrustee(t *testing.T) {
	e, err := Setup(small("keygen-once"))
	if err != nil {
		t.Fatal(err)
	}
	// Find trustee 1's commitments entry and post it again, then post it
	// signed by trustee 2.
	var commit *bulletin.Entry
	for _, en := range e.Entries {
		if en.Type == bulletin.TypeKeygenCommitment && en.Author == pub(e.Keys.Trustees[0]) {
			commit = en
		}
	}
	fresh := election.NewState()
	for _, en := range e.Entries {
		if en.Type == bulletin.TypeElectionContext {
			break
		}
		if err := fresh.Apply(en); err != nil {
			t.Fatal(err)
		}
		if en == commit {
			if err := fresh.Apply(en); !errors.Is(err, election.ErrRefused) {
				t.Errorf("second commitments from trustee 1: %v", err)
			}
			forged, _ := bulletin.NewEntry(e.Log, en.Type, pub(e.Keys.Trustees[1]), bulletin.NewEd25519Signer(e.Keys.Trustees[1]), en.Payload)
			if err := fresh.Apply(forged); !errors.Is(err, election.ErrRefused) {
				t.Errorf("trustee 1's commitments signed by trustee 2: %v", err)
			}
		}
	}
}
