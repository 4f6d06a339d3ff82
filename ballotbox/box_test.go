package ballotbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/election"
	"evote/store"
	"evote/store/sqlite"
	"evote/tally"
)

func openSQLite(t testing.TB, dir string) store.Store {
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newFixture(t testing.TB, o boxtest.Options) *boxtest.Fixture {
	t.Helper()
	ctx := context.Background()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Store == nil {
		o.Store = openSQLite(t, o.Dir)
		t.Cleanup(func() { o.Store.Close() })
	}
	f, err := boxtest.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Registry.Close() })
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

func voter(t testing.TB, f *boxtest.Fixture, pseudonym [32]byte) *boxtest.Voter {
	t.Helper()
	v, err := f.NewVoter(context.Background(), pseudonym, "")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func prepare(t testing.TB, f *boxtest.Fixture, v *boxtest.Voter, i int) ([]byte, *ballot.PreparedBallot) {
	t.Helper()
	raw, p, err := f.Prepare(v, f.Selection(i, v.Style))
	if err != nil {
		t.Fatal(err)
	}
	return raw, p
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func TestCastReceiptAndRetry(t *testing.T) {
	f := newFixture(t, boxtest.Options{Witnesses: 2})
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	raw, p := prepare(t, f, v, 1)
	r, err := f.Box.Cast(ctx, v.Token, raw)
	if err != nil {
		t.Fatal(err)
	}
	if r.Replayed || r.TrackingCode != p.Ballot.TrackingCode() || r.Pseudonym != v.Pseudonym {
		t.Fatalf("receipt %+v", r)
	}
	// The checkpoint verifies under the log key and both witnesses, and
	// the inclusion proof places the entry in it.
	l := f.Box.Log()
	cp, _, err := bulletin.VerifyCheckpoint(r.Checkpoint, l.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	n, err := bulletin.ParseNote(r.Checkpoint)
	if err != nil || len(n.Sigs) != 3 {
		t.Fatalf("note signatures: %v %d", err, len(n.Sigs))
	}
	if err := bulletin.VerifyInclusion(r.Index, cp.Size, bulletin.LeafHash(raw), r.InclusionProof, cp.Root); err != nil {
		t.Fatal(err)
	}
	// An identical retry gets the original receipt.
	r2, err := f.Box.Cast(ctx, v.Token, raw)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Replayed || r2.Index != r.Index || r2.EntryHash != r.EntryHash {
		t.Fatalf("retry receipt %+v", r2)
	}
	if got := f.Box.View().Ballots; got != 1 {
		t.Fatalf("%d ballots", got)
	}
	// The same election cannot be created twice.
	_, err = f.Registry.Create(ctx, f.Box.View().ManifestRaw)
	wantErr(t, err, ballotbox.ErrElectionExists)
}

func TestCastRefusals(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	a, b := voter(t, f, [32]byte{}), voter(t, f, [32]byte{})
	rawA, pA := prepare(t, f, a, 1)
	if _, err := f.Box.Cast(ctx, a.Token, rawA); err != nil {
		t.Fatal(err)
	}
	// B submits A's ballot payload under B's own device key: the proofs
	// are bound to A's credential key.
	copied, err := f.SignBallot(b, pA.Ballot.Encode())
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Box.Cast(ctx, b.Token, copied)
	wantErr(t, err, ballotbox.ErrBallotInvalid)
	// A's entry with B's token: wrong device key.
	_, err = f.Box.Cast(ctx, b.Token, rawA)
	wantErr(t, err, ballotbox.ErrWrongDeviceKey)
	// No or forged token.
	_, err = f.Box.Cast(ctx, "", rawA)
	wantErr(t, err, ballotbox.ErrTokenInvalid)
	_, err = f.Box.Cast(ctx, a.Token+"x", rawA)
	wantErr(t, err, ballotbox.ErrTokenInvalid)
	// A re-randomised copy of A's ciphertexts, with A's proofs, under B's
	// credential key and signature: the proofs no longer match.
	var pk *elgamal.PublicKey
	f.Box.WithState(func(s *election.State) { pk = s.PublicKey })
	rr := &ballot.EncryptedBallot{ElectionID: pA.Ballot.ElectionID, Style: pA.Ballot.Style, CredentialKey: b.DeviceKey()}
	for _, cb := range pA.Ballot.Contests {
		nc := ballot.ContestBallot{Proof: cb.Proof}
		for _, ct := range cb.Ciphertexts {
			nc.Ciphertexts = append(nc.Ciphertexts, pk.ReEncrypt(ct, group.RandomScalar()))
		}
		rr.Contests = append(rr.Contests, nc)
	}
	forged, _ := f.SignBallot(b, rr.Encode())
	_, err = f.Box.Cast(ctx, b.Token, forged)
	wantErr(t, err, ballotbox.ErrBallotInvalid)
	// Garbage entries.
	_, err = f.Box.Cast(ctx, a.Token, []byte{1, 2, 3})
	wantErr(t, err, ballotbox.ErrBadEntry)
	if got := f.Box.View().Ballots; got != 1 {
		t.Fatalf("%d ballots after refusals", got)
	}
}

func TestRevoteInPersonAndAudit(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	a := voter(t, f, [32]byte{})
	raw1, _ := prepare(t, f, a, 1)
	r1, err := f.Box.Cast(ctx, a.Token, raw1)
	if err != nil {
		t.Fatal(err)
	}
	// Re-vote from a second device of the same voter.
	a2 := voter(t, f, a.Pseudonym)
	raw2, _ := prepare(t, f, a2, 2)
	r2, err := f.Box.Cast(ctx, a2.Token, raw2)
	if err != nil {
		t.Fatal(err)
	}
	// Voter c votes online, then in person: the online ballot is cancelled
	// and further casts are refused.
	c := voter(t, f, [32]byte{})
	rawC, _ := prepare(t, f, c, 3)
	rc, err := f.Box.Cast(ctx, c.Token, rawC)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.MarkInPerson(ctx, c); err != nil {
		t.Fatal(err)
	}
	rawC2, _ := prepare(t, f, c, 4)
	_, err = f.Box.Cast(ctx, c.Token, rawC2)
	wantErr(t, err, ballotbox.ErrVotedInPerson)
	// Audit: d prepares a ballot, audits it; the audit is accepted into
	// the pool, served by its tracking code, carries no link to d, and
	// its ciphertexts can never be cast.
	d := voter(t, f, [32]byte{})
	rawD, pD := prepare(t, f, d, 5)
	ar, err := f.Audit(ctx, d, pD)
	if err != nil {
		t.Fatal(err)
	}
	if ar.Published || ar.TrackingCode != pD.Ballot.TrackingCode() || ar.MinBatch != ballotbox.DefaultAuditMinBatch {
		t.Fatalf("audit receipt %+v", ar)
	}
	av, err := f.Box.AuditByCode(ctx, ar.TrackingCode.Shown())
	if err != nil {
		t.Fatal(err)
	}
	ae, _ := bulletin.DecodeEntry(av.Entry)
	if ae.Author != f.Box.AuthorityKey() || ae.Type != bulletin.TypeAuditedBallot || ae.Hash() != ar.EntryHash {
		t.Fatalf("audit entry author/type %x %s", ae.Author, ae.Type)
	}
	for _, k := range [][32]byte{d.DeviceKey(), d.Pseudonym} {
		if containsBytes(ae.Payload, k[:]) {
			t.Fatal("audit entry carries the voter's key or pseudonym")
		}
	}
	_, err = f.Box.Cast(ctx, d.Token, rawD)
	wantErr(t, err, ballotbox.ErrDuplicateCipher)
	// A token may post a bounded number of audits.
	for i := 1; i < ballotbox.MaxAuditsPerToken; i++ {
		_, p := prepare(t, f, d, 10+i)
		if _, err := f.Audit(ctx, d, p); err != nil {
			t.Fatal(err)
		}
	}
	_, pX := prepare(t, f, d, 99)
	_, err = f.Audit(ctx, d, pX)
	wantErr(t, err, ballotbox.ErrTooManyAudits)
	// Casting outside the voting period. The close publishes the pending
	// audits first.
	cl, err := f.Box.Act(ctx, ballotbox.ActionClose, "o")
	if err != nil {
		t.Fatal(err)
	}
	if av, err = f.Box.AuditByCode(ctx, ar.TrackingCode.Shown()); err != nil || !av.Published || av.Index >= cl.Index || f.Box.PendingAudits() != 0 {
		t.Fatalf("after close: audit %+v %v, close at %d, %d pending", av, err, cl.Index, f.Box.PendingAudits())
	}
	rawD2, _ := prepare(t, f, d, 6)
	_, err = f.Box.Cast(ctx, d.Token, rawD2)
	wantErr(t, err, ballotbox.ErrNotOpen)
	// Out-of-order actions.
	_, err = f.Box.Act(ctx, ballotbox.ActionOpen, "o")
	wantErr(t, err, ballotbox.ErrWrongPhase)
	_, err = f.Box.Act(ctx, ballotbox.ActionStartMixing, "o")
	wantErr(t, err, ballotbox.ErrWrongPhase)
	_, err = f.Box.Act(ctx, ballotbox.ActionTally, "o")
	wantErr(t, err, ballotbox.ErrWrongPhase)
	if _, err := f.Box.Act(ctx, ballotbox.ActionCleanse, "o"); err != nil {
		t.Fatal(err)
	}
	var counted, cancelled []uint64
	f.Box.WithState(func(s *election.State) { counted, cancelled = s.Cleansing.Counted, s.Cleansing.Cancelled })
	if len(counted) != 1 || counted[0] != r2.Index {
		t.Fatalf("counted %v, want only the re-vote %d (first was %d)", counted, r2.Index, r1.Index)
	}
	if len(cancelled) != 1 || cancelled[0] != rc.Index {
		t.Fatalf("cancelled %v, want %d", cancelled, rc.Index)
	}
}

func containsBytes(hay, needle []byte) bool {
	for i := 0; i+len(needle) <= len(hay); i++ {
		if string(hay[i:i+len(needle)]) == string(needle) {
			return true
		}
	}
	return false
}

func TestOneBallotPolicy(t *testing.T) {
	f := newFixture(t, boxtest.Options{Revote: ballot.SingleBallot})
	ctx := context.Background()
	a := voter(t, f, [32]byte{})
	raw, _ := prepare(t, f, a, 1)
	if _, err := f.Box.Cast(ctx, a.Token, raw); err != nil {
		t.Fatal(err)
	}
	a2 := voter(t, f, a.Pseudonym)
	raw2, _ := prepare(t, f, a2, 2)
	_, err := f.Box.Cast(ctx, a2.Token, raw2)
	wantErr(t, err, ballotbox.ErrOneBallotOnly)
}

func TestRestartRebuildsState(t *testing.T) {
	dir := t.TempDir()
	st := openSQLite(t, dir)
	defer st.Close()
	cat := &ballotbox.MemoryCatalog{}
	f := newFixture(t, boxtest.Options{Dir: dir, Store: st, Catalog: cat})
	ctx := context.Background()
	var codes []ballot.TrackingCode
	var raws [][]byte
	var voters []*boxtest.Voter
	for i := range 5 {
		v := voter(t, f, [32]byte{})
		raw, p := prepare(t, f, v, i)
		if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
			t.Fatal(err)
		}
		codes, raws, voters = append(codes, p.Ballot.TrackingCode()), append(raws, raw), append(voters, v)
	}
	before := f.Box.View()
	// Drop the registry without closing (as a crash would), then reopen
	// from the store alone.
	r2, err := ballotbox.OpenRegistry(ctx, ballotbox.RegistryConfig{Store: st, Catalog: cat, OriginPrefix: "evote.test/board", LogKey: f.Server.LogKey, Authority: f.Server.Authority, Audience: boxtest.Audience})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	b2, err := r2.Get(f.ElectionID)
	if err != nil {
		t.Fatal(err)
	}
	after := b2.View()
	if after.Size != before.Size || after.Ballots != 5 || after.Phase != election.PhaseOpen {
		t.Fatalf("rebuilt state: size %d/%d ballots %d phase %s", after.Size, before.Size, after.Ballots, after.Phase)
	}
	// The rebuilt box knows the ballots: a retry is recognised, a copy refused.
	r, err := b2.Cast(ctx, voters[0].Token, raws[0])
	if err != nil || !r.Replayed || r.TrackingCode != codes[0] {
		t.Fatalf("retry after restart: %v %+v", err, r)
	}
}

// TestWholeElection runs an election to its result through the box: the
// trustees' mixes and decryption shares are posted as signed entries, one
// mix with a proof that does not verify is posted but marked invalid (its
// trustee named) and the trustee mixes again; the result counts the
// ballots as cast.
func TestWholeElection(t *testing.T) {
	if testing.Short() {
		t.Skip("mixing and decryption take a few seconds")
	}
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	want := map[string][]uint64{}
	for i := range 4 {
		v := voter(t, f, [32]byte{})
		sel := f.Selection(i, v.Style)
		raw, _, err := f.Prepare(v, sel)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Box.Cast(ctx, v.Token, raw); err != nil {
			t.Fatal(err)
		}
		for c, chosen := range sel {
			if want[c] == nil {
				want[c] = make([]uint64, 16)
			}
			for _, k := range chosen {
				want[c][k]++
			}
		}
	}
	corrupted, badShare := false, false
	res, posted, err := f.Tally(ctx, boxtest.Hooks{Mix: func(trustee int, m, other *tally.MixEntry) *tally.MixEntry {
		if trustee == 1 && !corrupted {
			corrupted = true
			m.Proof = other.Proof // a real proof, of another shuffle
		}
		return m
	}, Share: func(trustee int, d *tally.DecryptionEntry) *tally.DecryptionEntry {
		if trustee == 1 && !badShare {
			badShare = true
			d.Share.D[0].Add(d.Share.D[0], d.Share.D[0]) // a wrong share under a proof for the right one
		}
		return d
	}})
	if err != nil {
		t.Fatal(err)
	}
	invalid := map[bulletin.Type]int{}
	for _, p := range posted {
		if !p.Posted.Valid {
			invalid[p.Type]++
			if p.Trustee != 1 || p.Posted.Reason == "" {
				t.Fatalf("unexpected invalid entry %+v", p)
			}
			if r, bad := f.Box.Invalid(p.Posted.Index); !bad || r == "" {
				t.Fatal("invalid mix not recorded")
			}
		}
	}
	if invalid[bulletin.TypeMixOutput] != 1 || invalid[bulletin.TypeDecryptionShare] != 1 {
		t.Fatalf("invalid trustee entries %v, want one mix and one share", invalid)
	}
	if res == nil {
		t.Fatal("no result")
	}
	checked := 0
	for _, cr := range res.Contests {
		if cr.Withheld {
			continue
		}
		checked++
		var m *ballot.Manifest
		f.Box.WithState(func(s *election.State) { m = s.Manifest })
		c, _ := m.Contest(cr.ContestID)
		for k := range c.Candidates {
			got := cr.Counts[k]
			if c.Kind == ballot.SingleChoice {
				got = cr.Counts[k+1] // index 0 counts blanks
			}
			if got != want[cr.ContestID][k] {
				t.Fatalf("contest %s candidate %d: %d votes, want %d (%v)", cr.ContestID, k, got, want[cr.ContestID][k], cr.Counts)
			}
		}
	}
	if checked < 2 {
		t.Fatalf("only %d contests decrypted", checked)
	}
	v := f.Box.View()
	if v.Phase != election.PhaseTallied {
		t.Fatalf("phase %s", v.Phase)
	}
	// The lifecycle: every phase once, in order, each at the entry that
	// moved the election there (the manifest, the context, the official's
	// transitions with their stated times, the result).
	checkLifecycle := func(marks []ballotbox.PhaseMark) {
		t.Helper()
		wantType := []bulletin.Type{bulletin.TypeManifest, bulletin.TypeElectionContext, bulletin.TypeOpen, bulletin.TypeClose,
			bulletin.TypeTransition, bulletin.TypeTransition, bulletin.TypeResult}
		if len(marks) != len(wantType) {
			t.Fatalf("lifecycle %+v", marks)
		}
		for i, m := range marks {
			if m.Phase != election.Phase(i) {
				t.Fatalf("lifecycle %d: phase %s", i, m.Phase)
			}
			recs, err := f.Box.Log().Entries(ctx, m.Index, m.Index+1)
			if err != nil || len(recs) != 1 || bulletin.Type(recs[0].Type) != wantType[i] {
				t.Fatalf("lifecycle %d (%s) at %d: %v %v", i, m.Phase, m.Index, recs, err)
			}
			if (m.At != 0) != (i >= 2 && i <= 5) {
				t.Errorf("lifecycle %d (%s): time %d", i, m.Phase, m.At)
			}
		}
	}
	checkLifecycle(v.Lifecycle)
}

// TestRefusalLimit: a token whose casts keep failing the proofs is stopped
// after MaxRefusalsPerToken refusals, even for a valid ballot, though a
// retry of its ballot already on the board still gets its receipt;
// malformed entries do not count, and other voters are not affected.
func TestRefusalLimit(t *testing.T) {
	f := newFixture(t, boxtest.Options{})
	ctx := context.Background()
	a, b := voter(t, f, [32]byte{}), voter(t, f, [32]byte{})
	rawA1, _ := prepare(t, f, a, 1)
	if _, err := f.Box.Cast(ctx, a.Token, rawA1); err != nil {
		t.Fatal(err)
	}
	rawB, pB := prepare(t, f, b, 1)
	// B's ballot payload signed by A: well formed, proofs bound to B.
	copied, err := f.SignBallot(a, pB.Ballot.Encode())
	if err != nil {
		t.Fatal(err)
	}
	for range ballotbox.MaxRefusalsPerToken {
		_, err := f.Box.Cast(ctx, a.Token, copied)
		wantErr(t, err, ballotbox.ErrBallotInvalid)
	}
	rawA2, _ := prepare(t, f, a, 2)
	_, err = f.Box.Cast(ctx, a.Token, rawA2)
	wantErr(t, err, ballotbox.ErrTooManyRefusals)
	if code := ballotbox.Code(err); code != "too_many_refusals" {
		t.Fatalf("code %s", code)
	}
	if r, err := f.Box.Cast(ctx, a.Token, rawA1); err != nil || !r.Replayed {
		t.Fatalf("retry of a ballot on the board after the limit: %v", err)
	}
	for range ballotbox.MaxRefusalsPerToken {
		f.Box.Cast(ctx, b.Token, []byte("not an entry"))
	}
	if _, err := f.Box.Cast(ctx, b.Token, rawB); err != nil {
		t.Fatalf("after malformed entries, or as another voter: %v", err)
	}
	if got := f.Box.View().Ballots; got != 2 {
		t.Fatalf("%d ballots", got)
	}
}
