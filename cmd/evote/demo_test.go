package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/election"
	"evote/store/postgres/pgtest"
	"evote/trustee"
	"evote/verify"
)

var testKDF = trustee.KDFParams{Time: 1, Memory: 8 << 10, Threads: 1}

func demoTest(t *testing.T, o demoOptions) *demoResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out strings.Builder
	o.Out, o.Log, o.KDF = &out, io.Discard, &testKDF
	res, err := runDemo(ctx, o)
	if testing.Verbose() || err != nil {
		t.Log("\n" + out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if !recordVerified(res.Report, res.Culprits) || (o.cheater == 0 && !res.Report.OK) {
		t.Fatalf("record does not verify: %v", res.Report.Failures)
	}
	// "evote official tally" printed the same result, by name.
	var printed strings.Builder
	writeResult(&printed, res.Manifest, res.Result)
	if res.TallyOutput == "" || !strings.HasSuffix(res.TallyOutput, printed.String()) {
		t.Fatalf("evote official tally printed\n%s\nwant it to end with\n%s", res.TallyOutput, printed.String())
	}
	for _, c := range res.Result.Contests {
		want := res.Expected[c.ContestID]
		if c.Ballots != res.ExpectedBallots[c.ContestID] {
			t.Fatalf("contest %s: %d ballots counted, %d meant", c.ContestID, c.Ballots, res.ExpectedBallots[c.ContestID])
		}
		if c.Withheld {
			if c.Ballots >= 3 {
				t.Fatalf("contest %s withheld with %d ballots", c.ContestID, c.Ballots)
			}
			continue
		}
		if len(c.Counts) != len(want) {
			t.Fatalf("contest %s: %+v, voters meant %v", c.ContestID, c, want)
		}
		for j := range want {
			if c.Counts[j] != want[j] {
				t.Fatalf("contest %s: counts %v, voters meant %v", c.ContestID, c.Counts, want)
			}
		}
	}
	return res
}

// The acceptance demo on the embedded store, small; the exported record
// verifies again from its directory.
func TestDemoEmbedded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "record")
	res := demoTest(t, demoOptions{Voters: 30, Record: dir})
	rec, err := verify.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Entries) != int(res.Report.Counts.Entries) {
		t.Fatalf("exported %d entries, verified %d", len(rec.Entries), res.Report.Counts.Entries)
	}
	if res.Audits == 0 || res.Revotes == 0 || res.InPerson == 0 {
		t.Fatalf("the demo skipped a behaviour: %+v", res)
	}
}

// The same on PostgreSQL (EVOTE_TEST_PG, default
// postgres://postgres@127.0.0.1:5432/test), in a fresh schema. Under CI an
// unreachable database fails the test.
func TestDemoPostgres(t *testing.T) {
	dsn := pgtest.BaseDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL unreachable at %s under CI: %v", dsn, err)
		}
		t.Skipf("PostgreSQL unreachable at %s: %v", dsn, err)
	}
	conn.Close(ctx)
	demoTest(t, demoOptions{Voters: 30, DB: dsn})
}

// A trustee whose tool posts a bad mix and bad decryption shares over
// HTTP is named on the board, and the honest trustees finish the tally.
func TestDemoCheatingTrustee(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election")
	}
	res := demoTest(t, demoOptions{Voters: 12, cheater: 2, cheat: cheatingTrustee})
	if len(res.Culprits) == 0 {
		t.Fatal("no culprit named")
	}
	mixes, shares := 0, 0
	for _, c := range res.Culprits {
		if c.Trustee != 2 {
			t.Fatalf("honest trustee named: %v", c)
		}
		if strings.Contains(c.Reason, "mix") || strings.Contains(c.Reason, "shuffle") {
			mixes++
		} else {
			shares++
		}
	}
	if mixes == 0 || shares == 0 {
		t.Fatalf("culprits: %v", res.Culprits)
	}
}

// The trustees' steps run through the evote trustee command itself (key
// file, passphrase file, flags), still over HTTP only; trustee 1's keygen
// is stopped after dealing and resumes when run again.
func TestDemoTrusteeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election")
	}
	demoTest(t, demoOptions{Voters: 9, TrusteeCLI: true, CrashKeygen: true})
}

// One voter uses the voter's commands: audits a ballot and checks the
// board's opening "on a second device", then casts and checks the
// receipt against the log key; the ballot counts.
func TestDemoVoterCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election")
	}
	dir := t.TempDir()
	demoTest(t, demoOptions{Voters: 9, ExtraVoter: func(ctx context.Context, v *extraVoter) (ballot.Selection, error) {
		fp := v.Fingerprint.String()
		p := v.Person
		village := strings.TrimPrefix(p.Constituency, "style-")
		vote := func(extra ...string) (string, error) {
			out, err := voteCLI(t, v, extra...)
			_, code, _ := strings.Cut(out, "tracking code: ")
			code, _, _ = strings.Cut(code, "\n")
			return code, err
		}
		// Wrong choices are refused before sign-in: no code is texted.
		before := v.Messages()
		for _, bad := range []string{"no-such-contest=1", "council-" + village + "=99", "priorities=0,1,2,3,4"} {
			args := []string{"vote", "--server", v.BoxURL, "--idp", v.IdpURL, "--election", v.ElectionID, "--fingerprint", fp,
				"--pin", p.PIN.Digits(), "--document", p.DocumentNumber, "--birth-date", p.BirthDate.Format(time.DateOnly), "--choices", bad}
			if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "choices:") {
				return nil, fmt.Errorf("vote --choices %s: %v", bad, err)
			}
		}
		// Another election's fingerprint: nothing is encrypted, no code sent.
		if _, err := runCLI(t, "vote", "--server", v.BoxURL, "--idp", v.IdpURL, "--election", v.ElectionID, "--fingerprint", strings.Repeat("0", 64),
			"--pin", p.PIN.Digits(), "--document", p.DocumentNumber, "--birth-date", p.BirthDate.Format(time.DateOnly)); !errors.Is(err, ballot.ErrFingerprintMismatch) {
			return nil, fmt.Errorf("vote with another fingerprint: %v", err)
		}
		if v.Messages() != before {
			return nil, errors.New("a code was texted for a vote whose choices or election were wrong")
		}
		audited := filepath.Join(dir, "audited.bin")
		code, err := vote("--choices", "council-"+village+"=3;priorities=1", "--audit", "--save", audited)
		if err != nil {
			return nil, err
		}
		out, err := runCLI(t, "ballot", "check-audit", "--server", v.BoxURL, "--election", v.ElectionID, "--code", code, "--ballot", audited, "--fingerprint", fp)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(out, "opens to") || !strings.Contains(out, "Roads") && !strings.Contains(out, "Drinking water") {
			return nil, fmt.Errorf("check-audit said %q", out)
		}
		// The tracking code alone is enough, at once: the audit waits in
		// the ballot box's pool, not yet on the board.
		out, err = runCLI(t, "ballot", "check-audit", "--server", v.BoxURL, "--election", v.ElectionID, "--code", strings.ToLower(code), "--fingerprint", fp)
		if err != nil {
			return nil, err
		}
		if !strings.Contains(out, "opens to") || !strings.Contains(out, "accepted, to be published in a shuffled batch") {
			return nil, fmt.Errorf("check-audit by code alone said %q", out)
		}
		if _, err := runCLI(t, "ballot", "check-audit", "--server", v.BoxURL, "--election", v.ElectionID, "--code", "AAAA-BBBB", "--ballot", audited, "--fingerprint", fp); err == nil {
			return nil, errors.New("check-audit accepted another tracking code")
		}
		receipt := filepath.Join(dir, "receipt.json")
		code, err = vote("--choices", "council-"+village+"=1;priorities=0,2", "--save", receipt)
		if err != nil {
			return nil, err
		}
		out, err = runCLI(t, "ballot", "check-receipt", "--server", v.BoxURL, "--election", v.ElectionID, "--code", code, "--receipt", receipt, "--fingerprint", fp)
		if err != nil || !strings.Contains(out, "receipt verified") {
			return nil, fmt.Errorf("check-receipt: %v %q", err, out)
		}
		raw, _ := os.ReadFile(receipt)
		var sr savedReceipt
		json.Unmarshal(raw, &sr)
		v.Pseudonym = sr.Receipt.Pseudonym
		// A receipt made while a witness was down lacks the quorum: the
		// check falls back to the board's lookup by tracking code, whose
		// checkpoint the witnesses cosigned since.
		n, err := bulletin.ParseNote([]byte(sr.Receipt.Checkpoint))
		if err != nil {
			return nil, err
		}
		n.Sigs = n.Sigs[:len(n.Sigs)-1]
		partial := sr
		pr := *sr.Receipt
		pr.Checkpoint, pr.Witnessed = string(n.Bytes()), false
		partial.Receipt = &pr
		pb, _ := json.Marshal(partial)
		partialPath := filepath.Join(dir, "receipt-partial.json")
		os.WriteFile(partialPath, pb, 0o600)
		out, err = runCLI(t, "ballot", "check-receipt", "--server", v.BoxURL, "--election", v.ElectionID, "--code", code, "--receipt", partialPath, "--fingerprint", fp)
		if err != nil || !strings.Contains(out, "receipt verified") {
			return nil, fmt.Errorf("check-receipt of a receipt without the quorum: %v %q", err, out)
		}
		// Anyone exports the public record so far, found by the
		// fingerprint alone, as a directory and as a tar archive; both
		// verify (an election in progress).
		for _, to := range []string{filepath.Join(dir, "rec"), filepath.Join(dir, "rec.tar")} {
			if out, err := runCLI(t, "record", "export", "--server", v.BoxURL, "--fingerprint", fp, "--out", to, "--partial"); err != nil || !strings.Contains(out, "saved in") {
				return nil, fmt.Errorf("record export to %s: %v %q", to, err, out)
			}
			rec, err := verify.Load(to)
			if err != nil {
				return nil, err
			}
			efp, _ := ballot.ParseFingerprint(fp)
			if rep := verify.Verify(rec, verify.Options{Fingerprint: efp, Partial: true}); !rep.OK {
				return nil, fmt.Errorf("exported record: %v", rep.Failures)
			}
		}
		if _, err := runCLI(t, "record", "export", "--server", v.BoxURL, "--fingerprint", strings.Repeat("0", 64), "--out", filepath.Join(dir, "other")); err == nil {
			return nil, errors.New("record export found an election with another fingerprint")
		}
		return ballot.Selection{"council-" + village: {1}, "priorities": {0, 2}}, nil
	}})
}

// voteCLI runs evote vote for the extra voter v with the given flags
// after the sign-in's, typing the texted code once it arrives; it
// returns what the command printed.
func voteCLI(t *testing.T, v *extraVoter, extra ...string) (string, error) {
	p := v.Person
	pr, pw := io.Pipe()
	stdin = pr
	before := v.Messages()
	go func() {
		for range 500 {
			if v.Messages() > before {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		io.WriteString(pw, v.Code()+"\n")
		pw.Close()
	}()
	args := append([]string{"vote", "--server", v.BoxURL, "--idp", v.IdpURL, "--election", v.ElectionID, "--fingerprint", v.Fingerprint.String(),
		"--pin", p.PIN.Digits(), "--document", p.DocumentNumber, "--birth-date", p.BirthDate.Format(time.DateOnly)}, extra...)
	return runCLI(t, args...)
}

// cheatingTrustee returns the runs of a trustee that posts, over HTTP, a
// bad mix of every contest it mixes (one output ciphertext doubled after
// the proof) and a bad decryption share of every contest (the generator
// added to a partial decryption after its proofs): built from the
// trustee package's exported steps, signed with the trustee's own key.
func cheatingTrustee(step string) func(context.Context, trustee.Board, *trustee.Keys, trustee.Options) error {
	return func(ctx context.Context, b trustee.Board, k *trustee.Keys, o trustee.Options) error {
		f := trustee.NewFollower(b)
		f.Fingerprint = o.Fingerprint
		phase := election.PhaseMixing
		if step == "decrypt" {
			phase = election.PhaseDecrypting
		}
		index := 0
		// Mixes go in index order (as the tool waits its turn): the
		// honest trustees before this one have mixed every contest.
		ready := func(s *election.State) bool {
			if s.Phase < phase {
				return false
			}
			for _, t := range s.Manifest.Trustees {
				if t.SignKey == k.SigningPublic() {
					index = int(t.Index)
				}
			}
			for _, c := range s.Tally {
				for j := 1; step == "mix" && j < index; j++ {
					if c.Mixed() && !slices.Contains(c.Mixers, j) {
						return false
					}
				}
			}
			return true
		}
		if err := f.Until(ctx, ready); err != nil {
			return err
		}
		if err := f.Witness(ctx); err != nil {
			return err
		}
		st := f.State
		sign := func(t bulletin.Type, payload []byte) error {
			e, err := bulletin.NewEntry(f.Log, t, k.SigningPublic(), bulletin.NewEd25519Signer(k.SigningKey()), payload)
			if err != nil {
				return err
			}
			_, err = b.Post(ctx, e)
			return err
		}
		for _, c := range st.Tally {
			if c.Withheld {
				continue
			}
			if step == "mix" {
				if !c.Mixed() {
					continue
				}
				m, err := trustee.MixContest(st, index, c, o)
				if err != nil {
					return err
				}
				cts, err := m.Output.Ciphertexts()
				if err != nil {
					return err
				}
				cts[0].Add(cts[0], cts[0])
				if m.Output, err = shuffle.NewRows(m.Output.Width(), cts); err != nil {
					return err
				}
				if err := sign(bulletin.TypeMixOutput, m.Encode()); err != nil {
					return err
				}
				continue
			}
			d, err := trustee.ShareFor(st, k, c.Contest.ID, c.Current(), o)
			if err != nil {
				return err
			}
			d.Share.D[0] = new(group.Element).Add(d.Share.D[0], group.NewGeneratorElement())
			if err := sign(bulletin.TypeDecryptionShare, d.Encode()); err != nil {
				return err
			}
		}
		return nil
	}
}
