package verify

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/election"
	"evote/election/sim"
	"evote/internal/testrand"
	"evote/tally"
	"evote/tally/revote"
)

// The verifier on an election in deniable re-voting mode (spec chapter
// 15, §15.11): the simulated record verifies, its report names the
// chapter's checks, and each tampering of §15.12 that the record can show
// is refused naming its check.

const (
	revoteDir          = "../spec/vectors/record-revote"
	revoteTamperedFile = "../spec/vectors/record-revote-tampered.json"
	revoteEntriesFile  = "../spec/vectors/revote-entries.json"
)

var (
	revoteOnce sync.Once
	revoteFix  *fixture
)

// revoteFixture runs the simulated coercion-mode election once per test
// binary: 12 voters in 3 ballot styles, every third re-voting, every fifth
// voting in person, every fourth auditing a row first, B = 8 (B_st = 3), M = 4, 3 trustees (threshold 2).
func revoteFixture(tb testing.TB) *fixture {
	revoteOnce.Do(func() {
		cfg := sim.Config{ElectionID: "kg-2027-revote", Trustees: 3, Threshold: 2, Voters: 12, RevoteEvery: 3, InPersonEvery: 5, AuditEvery: 4,
			SlotRows: 8, MaxBallots: 4, Rand: testrand.New("verify/kg-2027-revote"), Now: fixtureNow}
		e, err := sim.RunRevote(cfg, sim.RevoteHooks{})
		if err != nil {
			tb.Fatal(err)
		}
		f := &fixture{e: e, keys: map[[32]byte]ed25519.PrivateKey{}, marked: map[[32]byte]bool{}, entries: e.Entries, log: e.Keys.LogKey(cfg.ElectionID)}
		for _, k := range append([]ed25519.PrivateKey{e.Keys.Authority, e.Keys.Identity, e.Keys.Station, e.Keys.Official}, e.Keys.Trustees...) {
			f.keys[pubOf(k)] = k
		}
		revoteFix = f
	})
	if revoteFix == nil {
		tb.Fatal("revote fixture failed")
	}
	return revoteFix
}

// TestRevoteRecordVerifies: the honest record of a coercion-mode election
// verifies; the report names the checks of §15.11, each with items, and
// gives the result the voters meant.
func TestRevoteRecordVerifies(t *testing.T) {
	f := revoteFixture(t)
	rep := Verify(f.record(t), f.options())
	if !rep.OK {
		t.Fatalf("honest coercion-mode record: %v", rep.Failures)
	}
	items := map[Check]uint64{}
	for _, c := range rep.Checks {
		items[c.Check] = c.Items
	}
	for _, c := range []Check{CheckRevoteTagKey, CheckRevoteSlot, CheckRevotePadding, CheckRevoteDepths, CheckRevoteMarks, CheckRevoteRoll,
		CheckRevoteMix, CheckRevoteBlind, CheckRevoteShares, CheckRevoteFilter, CheckMixChain, CheckDecryption, CheckResult} {
		if items[c] == 0 {
			t.Errorf("check %s covered nothing", c)
		}
	}
	// The counts say what the board shows in this mode (its ballots are
	// rows, none a ballot entry): slots, their rows, the voters kept.
	var wc Counts
	for _, rs := range f.e.State.RevoteStyles() {
		wc.RevoteSlots += uint64(rs.Slots)
		wc.RevoteRows += uint64(rs.Board)
		wc.RevoteVoters += uint64(rs.Voters)
	}
	if wc.RevoteSlots == 0 || wc.RevoteVoters == 0 || rep.Counts.RevoteSlots != wc.RevoteSlots || rep.Counts.RevoteRows != wc.RevoteRows || rep.Counts.RevoteVoters != wc.RevoteVoters {
		t.Errorf("report counts %d slots, %d rows, %d voters kept; the board has %d, %d, %d",
			rep.Counts.RevoteSlots, rep.Counts.RevoteRows, rep.Counts.RevoteVoters, wc.RevoteSlots, wc.RevoteRows, wc.RevoteVoters)
	}
	want := f.e.Expected()
	if len(rep.Result) != len(want.Contests) {
		t.Fatalf("%d contests in the report", len(rep.Result))
	}
	for i, c := range want.Contests {
		got := rep.Result[i]
		if got.Ballots != c.Ballots || got.Withheld != c.Withheld || !equalCounts(got.Counts, c.Counts) {
			t.Errorf("contest %s: %+v, the voters meant %+v", c.ContestID, got, c)
		}
	}
}

func equalCounts(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// revoteTamperings are the tamperings of §15.12 on the coercion-mode
// record, each re-signed by the insider who made it.
func revoteTamperings() []tampering {
	in := func(name string, want Check, build func(*testing.T, *fixture, [][]byte) [][]byte) tampering {
		return tampering{name: name, want: want, build: build, resign: true}
	}
	filter := func(mod func(k []uint32) []uint32) func(*testing.T, *fixture, *bulletin.Entry) {
		return func(t *testing.T, f *fixture, e *bulletin.Entry) {
			fl, err := revote.DecodeFilter(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			fl.Kept = mod(fl.Kept)
			e.Payload = fl.Encode()
		}
	}
	return []tampering{
		in("a last ballot dropped by the filter", CheckRevoteFilter, edit(bulletin.TypeRevoteFilter, 0, filter(func(k []uint32) []uint32 { return k[1:] }))),
		in("a superseded ballot kept by the filter", CheckRevoteFilter, edit(bulletin.TypeRevoteFilter, 0, filter(func(k []uint32) []uint32 {
			for i := uint32(0); ; i++ {
				if i >= uint32(len(k)) || k[i] != i {
					return append(append(append([]uint32{}, k[:i]...), i), k[i:]...)
				}
			}
		}))),
		in("an audited row whose flag is opened as 0 (a device that would not count the ballot)", CheckAudit, edit(bulletin.TypeAuditedBallot, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			a, err := ballot.DecodeAuditedBallot(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			last := &a.Contests[len(a.Contests)-1]
			zero, r, err := f.e.State.PublicKey.Encrypt(0, testrand.New("audit-zero"))
			if err != nil {
				t.Fatal(err)
			}
			last.Ciphertexts, last.Plaintexts, last.Randomness = []*elgamal.Ciphertext{zero}, []uint32{0}, []*group.Scalar{r}
			e.Payload = a.Encode()
		})),
		in("a forged equality (blinding) proof", CheckRevoteBlind, edit(bulletin.TypeRevoteBlind, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			b, err := revote.DecodeBlindEntry(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			// Two outputs swapped: the tags of two rows exchanged, which the
			// batched Chaum-Pedersen proof no longer covers.
			idx := make([]uint32, b.Step.Out.Len())
			for i := range idx {
				idx[i] = uint32(i)
			}
			idx[0], idx[1] = 1, 0
			if b.Step.Out, err = b.Step.Out.Sub(idx, 0, 1); err != nil {
				t.Fatal(err)
			}
			e.Payload = b.Encode()
		})),
		in("a forged decryption share of the tags", CheckRevoteShares, edit(bulletin.TypeDecryptionShare, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			d, err := tally.DecodeDecryptionEntry(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if d.ContestID != election.ShareTags {
				t.Fatalf("first share is of %s", d.ContestID)
			}
			// One partial decryption changed: the tag it gives is forged.
			d.Share.D[0] = new(group.Element).Add(d.Share.D[0], group.NewGeneratorElement())
			e.Payload = d.Encode()
		})),
		in("a multi-select contest's share of its mixed rows' selections, not of their flags (spec §15.5 step 6)", CheckDecryption, func(t *testing.T, f *fixture, entries [][]byte) [][]byte {
			// The first share of the multi-select contest: a trustee
			// decrypting every row's pattern of selections instead.
			var c *election.ContestTally
			for _, x := range f.e.State.Tally {
				if x.TwoRound() {
					c = x
				}
			}
			if c == nil {
				t.Fatal("no multi-select contest in the record")
			}
			n := 0
			for _, raw := range entries {
				e, err := bulletin.DecodeEntry(raw)
				if err != nil {
					t.Fatal(err)
				}
				if e.Type != bulletin.TypeDecryptionShare {
					continue
				}
				if d, err := tally.DecodeDecryptionEntry(e.Payload); err == nil && d.ContestID == c.Contest.ID {
					break
				}
				n++
			}
			return editShare(n, func(t *testing.T, f *fixture, d *tally.DecryptionEntry, e *bulletin.Entry) {
				rows, err := c.CurrentRows().Ciphertexts()
				if err != nil {
					t.Fatal(err)
				}
				if d.Share, err = f.e.Keys.Shares[d.Share.Trustee-1].DecryptShares(f.e.State.Context.ExtendedHash, rows, testrand.New("selections")); err != nil {
					t.Fatal(err)
				}
				d.Kind, d.Target = tally.TargetMixed, tally.TargetDigest(rows)
			})(t, f, entries)
		}),
		in("a slot with B_st − 1 rows", CheckRevoteSlot, edit(bulletin.TypeRevoteSlot, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			s, err := revote.DecodeSlot(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			s.Rows = s.Rows[1:]
			e.Payload = s.Encode()
		})),
		in("a padding row with a hidden flag", CheckRevotePadding, edit(bulletin.TypeRevotePadding, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			p, err := revote.DecodePadding(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			r := *p.Rows[0]
			r.Flag = p.Rows[0].Cred.ID // an encryption: the flag is no longer (1, g^2) in clear
			p.Rows[0] = &r
			e.Payload = p.Encode()
		})),
		in("a depth proof moved to another row", CheckRevoteDepths, edit(bulletin.TypeRevoteDepths, 0, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			d, err := revote.DecodeDepths(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			d.Rows[0], d.Rows[1] = d.Rows[1], d.Rows[0]
			e.Payload = d.Encode()
		})),
	}
}

// TestRevoteTampered: every tampering is refused, naming its check first.
func TestRevoteTampered(t *testing.T) {
	f := revoteFixture(t)
	for _, tc := range revoteTamperings() {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.record(t)
			rec.Entries = tc.build(t, f, f.encoded())
			rec.Checkpoint = f.checkpoint(t, rec.Entries)
			rep := Verify(rec, f.options())
			first, ok := rep.First()
			if rep.OK || !ok || first.Check != tc.want {
				t.Fatalf("first failure %v, want %s (%d failures)", first, tc.want, rep.FailureCount)
			}
		})
	}
}

// TestRevoteVectors writes (with -update) and checks the coercion-mode
// example record, its tampered variants and the payload vectors of the
// chapter's entries (spec §15.10).
func TestRevoteVectors(t *testing.T) {
	if *update {
		writeRevoteVectors(t)
	}
	rec, err := Load(revoteDir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(revoteDir, fingerprintFile))
	if err != nil {
		t.Fatal(err)
	}
	fp, err := ballot.ParseFingerprint(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if rep := Verify(rec, Options{Fingerprint: fp}); !rep.OK {
		t.Fatalf("coercion-mode example record fails: %v", rep.Failures)
	}
	raw, err := os.ReadFile(revoteTamperedFile)
	if err != nil {
		t.Fatal(err)
	}
	var tf tamperedFileT
	if err := json.Unmarshal(raw, &tf); err != nil {
		t.Fatal(err)
	}
	if len(tf.Variants) < 6 {
		t.Fatalf("%d variants", len(tf.Variants))
	}
	for _, tv := range tf.Variants {
		t.Run(tv.Name, func(t *testing.T) {
			v, _ := tv.apply(t, rec)
			rep := Verify(v, Options{Fingerprint: fp})
			if first, ok := rep.First(); rep.OK || !ok || first.Check != tv.Check {
				t.Errorf("first failure %v, want %s", first, tv.Check)
			}
		})
	}
}

// A revoteEntryVector is one payload of each chapter 15 entry type, from
// the example record (spec §15.10).
type revoteEntryVector struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Entry   int    `json:"entry"`   // position in record-revote
	Payload string `json:"payload"` // hex; for revote-credential, the first row's credential
}

type revoteEntriesFileT struct {
	Comment string              `json:"comment"`
	Entries []revoteEntryVector `json:"entries"`
}

func writeRevoteVectors(t *testing.T) {
	f := revoteFixture(t)
	honest := f.record(t)
	if err := os.RemoveAll(revoteDir); err != nil {
		t.Fatal(err)
	}
	if err := honest.WriteDir(revoteDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(revoteDir, logKeyFile), []byte(FormatLogKey(f.log.Verifier())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(revoteDir, fingerprintFile), []byte(f.e.State.Manifest.Fingerprint().Hex()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tf := tamperedFileT{
		Comment:  "Tampered variants of record-revote, an election in deniable re-voting mode (spec §15.11, §15.12), in the form of record-tampered.json. Generated by go test ./verify -run TestRevoteVectors -update.",
		Record:   "record-revote",
		Variants: []tamperedVector{},
	}
	for _, tc := range revoteTamperings() {
		rec := f.record(t)
		rec.Entries = tc.build(t, f, f.encoded())
		rec.Checkpoint = f.checkpoint(t, rec.Entries)
		tf.Variants = append(tf.Variants, diff(tc.name, tc.want, honest, rec, nil))
	}
	writeJSON(t, revoteTamperedFile, tf)
	ef := revoteEntriesFileT{Comment: "One payload of each entry type of deniable re-voting (spec §7.2.3, §15), hex, from spec/vectors/record-revote (entry: its position). Decoding and re-encoding gives the same bytes (tally/revote TestEntryVectors). Generated by go test ./verify -run TestRevoteVectors -update."}
	done := map[bulletin.Type]bool{}
	for i, e := range f.entries {
		if !strings.HasPrefix(e.Type.String(), "revote-") || done[e.Type] {
			continue
		}
		done[e.Type] = true
		ef.Entries = append(ef.Entries, revoteEntryVector{Type: e.Type.String(), Code: hexCode(e.Type), Entry: i, Payload: hex.EncodeToString(e.Payload)})
		if e.Type == bulletin.TypeRevoteSlot {
			s, err := revote.DecodeSlot(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			ef.Entries = append(ef.Entries, revoteEntryVector{Type: bulletin.TypeRevoteCredential.String(), Code: hexCode(bulletin.TypeRevoteCredential), Entry: i, Payload: hex.EncodeToString(s.Rows[0].Credential)})
			done[bulletin.TypeRevoteCredential] = true
		}
	}
	writeJSON(t, revoteEntriesFile, ef)
}

func hexCode(t bulletin.Type) string { return "0x" + hex.EncodeToString([]byte{byte(t >> 8), byte(t)}) }

func writeJSON(t *testing.T, path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
