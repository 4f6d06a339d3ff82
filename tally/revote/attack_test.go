package revote

import (
	"errors"
	mrand "math/rand/v2"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/zkp"
	"evote/internal/testrand"
)

// TestDepthGapRefused: a ballot box that leaves a gap in a voter's depths
// (1, 3, 4 of M = 4, one padding row fewer) makes the selection keep two of
// that voter's rows (1 and 4 have no successor); the rows then number less
// than M per kept row, and the verifier refuses. The roll call would also
// find the voter's identifier twice.
func TestDepthGapRefused(t *testing.T) {
	rnd := testrand.New("gap")
	e := newTestElection(t, rnd, 4)
	s, err := newScenario(mrand.New(mrand.NewPCG(7, 7)), 30, 10, 0, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Voter 0 has one online row (depth 4) and padding at depths 1, 2, 3:
	// drop the padding row of depth 2.
	for i, c := range s.casts {
		if c.padding && !c.dummy && c.voter == 0 && c.depth == 2 {
			s.casts = append(s.casts[:i], s.casts[i+1:]...)
			break
		}
	}
	rows := e.rows(t, s, rnd)
	rec := e.run(t, rows, rnd)
	if _, err := Verify(e.p, rows, rec); !errors.Is(err, ErrKeptCount) {
		t.Fatalf("got %v, want %v", err, ErrKeptCount)
	}
	ids := []*group.Element{VoterID(e.p.ElectionID, pseudonym(0)), VoterID(e.p.ElectionID, pseudonym(0))}
	if _, err := CheckRollCall(e.p.ElectionID, e.p.Style, ids, 2, 4); !errors.Is(err, ErrRollCall) {
		t.Fatalf("roll call: got %v, want %v", err, ErrRollCall)
	}
}

// TestDuplicateDepthRefused: two rows of one voter with the same depth (a
// box that would let either count) have equal current tags: refused.
func TestDuplicateDepthRefused(t *testing.T) {
	rnd := testrand.New("dup")
	e := newTestElection(t, rnd, 4)
	s, err := newScenario(mrand.New(mrand.NewPCG(8, 8)), 30, 10, 0, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	s.casts = append(s.casts, cast{voter: 0, vote: 3, depth: 1})
	rows := e.rows(t, s, rnd)
	rec := e.run2(t, rows, rnd)
	if _, err := Verify(e.p, rows, rec); !errors.Is(err, ErrDuplicateTag) {
		t.Fatalf("got %v, want %v", err, ErrDuplicateTag)
	}
}

// TestReplayedIdentifierRefused: a row that replays another row's encrypted
// identifier and depth, re-randomised (so that no ciphertext repeats on the
// board), has the same current tag as the original: refused.
func TestReplayedIdentifierRefused(t *testing.T) {
	rnd := testrand.New("replay")
	e := newTestElection(t, rnd, 4)
	s, err := newScenario(mrand.New(mrand.NewPCG(9, 9)), 30, 10, 0, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.rows(t, s, rnd)
	var victim int
	for i, c := range s.casts {
		if !c.dummy {
			victim = i
			break
		}
	}
	r1, r2 := new(group.Scalar), new(group.Scalar)
	r1.SetRandom(rnd)
	r2.SetRandom(rnd)
	replay := Row{
		ID:     e.p.PublicKey.ReEncrypt(rows[victim].ID, r1),
		Depth:  e.p.PublicKey.ReEncrypt(rows[victim].Depth, r2),
		Flag:   encrypt(t, e.p.PublicKey, 1, rnd),
		Ballot: []*elgamal.Ciphertext{encrypt(t, e.p.PublicKey, 3, rnd)},
	}
	rows = append(rows, replay)
	rec := e.run2(t, rows, rnd)
	if _, err := Verify(e.p, rows, rec); !errors.Is(err, ErrDuplicateTag) {
		t.Fatalf("got %v, want %v", err, ErrDuplicateTag)
	}
}

// TestDummyCountRule: a roll call whose number of dummy voters is not the
// padding rule's is refused (a box that made one dummy voter more or less
// would reveal, through the kept count, how many re-votes there were).
func TestDummyCountRule(t *testing.T) {
	eid := "revote-test"
	var ids []*group.Element
	for v := 0; v < 5; v++ {
		ids = append(ids, VoterID(eid, pseudonym(v)))
	}
	for i := uint64(1); i <= 3; i++ {
		ids = append(ids, DummyID(eid, "style-a", i))
	}
	// 5 voters, M = 4: 17 rows give ⌈12/4⌉ = 3 dummy voters.
	if r, err := CheckRollCall(eid, "style-a", ids, 17, 4); err != nil || r != 5 {
		t.Fatalf("honest: %d, %v", r, err)
	}
	if _, err := CheckRollCall(eid, "style-a", ids, 21, 4); !errors.Is(err, ErrDummyGroupCount) {
		t.Fatalf("21 rows: got %v, want %v", err, ErrDummyGroupCount)
	}
	otherStyle := append(ids[:5:5], DummyID(eid, "style-b", 1), DummyID(eid, "style-b", 2), DummyID(eid, "style-b", 3))
	if _, err := CheckRollCall(eid, "style-a", otherStyle, 17, 4); !errors.Is(err, ErrDummyGroupCount) {
		t.Fatalf("another style's dummies: got %v, want %v", err, ErrDummyGroupCount)
	}
	skipped := append(ids[:5:5], DummyID(eid, "style-a", 1), DummyID(eid, "style-a", 2), DummyID(eid, "style-a", 4))
	if _, err := CheckRollCall(eid, "style-a", skipped, 17, 4); !errors.Is(err, ErrRollCall) {
		t.Fatalf("dummy numbering with a gap: got %v, want %v", err, ErrRollCall)
	}
}

// TestDepthProof: the box's depth proof holds for d ∈ [1, M], cannot be
// made for d > M, and fails for another row's context.
func TestDepthProof(t *testing.T) {
	rnd := testrand.New("depth")
	e := newTestElection(t, rnd, 4)
	ctx := DepthProofContext(e.p.Context, [32]byte{1})
	for d := 1; d <= 4; d++ {
		c, p, err := EncryptDepth(e.p.PublicKey, ctx, d, 4, rnd)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyDepth(e.p.PublicKey, ctx, c, 4, p); err != nil {
			t.Fatalf("depth %d: %v", d, err)
		}
		if err := VerifyDepth(e.p.PublicKey, DepthProofContext(e.p.Context, [32]byte{2}), c, 4, p); !errors.Is(err, ErrDepth) {
			t.Fatalf("moved proof: got %v", err)
		}
	}
	if _, _, err := EncryptDepth(e.p.PublicKey, ctx, 5, 4, rnd); !errors.Is(err, ErrParams) {
		t.Fatalf("depth 5 of 4: %v", err)
	}
	if _, _, err := EncryptDepth(e.p.PublicKey, ctx, 0, 4, rnd); !errors.Is(err, ErrParams) {
		t.Fatalf("depth 0: %v", err)
	}
}

// TestMixTamperRefused: a filter whose X chain has fewer than the required
// valid mixes (one mix's output swapped for another list) is refused.
func TestMixTamperRefused(t *testing.T) {
	e, _, rows, rec := honest(t, "mix", 30, 10, 4, 0)
	bad := *rec.XMixes[1]
	bad.Output = rec.XMixes[0].Output
	tampered := *rec
	tampered.XMixes = append(rec.XMixes[:1:1], &bad)
	if _, err := Verify(e.p, rows, &tampered); !errors.Is(err, ErrMixes) {
		t.Fatalf("got %v, want %v", err, ErrMixes)
	}
}

// TestRevoteNotVisible: two boards of the same size and turnout, one where
// voter 0 re-voted and one where they did not, publish the same numbers
// everywhere: rows, kept and superseded counts, dummy voters and turnout
// (the ciphertexts themselves are fresh encryptions either way). The
// difference the re-vote makes, one more superseded row, is absorbed by the
// dummy rows under the padding rule.
func TestRevoteNotVisible(t *testing.T) {
	type shape struct{ rows, kept, superseded, voters int }
	get := func(seed string, extra int) shape {
		rnd := testrand.New(seed)
		e := newTestElection(t, rnd, 4)
		s, err := newScenario(mrand.New(mrand.NewPCG(11, 11)), 31, 10, extra, 0, 4)
		if err != nil {
			t.Fatal(err)
		}
		rows := e.rows(t, s, rnd)
		res, err := Verify(e.p, rows, e.run(t, rows, rnd))
		if err != nil {
			t.Fatal(err)
		}
		_, r, err := VerifyRollCall(e.p, res.Kept, s.board, e.rollCall(t, res, rnd))
		if err != nil {
			t.Fatal(err)
		}
		return shape{len(rows), res.Kept.Len(), res.Superseded, r}
	}
	a, b := get("no-revote", 0), get("revote", 1)
	if a != b {
		t.Fatalf("public shapes differ: %+v without the re-vote, %+v with it", a, b)
	}
	// Why the rule: a box that packed its dummy rows into as few dummy
	// voters as possible (⌈D/M⌉) would make 6 without the re-vote (21 dummy
	// rows) and 5 with it (20), and the kept count would show the re-vote.
	if (21+3)/4 == (20+3)/4 {
		t.Fatal("the example no longer shows the difference")
	}
}

// TestFlagProof: a flag proof holds for 0 and 1 under its row's context,
// fails under another row's, and a flag of 2 cannot be proven (a dummy
// counted twice).
func TestFlagProof(t *testing.T) {
	rnd := testrand.New("flag")
	e := newTestElection(t, rnd, 4)
	ctx := FlagProofContext(e.p.Context, [32]byte{1})
	for f := uint64(0); f <= 1; f++ {
		c, p, err := EncryptFlag(e.p.PublicKey, ctx, f, rnd)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyFlag(e.p.PublicKey, ctx, c, p); err != nil {
			t.Fatalf("flag %d: %v", f, err)
		}
		if err := VerifyFlag(e.p.PublicKey, FlagProofContext(e.p.Context, [32]byte{2}), c, p); !errors.Is(err, ErrFlag) {
			t.Fatalf("moved flag proof: %v", err)
		}
	}
	if _, _, err := EncryptFlag(e.p.PublicKey, ctx, 2, rnd); !errors.Is(err, ErrParams) {
		t.Fatalf("flag 2: %v", err)
	}
}

// TestIdentifierIsPlaintextAware: the credential's proof of knowledge of s
// holds for an identifier its maker encrypted, fails for a re-randomised
// copy of another ciphertext (a ballot box and identity service that put a
// voter's vote ciphertext in a padding credential, to compare its tag with
// tags of known values, cannot prove it), and fails under another
// credential's context; the device's opening check accepts its own
// identifier and refuses another voter's.
func TestIdentifierIsPlaintextAware(t *testing.T) {
	rnd := testrand.New("pok")
	e := newTestElection(t, rnd, 4)
	ctx := IDProofContext(e.p.Context, [32]byte{1})
	v := VoterID(e.p.ElectionID, pseudonym(0))
	c, s, p, err := EncryptID(e.p.PublicKey, ctx, v, rnd)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyID(ctx, c, p); err != nil {
		t.Fatal(err)
	}
	if err := VerifyID(IDProofContext(e.p.Context, [32]byte{2}), c, p); !errors.Is(err, ErrIDKnowledge) {
		t.Fatalf("moved proof: %v", err)
	}
	if !OpensTo(e.p.PublicKey, c, s, v) || OpensTo(e.p.PublicKey, c, s, VoterID(e.p.ElectionID, pseudonym(1))) {
		t.Fatal("opening check")
	}
	// A victim's vote ciphertext, re-randomised with s2: the attacker knows
	// s2 but not the victim's randomness, so its proof is for the wrong
	// exponent.
	vote := encrypt(t, e.p.PublicKey, 2, rnd)
	s2 := new(group.Scalar)
	if _, err := s2.SetRandom(rnd); err != nil {
		t.Fatal(err)
	}
	copyCt := e.p.PublicKey.ReEncrypt(vote, s2)
	forged, err := zkp.ProveSchnorr(ctx, group.NewGeneratorElement(), &copyCt.A, s2, nil, rnd)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyID(ctx, copyCt, forged); !errors.Is(err, ErrIDKnowledge) {
		t.Fatalf("re-randomised copy: got %v, want %v", err, ErrIDKnowledge)
	}
}
