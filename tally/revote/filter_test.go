package revote

import (
	"errors"
	mrand "math/rand/v2"
	"slices"
	"testing"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/zkp"
	"evote/internal/testrand"
)

// honest builds an election, a board of n rows (voters, extra re-votes,
// in-person marks, dummies by the padding rule), runs the filter and
// returns everything.
func honest(t testing.TB, seed string, n, voters, extra, inPerson int) (*testElection, *scenario, []Row, *Record) {
	t.Helper()
	rnd := testrand.New(seed)
	e := newTestElection(t, rnd, 4)
	s, err := newScenario(mrand.New(mrand.NewPCG(uint64(n), uint64(voters))), n, voters, extra, inPerson, 4)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.rows(t, s, rnd)
	return e, s, rows, e.run(t, rows, rnd)
}

// TestHonestFilter: the verifier accepts an honest filter, which keeps
// exactly the last row of every real voter (the in-person mark for those
// who voted in person, with flag 0) and one row per dummy voter, and whose
// roll call gives the turnout.
func TestHonestFilter(t *testing.T) {
	e, s, rows, rec := honest(t, "honest", 40, 12, 5, 2)
	res, err := Verify(e.p, rows, rec)
	if err != nil {
		t.Fatal(err)
	}
	g := DummyGroups(s.board, 12, e.p.MaxDepth)
	if res.Kept.Len() != 12+g {
		t.Fatalf("kept %d rows, want %d voters + %d dummy voters", res.Kept.Len(), 12, g)
	}
	// What was kept, decrypted with the test's joint secret: per real voter
	// the flag and vote of its last row.
	byID := map[[32]byte]int{}
	for v := 0; v < 12; v++ {
		byID[[32]byte(VoterID(e.p.ElectionID, pseudonym(v)).Bytes())] = v
	}
	g1 := group.NewGeneratorElement()
	found := 0
	flags := keptFlags(t, e, res)
	for i := 0; i < res.Kept.Len(); i++ {
		id, _ := res.Kept.Ciphertext(i, 0)
		flag, _ := res.Kept.Ciphertext(i, 1)
		vote, _ := res.Kept.Ciphertext(i, 2)
		v, ok := byID[[32]byte(e.decrypt(id).Bytes())]
		if !ok {
			if e.decrypt(flag).IsIdentity() != 1 {
				t.Fatalf("a dummy voter's kept row has flag 1")
			}
			continue
		}
		found++
		want := s.want[v]
		wantFlag := boolInt(!want.inPerson)
		if got := e.decrypt(flag); (got.Equal(g1) == 1) != (wantFlag == 1) {
			t.Fatalf("voter %d: kept flag differs from the last row's", v)
		}
		wantVote := new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(want.vote))
		if e.decrypt(vote).Equal(wantVote) != 1 {
			t.Fatalf("voter %d: kept a ballot other than the last", v)
		}
	}
	if found != 12 {
		t.Fatalf("%d real voters kept, want 12", found)
	}
	if n, err := CheckFlags(flags, 2, 12); err != nil || n != 10 {
		t.Fatalf("flags: %d online ballots, %v", n, err)
	}
	rc := e.rollCall(t, res, testrand.New("roll"))
	if _, r, err := VerifyRollCall(e.p, res.Kept, s.board, rc); err != nil || r != 12 {
		t.Fatalf("roll call: %d voters, %v", r, err)
	}
}

// TestDroppedLastBallot: a record whose kept list omits a row the rule keeps
// is refused.
func TestDroppedLastBallot(t *testing.T) {
	e, _, rows, rec := honest(t, "dropped", 30, 10, 4, 0)
	rec.Kept = slices.Delete(slices.Clone(rec.Kept), 3, 4)
	if _, err := Verify(e.p, rows, rec); !errors.Is(err, ErrDroppedBallot) {
		t.Fatalf("got %v, want %v", err, ErrDroppedBallot)
	}
}

// TestKeptSuperseded: a record that keeps a superseded row is refused.
func TestKeptSuperseded(t *testing.T) {
	e, _, rows, rec := honest(t, "kept", 30, 10, 4, 0)
	var extra uint32
	for i := uint32(0); ; i++ {
		if _, ok := slices.BinarySearch(rec.Kept, i); !ok {
			extra = i
			break
		}
	}
	rec.Kept = append(slices.Clone(rec.Kept), extra)
	slices.Sort(rec.Kept)
	if _, err := Verify(e.p, rows, rec); !errors.Is(err, ErrKeptSuperseded) {
		t.Fatalf("got %v, want %v", err, ErrKeptSuperseded)
	}
}

// forgedBlind is a trustee's blinding step in which one ciphertext is
// raised to another exponent (so that a superseded row's successor tag
// would no longer match and the row would be kept), with a proof computed
// over the tampered outputs.
func forgedBlind(t *testing.T, k *TagKey, ext [32]byte, in *shuffle.Rows, pos int) *BlindStep {
	t.Helper()
	rnd := testrand.New("forge")
	step, err := k.Blind(ext, in, rnd)
	if err != nil {
		t.Fatal(err)
	}
	other := new(group.Scalar).Add(&k.z, new(group.Scalar).SetUint64(1))
	step.Out = in.Map(func(l int, c *elgamal.Ciphertext) {
		z := &k.z
		if l == pos {
			z = other
		}
		c.A.ScalarMult(z, &c.A)
		c.B.ScalarMult(z, &c.B)
	})
	// The prover's best attempt: the true DLEQ statement would need
	// Y* = X*^z, which the tampered outputs no longer give; prove with z.
	prefix := blindSeed(ext, k.Trustee, &k.pub, in, step.Out)
	sums := combineLists([][]byte{prefix, prefix}, []*shuffle.Rows{in, step.Out})
	st := &zkp.DLEQStatement{G1: group.NewGeneratorElement(), X1: &k.pub, G2: sums[0], X2: sums[1]}
	p, err := zkp.ProveDLEQ(blindContext(ext, k.Trustee, in.Len()), st, &k.z, nil, rnd)
	if err != nil {
		t.Fatal(err)
	}
	step.Proof = p
	return step
}

// TestForgedEqualityProof: a blinding step whose batched equality proof
// does not hold for every ciphertext is refused, whether it keeps the
// honest proof or makes one over the tampered outputs; and so is a step
// moved to another trustee.
func TestForgedEqualityProof(t *testing.T) {
	e, _, rows, rec := honest(t, "forged", 30, 10, 4, 0)
	list, err := TagList(rec.XMixes[1].Output, rec.YMixes[1].Output)
	if err != nil {
		t.Fatal(err)
	}
	// Honest proof, one output replaced.
	bad := *rec.Blinds[0]
	bad.Out = replaceRow(t, bad.Out, 2, 3)
	tampered := *rec
	tampered.Blinds = []*BlindStep{&bad, rec.Blinds[1]}
	if _, err := Verify(e.p, rows, &tampered); !errors.Is(err, ErrBlindProof) {
		t.Fatalf("replaced output: got %v, want %v", err, ErrBlindProof)
	}
	// A proof made over tampered outputs.
	tampered.Blinds = []*BlindStep{forgedBlind(t, e.tagKeys[0], e.p.Context, list, 1), rec.Blinds[1]}
	if _, err := Verify(e.p, rows, &tampered); !errors.Is(err, ErrBlindProof) {
		t.Fatalf("forged proof: got %v, want %v", err, ErrBlindProof)
	}
	// Trustee 1's step claimed by trustee 3.
	moved := *rec.Blinds[0]
	moved.Trustee = 3
	tampered.Blinds = []*BlindStep{&moved, rec.Blinds[1]}
	if _, err := Verify(e.p, rows, &tampered); !errors.Is(err, ErrBlindProof) {
		t.Fatalf("moved step: got %v, want %v", err, ErrBlindProof)
	}
	// One blinder only (fewer than t).
	tampered.Blinds = rec.Blinds[:1]
	if _, err := Verify(e.p, rows, &tampered); !errors.Is(err, ErrTooFewBlinders) && !errors.Is(err, ErrDecryption) {
		t.Fatalf("one blinder: got %v", err)
	}
}

// TestForgedDecryptionShare: a decryption share of the tags whose values
// are wrong is discarded; with fewer than t valid shares left the filter
// is refused.
func TestForgedDecryptionShare(t *testing.T) {
	e, _, rows, rec := honest(t, "share", 30, 10, 4, 0)
	tampered := *rec
	tampered.Shares = [][]byte{forgedShare(t, rec.Shares[0]), rec.Shares[1]}
	if _, err := Verify(e.p, rows, &tampered); !errors.Is(err, ErrDecryption) {
		t.Fatalf("got %v, want %v", err, ErrDecryption)
	}
}

// keptFlags decrypts the kept rows' flags with the test's joint secret (the
// tally does it after its mix, chapter 6 and 5).
func keptFlags(t *testing.T, e *testElection, res *Result) []uint64 {
	t.Helper()
	var out []uint64
	for i := 0; i < res.Kept.Len(); i++ {
		c, err := res.Kept.Ciphertext(i, 1)
		if err != nil {
			t.Fatal(err)
		}
		m := e.decrypt(c)
		f := uint64(0)
		for ; f <= 3; f++ {
			if m.Equal(new(group.Element).ScalarBaseMult(new(group.Scalar).SetUint64(f))) == 1 {
				break
			}
		}
		out = append(out, f)
	}
	return out
}

// TestFlagsAtMostTheVoters: the f = 1 rows plus the marks may not exceed
// the roll call's voters (a dummy row counted as a ballot), and may fall
// short of them (a voter's own device flagged its row f = 0: no vote, and
// no halt of the tally).
func TestFlagsAtMostTheVoters(t *testing.T) {
	flags := []uint64{FlagBallot, FlagBallot, FlagNone, FlagNone, FlagBallot}
	if n, err := CheckFlags(flags, 1, 4); err != nil || n != 3 {
		t.Fatalf("balanced: %d, %v", n, err)
	}
	if n, err := CheckFlags(flags, 1, 5); err != nil || n != 3 {
		t.Fatalf("a voter's row flagged 0: %d, %v", n, err)
	}
	if _, err := CheckFlags(flags, 1, 3); !errors.Is(err, ErrFlags) {
		t.Fatalf("a dummy counted as a ballot: %v", err)
	}
	if _, err := CheckFlags(append(flags, 3), 1, 9); !errors.Is(err, ErrFlags) {
		t.Fatalf("a flag of 3: %v", err)
	}
}

// TestPaddingOnTopRefused: a ballot box that ranks a voter's padding row
// above the voter's ballot (dropping the vote) passes the filter, whose
// structure is intact, but the tally's flags show a padding row kept; and
// a box that also counts a dummy row as a ballot to hide the drop is
// caught the same way.
func TestPaddingOnTopRefused(t *testing.T) {
	rnd := testrand.New("padding-top")
	e := newTestElection(t, rnd, 4)
	s, err := newScenario(mrand.New(mrand.NewPCG(5, 5)), 30, 10, 0, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Voter 0's online row has depth 4, padding 1..3: swap depth 4 and 3.
	for i := range s.casts {
		c := &s.casts[i]
		if !c.dummy && c.voter == 0 {
			switch {
			case !c.padding && c.depth == 4:
				c.depth = 3
			case c.padding && c.depth == 3:
				c.depth = 4
			}
		}
	}
	rows := e.rows(t, s, rnd)
	res, err := Verify(e.p, rows, e.run(t, rows, rnd))
	if err != nil {
		t.Fatalf("the filter's structure holds: %v", err)
	}
	flags := keptFlags(t, e, res)
	if _, err := CheckFlags(flags, 0, 10); !errors.Is(err, ErrFlags) {
		t.Fatalf("padding kept: got %v, want %v", err, ErrFlags)
	}
	// The same with the padding row's flag set to 0 (as if the box could
	// hide it): the counts alone then pass, since a voter's own device may
	// flag its row 0 (TestFlagsAtMostTheVoters); so the padding flag must be
	// public: the padding entry opens it (spec §15.4) and the rules refuse
	// a padding row whose flag is not 2 in clear (election.ErrPaddingFlag).
	for i, f := range flags {
		if f == FlagPadding {
			flags[i] = FlagNone
		}
	}
	if _, err := CheckFlags(flags, 0, 10); err != nil {
		t.Fatalf("a kept row of f = 0: %v", err)
	}
	// Adding a dummy counted as a ballot balances the counts as before the
	// drop: again only the public padding flag catches it.
	for i, f := range flags {
		if f == FlagNone {
			flags[i] = FlagBallot
			break
		}
	}
	if _, err := CheckFlags(flags, 0, 10); err != nil {
		t.Fatalf("the balanced forgery passes the counts (hence public padding flags): %v", err)
	}
}
