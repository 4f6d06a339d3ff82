package election_test

import (
	"errors"
	"testing"

	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
	"evote/tally/revote"
)

func revoteConfig(seed string) sim.Config {
	return sim.Config{ElectionID: "kg-2027-revote", Trustees: 3, Threshold: 2, Voters: 9, RevoteEvery: 3, InPersonEvery: 4,
		SlotRows: 8, MaxBallots: 4, Rand: testrand.New(seed), Now: 1798800000}
}

// TestRevoteRulesRefuse: the rules of chapter 15 refuse, each with its
// named error, the violations of §15.12 that the board's entries can show
// (the filter's own tamperings are also refused by revote.Verify, tested in
// tally/revote; here they reach the rules through the entries).
func TestRevoteRulesRefuse(t *testing.T) {
	for _, c := range []struct {
		name string
		h    sim.RevoteHooks
		want error
	}{
		{"a slot with B_st − 1 rows", sim.RevoteHooks{Slot: func(s *revote.Slot) *revote.Slot {
			if s.Slot == 1 {
				s.Rows = s.Rows[1:]
			}
			return s
		}}, election.ErrSlotRows},
		{"a row twice (one credential, two rows)", sim.RevoteHooks{Slot: func(s *revote.Slot) *revote.Slot {
			if s.Slot == 1 {
				s.Rows[1] = s.Rows[0]
			}
			return s
		}}, election.ErrRow},
		{"a padding row with a hidden flag", sim.RevoteHooks{Padding: func(p *revote.Padding) *revote.Padding {
			r := *p.Rows[0]
			r.Flag = p.Rows[0].Cred.ID // any ciphertext but (1, g^2)
			p.Rows[0] = &r
			return p
		}}, election.ErrPaddingFlag},
		{"a last ballot dropped", sim.RevoteHooks{Filter: func(f *revote.Filter) *revote.Filter {
			f.Kept = f.Kept[1:]
			return f
		}}, revote.ErrDroppedBallot},
		{"a superseded ballot kept", sim.RevoteHooks{Filter: func(f *revote.Filter) *revote.Filter {
			for i := uint32(0); ; i++ {
				if i >= uint32(len(f.Kept)) || f.Kept[i] != i {
					f.Kept = append(append(append([]uint32{}, f.Kept[:i]...), i), f.Kept[i:]...)
					return f
				}
			}
		}}, revote.ErrKeptSuperseded},
		{"a slot out of its style's order", sim.RevoteHooks{Slot: func(s *revote.Slot) *revote.Slot {
			if s.Slot == 2 {
				s.Slot = 3
			}
			return s
		}}, election.ErrRevoteOrder},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := sim.RunRevote(revoteConfig("revote-refuse"), c.h)
			if !errors.Is(err, c.want) || !errors.Is(err, election.ErrRefused) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// TestRevoteForgedBlindingSkipped: a blinding step whose proof does not
// verify (a forged equality proof) is the trustee's fault: it stays on the
// board, named as a culprit, and the filter goes on with the next
// trustees' steps (§15.13 step 5); the result is still what the voters
// meant.
func TestRevoteForgedBlindingSkipped(t *testing.T) {
	h := sim.RevoteHooks{Blind: func(b *revote.BlindEntry) *revote.BlindEntry {
		if b.Step.Trustee == 1 {
			idx := make([]uint32, b.Step.Out.Len())
			for i := range idx {
				idx[i] = uint32(i)
			}
			idx[0], idx[1] = 1, 0
			out, err := b.Step.Out.Sub(idx, 0, 1)
			if err != nil {
				panic(err)
			}
			b.Step.Out = out
		}
		return b
	}}
	e, err := sim.RunRevote(revoteConfig("revote-blind"), h)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range e.State.Culprits {
		found = found || c.Trustee == 1 && errors.Is(c.Err, revote.ErrBlindProof)
	}
	if !found {
		t.Fatalf("culprits %v", e.State.Culprits)
	}
	if !e.State.Result.Equal(e.Expected()) {
		t.Fatal("result differs from what the voters meant")
	}
}

// TestComputeRevoteFilter: the authority's filter entry is due only once t
// valid decryption shares of the style's tags are on the board and its
// filter entry is not (spec §15.5 step 5): before the filter and after
// every style's, ErrFilterNotReady; in between, the entry the simulation
// posts (Filter uses it) and the rules accept.
func TestComputeRevoteFilter(t *testing.T) {
	cfg := revoteConfig("compute-revote-filter")
	cfg.Coercion = true
	e, err := sim.Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.State.ComputeRevoteFilter(); !errors.Is(err, election.ErrFilterNotReady) {
		t.Fatalf("before the close: %v", err)
	}
	if err := e.VoteRevote(sim.RevoteHooks{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.State.ComputeRevoteFilter(); !errors.Is(err, election.ErrFilterNotReady) {
		t.Fatalf("before the tags' decryption: %v", err)
	}
	filters := 0
	if err := e.Filter(sim.RevoteHooks{Filter: func(f *revote.Filter) *revote.Filter { filters++; return f }}); err != nil {
		t.Fatal(err)
	}
	if want := len(e.State.Manifest.BallotStyles); filters != want {
		t.Fatalf("%d filter entries for %d styles", filters, want)
	}
	if _, err := e.State.ComputeRevoteFilter(); !errors.Is(err, election.ErrFilterNotReady) {
		t.Fatalf("after every style's filter: %v", err)
	}
}
