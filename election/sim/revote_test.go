package sim

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"evote/ballot"
	"evote/crypto/elgamal"
	"evote/tally"
	"evote/tally/revote"

	"evote/bulletin"
	"evote/election"
	"evote/internal/testrand"
)

func revoteConfig(seed string) Config {
	return Config{ElectionID: "kg-2027-revote", Trustees: 3, Threshold: 2, Voters: 12, RevoteEvery: 3, InPersonEvery: 5, AuditEvery: 4,
		SlotRows: 8, MaxBallots: 4, Rand: testrand.New(seed), Now: 1798800000}
}

// TestRevoteElection runs a whole election in deniable re-voting mode
// (spec chapter 15): slots with dummies, re-votes, in-person marks, the
// close's padding, depths and marks, the filter and roll call of each
// ballot style, and the tally of the kept rows. The result is what the
// voters meant (the last ballot counts, the mark wins), and the record
// replays through the rules from scratch.
func TestRevoteElection(t *testing.T) {
	e, err := RunRevote(revoteConfig("revote-election"), RevoteHooks{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.State.Result.Equal(e.Expected()) {
		t.Fatalf("result %+v, the voters meant %+v", e.State.Result, e.Expected())
	}
	s := election.NewState()
	for i, entry := range e.Entries {
		d, err := bulletin.DecodeEntry(entry.Encode())
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
	if s.Phase != election.PhaseTallied || len(s.Culprits) != 0 {
		t.Fatalf("phase %s, culprits %v", s.Phase, s.Culprits)
	}
	if len(s.Audited) != 3 {
		t.Errorf("%d audited rows on the board, want 3 (spec §15.9)", len(s.Audited))
	}
	for _, f := range s.RevoteStyles() {
		t.Logf("style %s: %d slots of %d rows, %d board rows, %d filter rows, %d voters", f.Style, f.Slots, f.SlotRows, f.Board, f.Rows.Len(), f.Voters)
	}
}

// TestRevoteUnflaggedRow: a voter whose own client (or malware on the
// voter's phone) flags its rows f = 0, which the flag's proof allows,
// cannot halt the tally: the voter's kept row counts as no ballot, and the
// result is the other voters'. Before, the rule required the f = 1 rows to
// equal the roll call's voters less the marks exactly, so one such voter
// made every contest of the style refused (revote.ErrFlags) and the
// election could not be tallied.
func TestRevoteUnflaggedRow(t *testing.T) {
	cfg := revoteConfig("revote-unflagged")
	cfg.Voters = 18 // so that no contest falls below the manifest's minimum anonymity
	e, err := RunRevote(cfg, RevoteHooks{Unflagged: func(i int) bool { return i == 1 || i == 2 }})
	if err != nil {
		t.Fatal(err)
	}
	if !e.State.Result.Equal(e.Expected()) {
		t.Fatalf("result %+v, the voters meant %+v", e.State.Result, e.Expected())
	}
}

// TestTwoBoards is the test of two boards (spec §15.8, §15.13 step 8) on
// the simulated record: the same election twice, once where voter 0
// re-votes (the coerced ballot, then the real one) and once where voter 0
// casts one ballot. What a coercer sees of the board is the same: the
// same entries in the same order, by the same authors, with payloads of
// the same sizes, the same slots of B_st rows, the same padding, kept and
// superseded counts. (The contents differ, being fresh encryptions; and
// the published counts differ by the votes themselves, §15.8.)
func TestTwoBoards(t *testing.T) {
	run := func(ballots int) *Election {
		e, err := RunRevote(revoteConfig("two-boards"), RevoteHooks{Ballots: func(i int) int {
			if i == 0 {
				return ballots
			}
			return 0
		}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	once, twice := run(1), run(2)
	if len(once.Entries) != len(twice.Entries) {
		t.Fatalf("%d entries without the re-vote, %d with it", len(once.Entries), len(twice.Entries))
	}
	for i := range once.Entries {
		a, b := once.Entries[i], twice.Entries[i]
		if a.Type != b.Type || a.Author != b.Author || len(a.Payload) != len(b.Payload) {
			t.Fatalf("entry %d: %s by %x, %d bytes without the re-vote; %s by %x, %d bytes with it", i, a.Type, a.Author[:4], len(a.Payload), b.Type, b.Author[:4], len(b.Payload))
		}
	}
	fa, fb := once.State.RevoteStyles(), twice.State.RevoteStyles()
	for k := range fa {
		x, y := fa[k], fb[k]
		if x.Slots != y.Slots || x.SlotRows != y.SlotRows || x.Board != y.Board || x.Rows.Len() != y.Rows.Len() || x.Kept.Len() != y.Kept.Len() || x.Voters != y.Voters {
			t.Fatalf("style %s: %+v without the re-vote, %+v with it", x.Style, x, y)
		}
	}
}

// TestRevoteBlindingRace: two trustees blind the same tag list at once
// (the second acting out of turn while the first's step is on its way,
// spec §15.13 step 5). The step posted second does not take the current
// list as input: the rules refuse it, so that its trustee recomputes on
// the new list, as for a mix (§15.14.2). Before, the entry bore no input:
// it was accepted, its proof checked against the first step's output, and
// the honest trustee named a culprit with its step skipped.
func TestRevoteBlindingRace(t *testing.T) {
	e := stepRevote(t, revoteConfig("revote-blinding-race"), func(e *Election) error { return e.VoteRevote(RevoteHooks{}) })
	calls := 0
	err := e.Filter(RevoteHooks{Blind: func(b *revote.BlindEntry) *revote.BlindEntry {
		calls++
		if calls != 2 {
			return b
		}
		// Trustee 2's step over the list trustee 1 blinded, not over
		// trustee 1's output.
		rs := e.State.RevoteStyles()[e.State.RevoteCurrent()]
		list, err := revote.TagList(rs.X, rs.Y)
		if err != nil {
			t.Fatal(err)
		}
		step, err := e.Keys.TagKeys[1].Blind(e.State.Context.ExtendedHash, list, testrand.New("race"))
		if err != nil {
			t.Fatal(err)
		}
		return &revote.BlindEntry{Style: b.Style, Input: list.Digest(), Step: step}
	}})
	if !errors.Is(err, election.ErrRefused) || !strings.Contains(err.Error(), "another blinding came first") {
		t.Fatalf("a blinding over the list before the last: %v", err)
	}
	if len(e.State.Culprits) != 0 {
		t.Fatalf("culprits %v", e.State.Culprits)
	}
}

// TestRevoteMultiSelect: a multi-select contest in deniable re-voting mode
// (spec §15.5 step 6) is decrypted in two rounds, the flags of its mixed
// rows (C_f, x_1 … x_K) and then the sums of the rows with f = 1, so that
// no row's pattern of selections is ever opened; the counts are what the
// voters meant. The trustees' shares of anything else are refused: the
// mixed rows themselves (a decryption oracle for every pattern), the sums
// before the flags are open, and a flag share after the t-th.
func TestRevoteMultiSelect(t *testing.T) {
	cfg := revoteConfig("revote-multi-select")
	// The multi-select contest first: the single-choice contest's
	// ciphertext is then column 2 + K of the kept rows.
	cfg.MultiSelectFirst = true
	e := stepRevote(t, cfg,
		func(e *Election) error { return e.VoteRevote(RevoteHooks{}) },
		func(e *Election) error { return e.Filter(RevoteHooks{}) },
		func(e *Election) error { return e.Mix(Hooks{}) },
		func(e *Election) error { return e.Transition(election.PhaseDecrypting) })
	s := e.State
	if c, _ := s.Manifest.Contest(s.Manifest.BallotStyles[0].Contests[0]); c.Kind != ballot.MultiSelect || len(s.Manifest.BallotStyles[0].Contests) < 2 {
		t.Fatalf("style %v does not start with its multi-select contest", s.Manifest.BallotStyles[0].Contests)
	}
	var c *election.ContestTally
	for _, x := range s.Tally {
		if x.Contest.Kind == ballot.MultiSelect {
			c = x
		}
	}
	if c == nil || !c.TwoRound() || !c.Mixed() || !c.FlagsPending() || c.Withheld {
		t.Fatalf("no multi-select contest decrypted in two rounds: %+v", c)
	}
	k := len(c.Contest.Candidates)
	if w := c.CurrentRows().Width(); w != 1+k {
		t.Fatalf("mixed rows of width %d, want 1 + %d", w, k)
	}
	ext := s.Context.ExtendedHash
	shareOf := func(c *election.ContestTally, j int, kind uint8, cts []*elgamal.Ciphertext) error {
		sh, err := e.Keys.Shares[j-1].DecryptShares(ext, cts, testrand.New("share"))
		if err != nil {
			t.Fatal(err)
		}
		d := &tally.DecryptionEntry{ElectionID: s.Manifest.ElectionID, ContestID: c.Contest.ID, Kind: kind, Target: tally.TargetDigest(cts), Share: sh}
		return e.Post(bulletin.TypeDecryptionShare, e.Keys.Trustees[j-1], d.Encode())
	}
	share := func(j int, kind uint8, cts []*elgamal.Ciphertext) error { return shareOf(c, j, kind, cts) }
	mixed, err := c.CurrentRows().Ciphertexts()
	if err != nil {
		t.Fatal(err)
	}
	if err := share(1, tally.TargetMixed, mixed); !errors.Is(err, election.ErrRefused) {
		t.Fatalf("a share of the mixed rows' selections: %v", err)
	}
	if err := share(1, tally.TargetSums, mixed[1:1+k]); !errors.Is(err, election.ErrRefused) {
		t.Fatalf("a share of sums before the flags: %v", err)
	}
	flags := c.Current()
	if len(flags) != c.CurrentRows().Len() || c.TargetKind() != tally.TargetMixed {
		t.Fatalf("the list to decrypt first is %d ciphertexts of kind %d, want the %d flags", len(flags), c.TargetKind(), c.CurrentRows().Len())
	}
	for j := 1; j <= int(s.Manifest.Threshold); j++ {
		if err := share(j, tally.TargetMixed, flags); err != nil {
			t.Fatal(err)
		}
	}
	if c.FlagsPending() || c.FlagsRefused() != nil || len(c.FlagShares) != int(s.Manifest.Threshold) || len(c.Shares) != 0 {
		t.Fatalf("flags pending %v, refused %v, %d flag shares, %d shares", c.FlagsPending(), c.FlagsRefused(), len(c.FlagShares), len(c.Shares))
	}
	if err := share(int(s.Manifest.Threshold)+1, tally.TargetMixed, flags); !errors.Is(err, election.ErrRefused) {
		t.Fatalf("a flag share after the t-th: %v", err)
	}
	if sums := c.Current(); len(sums) != k || c.TargetKind() != tally.TargetSums {
		t.Fatalf("then %d ciphertexts of kind %d, want the %d sums", len(sums), c.TargetKind(), k)
	}
	for j := 1; j <= int(s.Manifest.Threshold); j++ {
		if err := share(j, tally.TargetSums, c.Current()); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range s.Tally {
		if x == c || x.Withheld {
			continue
		}
		for j := 1; j <= int(s.Manifest.Threshold); j++ {
			if err := shareOf(x, j, x.TargetKind(), x.Current()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.Publish(); err != nil {
		t.Fatal(err)
	}
	if !s.Result.Equal(e.Expected()) {
		t.Fatalf("result %+v, the voters meant %+v", s.Result, e.Expected())
	}
	for _, r := range s.Result.Contests {
		if r.ContestID == c.Contest.ID {
			t.Logf("contest %s: %d ballots, counts %v", r.ContestID, r.Ballots, r.Counts)
			if r.Ballots == 0 || slices.Max(r.Counts) == 0 {
				t.Fatal("nothing counted")
			}
		}
	}
}

// TestRevoteCountedDummy: a ballot box that flags a dummy voter's rows
// f = 1 (counting a dummy as a ballot) is caught in every contest: a
// single-choice contest's decrypted (flag, choice) pairs, and a
// multi-select contest's flags, decrypted before any sum, give more rows
// with f = 1 than the roll calls' voters (revote.ErrFlags); the
// multi-select contest's sums are then never made or decrypted, and the
// result is refused.
func TestRevoteCountedDummy(t *testing.T) {
	cfg := revoteConfig("revote-counted-dummy")
	e := stepRevote(t, cfg,
		func(e *Election) error {
			return e.VoteRevote(RevoteHooks{CountedDummies: func(v int) bool { return v == 1 }})
		},
		func(e *Election) error { return e.Filter(RevoteHooks{}) },
		func(e *Election) error { return e.Mix(Hooks{}) },
		func(e *Election) error { return e.Decrypt(Hooks{}) })
	multi := 0
	for _, c := range e.State.Tally {
		if c.TwoRound() {
			multi++
			if !errors.Is(c.FlagsRefused(), revote.ErrFlags) || len(c.Shares) != 0 || c.Current() != nil {
				t.Fatalf("contest %s: flags refused %v, %d sum shares, %d ciphertexts to decrypt", c.Contest.ID, c.FlagsRefused(), len(c.Shares), len(c.Current()))
			}
		}
	}
	if multi == 0 {
		t.Fatal("no multi-select contest")
	}
	if _, err := e.Publish(); !errors.Is(err, revote.ErrFlags) {
		t.Fatalf("the result with a dummy counted: %v", err)
	}
}

// TestRevoteMultiSelectWithheld: withholding is decided on the roll
// calls' voters before decryption (§15.5 step 6), but a voter's own
// device may flag its row 0, so fewer rows may count. A multi-select
// contest's sums over fewer rows with f = 1 than the minimum anonymity
// would be those few voters' patterns of selections: once its flags are
// open it is withheld instead, its sums never made or decrypted, and the
// result gives the rows counted.
func TestRevoteMultiSelectWithheld(t *testing.T) {
	cfg := revoteConfig("revote-multi-withheld")
	e, err := RunRevote(cfg, RevoteHooks{Unflagged: func(i int) bool { return i >= 1 }})
	if err != nil {
		t.Fatal(err)
	}
	s := e.State
	if s.Manifest.MinAnonymity < 2 {
		t.Fatalf("minimum anonymity %d: nothing to withhold", s.Manifest.MinAnonymity)
	}
	var c *election.ContestTally
	for _, x := range s.Tally {
		if x.TwoRound() {
			c = x
		}
	}
	if c == nil || !c.Withheld || len(c.FlagShares) != int(s.Manifest.Threshold) || len(c.Shares) != 0 || c.Current() != nil {
		t.Fatalf("multi-select contest: %+v", c)
	}
	for _, r := range s.Result.Contests {
		if r.ContestID == c.Contest.ID && (!r.Withheld || r.Counts != nil || r.Ballots >= uint64(s.Manifest.MinAnonymity)) {
			t.Fatalf("result %+v, want withheld with the rows counted", r)
		}
	}
	for _, x := range e.Entries {
		if x.Type != bulletin.TypeDecryptionShare {
			continue
		}
		if d, err := tally.DecodeDecryptionEntry(x.Payload); err == nil && d.ContestID == c.Contest.ID && d.Kind == tally.TargetSums {
			t.Fatal("a share of the withheld contest's sums is on the board")
		}
	}
}

// stepRevote sets up an election in deniable re-voting mode and runs the
// steps given, failing the test at the first error.
func stepRevote(t *testing.T, cfg Config, steps ...func(e *Election) error) *Election {
	t.Helper()
	cfg.Coercion = true
	e, err := Setup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range steps {
		if err := step(e); err != nil {
			t.Fatal(err)
		}
	}
	return e
}
