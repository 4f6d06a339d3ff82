package verify

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/internal/testrand"
	"evote/internal/wire"
	"evote/tally"
)

// Issue 14 ("the record is the contract"): records a second verifier,
// written from the spec alone, must refuse and evote-verify accepted.
// Each is an insider's record, re-signed with the authors' and the log's
// keys.

// legacyShareEntry encodes a decryption entry whose share is in the format
// before issue 14: the batched proof followed by per-ciphertext proofs,
// here the batched proof repeated (garbage nobody checked).
func legacyShareEntry(d *tally.DecryptionEntry) []byte {
	s := d.Share
	sw := wire.NewWriter(1024)
	sw.U8(9)
	sw.Fixed(s.Context[:])
	sw.U16(uint16(s.Trustee))
	sw.U32(uint32(len(s.D)))
	for _, x := range s.D {
		sw.Element(x)
	}
	sw.U8(1)
	sw.Fixed(s.Proof.Bytes())
	sw.U32(uint32(len(s.D)))
	for range s.D {
		sw.Fixed(s.Proof.Bytes())
	}
	w := wire.NewWriter(1024)
	w.U8(1)
	w.String(d.ElectionID)
	w.String(d.ContestID)
	w.U8(d.Kind)
	w.Fixed(d.Target[:])
	w.VarBytes(sw.Bytes())
	return w.Bytes()
}

func issue14Tamperings() []tampering {
	in := func(name string, want Check, build func(*testing.T, *fixture, [][]byte) [][]byte) tampering {
		return tampering{name: name, want: want, build: build, resign: true}
	}
	return []tampering{
		// Case 1: signed bytes nobody checks. The format has one proof
		// per share, the batched one; anything after it is refused.
		// Case 2: a record's checkpoint carries the log's signature lines
		// and the manifest's witnesses' cosignatures, nothing else, and one
		// line per key.
		{name: "checkpoint also cosigned by a witness outside the manifest", want: CheckCheckpointSig, note: func(t *testing.T, f *fixture, note []byte) []byte {
			k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
			w := bulletin.CosignerKey{Name: "witness.example/stranger", Public: pubOf(k)}
			n, err := bulletin.ParseNote(note)
			if err != nil {
				t.Fatal(err)
			}
			cs, err := bulletin.Cosign(n.Body, w, bulletin.NewEd25519Signer(k), time.Unix(fixtureNow+3600, 0))
			if err != nil {
				t.Fatal(err)
			}
			n.Sigs = append(n.Sigs, cs)
			return n.Bytes()
		}},
		{name: "checkpoint with a witness's cosignature line twice, the second corrupted", want: CheckCheckpointSig, note: func(t *testing.T, f *fixture, note []byte) []byte {
			n, err := bulletin.ParseNote(note)
			if err != nil {
				t.Fatal(err)
			}
			dup := n.Sigs[len(n.Sigs)-1]
			dup.Sig = append([]byte{}, dup.Sig...)
			dup.Sig[30] ^= 1
			n.Sigs = append(n.Sigs, dup)
			return n.Bytes()
		}},
		{name: "checkpoint with the log's signature line twice", want: CheckCheckpointSig, note: func(t *testing.T, f *fixture, note []byte) []byte {
			n, err := bulletin.ParseNote(note)
			if err != nil {
				t.Fatal(err)
			}
			n.Sigs = append(n.Sigs, n.Sigs[0])
			return n.Bytes()
		}},
		// Case 3: a checkpoint's time is the log's clock; one dated 0, or
		// before the opening its tree contains, is not this log's.
		{name: "record checkpoint dated 0", want: CheckConsistency, note: func(t *testing.T, f *fixture, _ []byte) []byte {
			return f.checkpointAt(t, f.encoded(), 0)
		}},
		{name: "record checkpoint dated before the election opened", want: CheckConsistency, note: func(t *testing.T, f *fixture, _ []byte) []byte {
			return f.checkpointAt(t, f.encoded(), fixtureNow-1)
		}},
		{name: "earlier checkpoint dated before the opening it covers", want: CheckConsistency, earlier: func(t *testing.T, f *fixture) [][]byte {
			es := f.encoded()
			return [][]byte{f.checkpointAt(t, es[:f.find(t, bulletin.TypeOpen, 0)+1], fixtureNow-3600)}
		}},
		in("decryption share carrying per-ciphertext proofs nobody checks", CheckDecryption, edit(bulletin.TypeDecryptionShare, 1, func(t *testing.T, f *fixture, e *bulletin.Entry) {
			d, err := tally.DecodeDecryptionEntry(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			e.Payload = legacyShareEntry(d)
		})),
	}
}

// checkpointAt signs a cosigned checkpoint over entries dated at Unix time
// at.
func (f *fixture) checkpointAt(t *testing.T, entries [][]byte, at int64) []byte {
	t.Helper()
	note, err := f.e.Keys.SignCheckpoint(f.e.Cfg.ElectionID, entries, time.Unix(at, 0))
	if err != nil {
		t.Fatal(err)
	}
	return note
}

// TestCheckpointTimes: checkpoints of the setup, before the opening, may
// carry earlier times; the record verifies with them.
func TestCheckpointTimes(t *testing.T) {
	f := shared(t)
	es := f.encoded()
	open := f.find(t, bulletin.TypeOpen, 0)
	opt := f.options()
	opt.Earlier = [][]byte{f.checkpointAt(t, es[:open], fixtureNow-86400), f.checkpointAt(t, es[:open+1], fixtureNow)}
	if rep := Verify(f.record(t), opt); !rep.OK {
		t.Fatalf("honest checkpoints refused: %v", rep.Failures)
	}
	opt.Earlier = [][]byte{f.checkpointAt(t, es[:open], 0)}
	if rep := Verify(f.record(t), opt); rep.OK || !rep.Failed(CheckConsistency) {
		t.Fatalf("earlier checkpoint dated 0 accepted: %v", rep.Failures)
	}
}

// TestSuppressedShareNoted (issue 14, case 4): one trustee's decryption
// share of one contest is missing from the record (the trustee withheld
// it, or the board dropped it) while the result still recombines from the
// others'. No rule is broken, so the record verifies, but the report notes
// which trustee has no share of which contest (§11.5).
func TestSuppressedShareNoted(t *testing.T) {
	f := shared(t)
	// The simulated trustees 1 and 2 decrypt; trustee 3 takes no part.
	rep := Verify(f.record(t), f.options())
	if !rep.OK || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0].Note, "trustee 3 has no decryption share of any contest") {
		t.Fatalf("honest record: ok %v, notes %v", rep.OK, rep.Notes)
	}
	// Trustee 3 posts valid shares of every decrypted contest but one.
	s := f.e.State
	var shares [][]byte
	var skipped string
	for _, c := range s.Tally {
		if c.Withheld {
			continue
		}
		if skipped == "" {
			skipped = c.Contest.ID
			continue
		}
		share, err := f.e.Keys.Shares[2].DecryptShares(s.Context.ExtendedHash, c.Current(), testrand.New("third trustee"))
		if err != nil {
			t.Fatal(err)
		}
		kind := tally.TargetMixed
		if c.Contest.Kind == ballot.MultiSelect {
			kind = tally.TargetSums
		}
		d := &tally.DecryptionEntry{ElectionID: s.Manifest.ElectionID, ContestID: c.Contest.ID, Kind: kind, Target: tally.TargetDigest(c.Current()), Share: share}
		shares = append(shares, f.sign(t, bulletin.TypeDecryptionShare, pubOf(f.e.Keys.Trustees[2]), d.Encode()))
	}
	if len(shares) == 0 {
		t.Fatal("only one decrypted contest")
	}
	es := insert(f.encoded(), f.find(t, bulletin.TypeResult, 0), shares...)
	rep = Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, f.options())
	if !rep.OK {
		t.Fatalf("record with a share missing fails: %v", rep.Failures)
	}
	if len(rep.Notes) != 1 || rep.Notes[0].Check != CheckDecryption || !strings.Contains(rep.Notes[0].Note, "trustee 3 has no decryption share of contest "+skipped+",") {
		t.Fatalf("notes %v, want one naming trustee 3 and contest %s", rep.Notes, skipped)
	}
}

// TestReservedTypesRefused: an entry of a reserved type (spec §7.2.3)
// decodes but no rule accepts it: the verifier reports protocol, wherever
// in the election it is posted and whoever signs it. Every other
// registered type has its own check.
func TestReservedTypesRefused(t *testing.T) {
	f := shared(t)
	var reserved int
	for _, typ := range bulletin.Types() {
		if !typ.Reserved() {
			if checkOf(typ) == CheckProtocol {
				t.Errorf("%s: accepted by the rules but checked as protocol", typ)
			}
			continue
		}
		reserved++
		for _, at := range []bulletin.Type{bulletin.TypeOpen, bulletin.TypeResult} {
			// (Before open, the entry also shifts the ballots' positions,
			// so the cleansing fails after it.)
			i := f.find(t, at, 0)
			es := insert(f.encoded(), i, f.sign(t, typ, f.e.State.Authority, []byte{1}))
			rep := Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, f.options())
			if first, _ := rep.First(); rep.OK || first.Check != CheckProtocol || first.Entry != int64(i) || at == bulletin.TypeResult && rep.FailureCount != 1 {
				t.Errorf("%s before %s: failures %v, want protocol at entry %d", typ, at, rep.Failures, i)
			}
		}
	}
	if reserved != 6 {
		t.Errorf("%d reserved types, the spec lists 6", reserved)
	}
}

// TestEachEntryReportedOnce (spec §11.5): an entry that breaks several
// rules is reported once, under the first of them in the order §11.4
// lists them for its stage, and the check named is the rule the reason
// states.
func TestEachEntryReportedOnce(t *testing.T) {
	f := shared(t)
	at := func(rep *Report, i int) []Failure {
		var out []Failure
		for _, fl := range rep.Failures {
			if fl.Entry == int64(i) {
				out = append(out, fl)
			}
		}
		return out
	}
	// A copy of an entry whose signature is bad: the copy is a
	// duplicate, and only that.
	es := f.encoded()
	i := f.find(t, bulletin.TypeBallot, 2)
	bad := append([]byte{}, es[i]...)
	bad[len(bad)-40] ^= 1
	es[i] = bad
	es = append(es, bad)
	rep := Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, f.options())
	if got := at(rep, i); len(got) != 1 || got[0].Check != CheckEntrySignature {
		t.Errorf("entry with a bad signature: %v", got)
	}
	if got := at(rep, len(es)-1); len(got) != 1 || got[0].Check != CheckEntryDuplicate {
		t.Errorf("its copy: %v", got)
	}
	// A ballot of another election whose author is not its credential key:
	// the author is checked first (§11.4.3), and the check says so.
	v := f.voter(t, 0)
	p := f.ballotFor(t, v.Style, pubOf(v.Device), 1, testrand.New("twice wrong"))
	p.Ballot.ElectionID = "kg-2027-other"
	es = insert(f.encoded(), f.find(t, bulletin.TypeClose, 0), f.sign(t, bulletin.TypeBallot, pubOf(f.voter(t, 1).Device), p.Ballot.Encode()))
	j := f.find(t, bulletin.TypeClose, 0)
	rep = Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, f.options())
	if got := at(rep, j); len(got) != 1 || got[0].Check != CheckBallotCred || !strings.Contains(got[0].Reason, "author") {
		t.Errorf("ballot of another election by another author: %v", got)
	}
}

// TestCopyBeforePolicy: under the one-ballot policy, a voter's second
// ballot that also copies a ciphertext of the first breaks rule 5 (copies)
// and rule 6 (policy); the rules refuse it for the copy, which comes first
// (§9.5), and the verifier names ballot.unique, not ballot.policy.
func TestCopyBeforePolicy(t *testing.T) {
	f := newFixture(t, "kg-2027-copy", 5, ballot.SingleBallot)
	v := f.voter(t, 0)
	var first *ballot.EncryptedBallot
	for _, e := range f.entries {
		if e.Type == bulletin.TypeBallot && e.Author == pubOf(v.Device) {
			b, err := ballot.DecodeBallot(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			first = b
		}
	}
	if first == nil {
		t.Fatal("the voter has no ballot")
	}
	p := f.ballotFor(t, v.Style, pubOf(v.Device), 2, testrand.New("second"))
	p.Ballot.Contests[0] = first.Contests[0]
	i := f.find(t, bulletin.TypeClose, 0)
	es := insert(f.encoded(), i, f.sign(t, bulletin.TypeBallot, pubOf(v.Device), p.Ballot.Encode()))
	rep := Verify(&Record{Checkpoint: f.checkpoint(t, es), Entries: es}, f.options())
	first2, _ := rep.First()
	if first2.Entry != int64(i) || first2.Check != CheckBallotUnique || !strings.Contains(first2.Reason, "repeats") {
		t.Fatalf("first failure %v, want ballot.unique at entry %d", first2, i)
	}
}
