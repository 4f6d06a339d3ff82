package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"evote/ballot"
	"evote/bulletin"
	"evote/client"
	"evote/election"
	"evote/station"
	"evote/tally/revote"
	"evote/trustee"
)

// device is a voter's device: its key, the token the identity service
// bound to it, and the device's own replay of the board.
type device struct {
	key   ed25519.PrivateKey
	token *client.VoterToken
}

func (d *device) pub() [32]byte { return [32]byte(d.key.Public().(ed25519.PublicKey)) }

// castBallot signs an encrypted ballot with the device key and casts it.
func castBallot(ctx context.Context, box *client.Client, electionID string, log bulletin.LogID, d *device, b *ballot.EncryptedBallot) (*bulletin.Entry, *client.Receipt, error) {
	e, err := bulletin.NewEntry(log, bulletin.TypeBallot, d.pub(), bulletin.NewEd25519Signer(d.key), b.Encode())
	if err != nil {
		return nil, nil, err
	}
	r, err := box.Cast(ctx, electionID, d.token.Token, e)
	return e, r, err
}

// checkReceipt checks a cast ballot's receipt against the log's key: the
// checkpoint is signed by the log, the inclusion proof puts the voter's
// own entry in that tree, and the tracking code is the one the device
// computed.
func checkReceipt(anchors *ballot.BoardAnchors, e *bulletin.Entry, r *client.Receipt) error {
	if err := station.CheckIncluded(anchors, e, r.Index, r.Checkpoint, r.InclusionProof); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	code := ballot.TrackingCodeOf(e.Payload)
	if got, err := decodeAny(r.TrackingCode); err != nil || string(got) != string(code[:]) {
		return errors.New("receipt: tracking code is not the ballot's")
	}
	return nil
}

// checkLater checks that the board, looked up by the ballot's tracking
// code, includes entry e at index i in a checkpoint the manifest's witness
// quorum cosigned.
func checkLater(ctx context.Context, box *client.Client, f *trustee.Follower, anchors *ballot.BoardAnchors, e *bulletin.Entry, i uint64) error {
	code := ballot.TrackingCodeOf(e.Payload)
	bb, err := box.BoardBallot(ctx, hex.EncodeToString(f.Log[:]), hex.EncodeToString(code[:]))
	if err != nil {
		return err
	}
	if bb.Inclusion == nil || bb.Checkpoint == nil || bb.Entry.Index != i || bb.Inclusion.Index != i {
		return fmt.Errorf("the board gives no checkpoint covering the ballot at position %d yet", i)
	}
	path := make([]string, len(bb.Inclusion.Path)) // hex on the board API
	for k, h := range bb.Inclusion.Path {
		b, err := hex.DecodeString(h)
		if err != nil {
			return fmt.Errorf("the board's inclusion proof: %w", err)
		}
		path[k] = base64.RawURLEncoding.EncodeToString(b)
	}
	if err := station.CheckIncluded(anchors, e, i, bb.Checkpoint.Note, path); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	return nil
}

// decodeAny decodes base64url without padding or standard base64.
func decodeAny(s string) ([]byte, error) {
	if strings.ContainsAny(s, "+/=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// checkAudit is the second device's check of a Benaloh audit (spec §9.4)
// from the tracking code shown by the first device, on the ballot box's
// answer a to the lookup by that code, pending or published: the prepared
// ballot it serves has that code (and equals saved, the ballot file of the
// first device, if given); the entry is an audited-ballot entry of this
// election's log signed by the election authority (the board's manifest
// author, from the replay f); its opening verifies under the election key
// and opens exactly the prepared ballot's ciphertexts. Once published, the
// replayed board must hold the entry at the position given (f is synced
// further if needed) and the answer's checkpoint must verify against the
// manifest's anchors (log keys, witness quorum) and include it. It returns the opened contests, described in
// lang.
func checkAudit(ctx context.Context, f *trustee.Follower, a *client.AuditAnswer, shown ballot.ShownCode, saved []byte, lang string) ([]string, error) {
	raw, err := decodeAny(a.Ballot)
	if err != nil {
		return nil, fmt.Errorf("audit: prepared ballot: %w", err)
	}
	if saved != nil && string(saved) != string(raw) {
		return nil, errors.New("audit: the ballot box's prepared ballot is not the saved one")
	}
	eb, err := decodeAny(a.Entry)
	if err != nil {
		return nil, fmt.Errorf("audit: entry: %w", err)
	}
	e, err := bulletin.DecodeEntry(eb)
	if err != nil {
		return nil, fmt.Errorf("audit: entry: %w", err)
	}
	st := f.State
	if e.Type != bulletin.TypeAuditedBallot || e.Log != f.Log || st.Manifest == nil || e.Author != st.Authority {
		return nil, errors.New("audit: the entry is not an audited ballot of this election signed by its authority")
	}
	if err := e.Verify(); err != nil {
		return nil, fmt.Errorf("audit: entry: %w", err)
	}
	opened, err := ballot.DecodeAuditedBallot(e.Payload)
	if err != nil {
		return nil, err
	}
	// The prepared ballot, or in deniable re-voting mode the prepared row,
	// whose flag the audit opens too (spec §15.9).
	prepared, opens, err := revote.AuditedPrepared(st.Manifest, opened, raw)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if prepared.TrackingCode().Shown() != shown {
		return nil, fmt.Errorf("audit: the ballot box served ballot %s, not %s", prepared.TrackingCode(), shown)
	}
	if !opens {
		return nil, errors.New("audit: the opening is not of the ballot with this tracking code")
	}
	if st.PublicKey == nil {
		return nil, errors.New("audit: no election key on the board")
	}
	if err := opened.Verify(st.Manifest, st.PublicKey); err != nil {
		return nil, err
	}
	if a.Published() {
		if a.Index >= uint64(len(f.Entries)) {
			if err := f.Sync(ctx); err != nil {
				return nil, err
			}
		}
		if a.Index >= uint64(len(f.Entries)) || f.Entries[a.Index].Hash() != e.Hash() {
			return nil, fmt.Errorf("audit: the board does not hold the audit at position %d", a.Index)
		}
		if err := station.CheckIncluded(&st.Manifest.Board, e, a.Index, a.Checkpoint, a.InclusionProof); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	return opened.Describe(st.Manifest, lang)
}

func voteCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vote", flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL")
	idpURL := fs.String("idp", "", "identity service base URL")
	electionID := fs.String("election", "", "election id")
	pin := fs.String("pin", "", "personal identification number")
	doc := fs.String("document", "", "identity document number")
	birth := fs.String("birth-date", "", "date of birth, YYYY-MM-DD")
	lang := fs.String("lang", "", "language of the texts the identity service sends (ky, ru, uz, en; default: the service's)")
	choices := fs.String("choices", "", "contest=candidate-index[,index…];… (blank if absent)")
	audit := fs.Bool("audit", false, "audit the prepared ballot instead of casting it")
	save := fs.String("save", "", "audit: write the prepared ballot here, for evote ballot check-audit on a second device; cast: write the receipt here, for evote ballot check-receipt")
	fingerprint := fs.String("fingerprint", "", "the election's fingerprint as the officials published it: the ballot is encrypted only to the key of the election that has it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "server", "idp", "election", "pin", "document", "birth-date", "fingerprint"); err != nil {
		return err
	}
	fp, err := ballot.ParseFingerprint(*fingerprint)
	if err != nil {
		return err
	}
	// The choices are checked before signing in: a mistake found after
	// the texted code was spent would cost the voter a new code.
	sel, err := parseChoices(*choices)
	if err != nil {
		return err
	}
	box, id := client.New(*server), client.New(*idpURL)
	b, err := client.NewBoard(ctx, box, *electionID)
	if err != nil {
		return err
	}
	// The election key comes from the board the witnesses cosigned, in
	// the election whose manifest has the fingerprint: a server showing a
	// manifest of its own (its own "trustees", hence a key it holds) is
	// refused before anything is encrypted.
	f := trustee.NewFollower(b)
	f.Fingerprint = fp
	wait := startWaiting("evote vote")
	defer wait.stop()
	wait.set("a checkpoint of the board that the manifest's witnesses cosigned")
	if err := f.Witness(ctx); err != nil {
		return err
	}
	wait.set("")
	el := f.State.Election()
	if el == nil || f.State.Phase != election.PhaseOpen {
		return fmt.Errorf("vote: the election is in phase %s", f.State.Phase)
	}
	if err := checkChoices(el.Manifest, sel); err != nil {
		return err
	}
	ch, err := id.StartAuth(ctx, *pin, *doc, *birth, *lang)
	if err != nil {
		return err
	}
	if ch.Unconfirmed {
		// The identity service does not say whether the details matched
		// (spec/08-identity.md §8.11.3).
		fmt.Fprint(os.Stderr, "If these details are right, a code is on its way to your phone; if none comes, check the document number and start again. Code: ")
	} else {
		fmt.Fprintf(os.Stderr, "A code was sent to %s. Code: ", ch.PhoneHint)
	}
	var code string
	fmt.Fscanln(stdin, &code)
	d := &device{key: newKey()}
	if d.token, err = id.VerifyAuth(ctx, ch.ChallengeID, strings.TrimSpace(code), ed25519.PublicKey(d.key.Public().(ed25519.PublicKey))); err != nil {
		return err
	}
	p, err := el.Encrypt(d.token.BallotStyle, d.pub(), sel, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tracking code: %s\n", p.Ballot.TrackingCode())
	if *audit {
		a, err := box.Audit(ctx, *electionID, d.token.Token, p.Audit().Encode(), p.Ballot.Encode())
		if err != nil {
			return err
		}
		if *save != "" {
			if err := os.WriteFile(*save, p.Ballot.Encode(), 0o600); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "audited: %s. Check it now on a second device with evote ballot check-audit --code %s; this ballot can never be cast\n", auditStatus(a), p.Ballot.TrackingCode())
		return nil
	}
	wait.set("the ballot box's receipt (the ballot on the board and the witnesses' cosignatures)")
	e, r, err := castBallot(ctx, box, *electionID, f.Log, d, p.Ballot)
	wait.set("")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cast at board position %d, tracking code %s\n", r.Index, r.TrackingCodeText)
	if !r.Witnessed {
		fmt.Fprintf(out, "the ballot is on the board; the witnesses have not all confirmed it yet (one may be down): check it later with evote ballot check-receipt\n")
	}
	if *save != "" {
		b, err := json.MarshalIndent(savedReceipt{Entry: base64.RawURLEncoding.EncodeToString(e.Encode()), Receipt: r}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*save, b, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(out, "receipt saved in %s\n", *save)
	}
	return nil
}

// savedReceipt is what "evote vote --save" keeps: the ballot entry as
// cast and the ballot box's receipt.
type savedReceipt struct {
	Entry   string          `json:"entry"`
	Receipt *client.Receipt `json:"receipt"`
}

// stdin is where "evote vote" reads the texted code (a variable so tests
// can type it).
var stdin io.Reader = os.Stdin

// checkChoices checks a selection against the manifest before sign-in:
// every contest exists, every index is a candidate of it, and no more are
// chosen than the contest allows (which contests the voter's ballot style
// has is known only after sign-in). evote official show-manifest lists the
// contests and their numbered candidates.
func checkChoices(m *ballot.Manifest, sel ballot.Selection) error {
	for id, idx := range sel {
		c, ok := m.Contest(id)
		if !ok {
			return fmt.Errorf("choices: no contest %q in this election (evote official show-manifest lists them)", id)
		}
		if uint32(len(idx)) > c.MaxSelections {
			return fmt.Errorf("choices: contest %s allows %d choice(s), %d given", id, c.MaxSelections, len(idx))
		}
		for _, i := range idx {
			if i < 0 || i >= len(c.Candidates) {
				return fmt.Errorf("choices: contest %s has candidates 0..%d, not %d", id, len(c.Candidates)-1, i)
			}
		}
	}
	return nil
}

// parseChoices reads "contest=1;other=0,2" (0-based candidate indices).
func parseChoices(s string) (ballot.Selection, error) {
	sel := ballot.Selection{}
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("choices: %q is not contest=indices", part)
		}
		var idx []int
		for _, x := range strings.Split(v, ",") {
			var n int
			if _, err := fmt.Sscan(x, &n); err != nil {
				return nil, fmt.Errorf("choices: %q: %w", x, err)
			}
			idx = append(idx, n)
		}
		sel[k] = idx
	}
	return sel, nil
}

func ballotCmd(ctx context.Context, args []string, out io.Writer) error {
	if err := subcommand("ballot", args, []string{"check-receipt", "check-audit"}); err != nil {
		return err
	}
	fs := flag.NewFlagSet("ballot "+args[0], flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL")
	electionID := fs.String("election", "", "election id")
	code := fs.String("code", "", "tracking code as shown (ABCD-EFGH-…)")
	fingerprint := fs.String("fingerprint", "", "the election's fingerprint as the officials published it: the log key, witnesses and quorum are the manifest's")
	receipt := fs.String("receipt", "", "check-receipt: the receipt saved by evote vote --save")
	lang := fs.String("lang", "en", "language of descriptions (ky, ru, uz, en)")
	ballotFile := fs.String("ballot", "", "check-audit, optional: the prepared ballot saved by evote vote --audit --save, compared with the ballot box's")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := need(fs, "server", "election", "code", "fingerprint"); err != nil {
		return err
	}
	fp, err := ballot.ParseFingerprint(*fingerprint)
	if err != nil {
		return err
	}
	box := client.New(*server)
	b, err := client.NewBoard(ctx, box, *electionID)
	if err != nil {
		return err
	}
	// The board as the witnesses cosigned it, in the election whose
	// manifest has the fingerprint: what everyone else sees too.
	f := trustee.NewFollower(b)
	f.Fingerprint = fp
	if err := f.Witness(ctx); err != nil {
		return err
	}
	want := strings.ToUpper(strings.ReplaceAll(*code, " ", ""))
	if args[0] == "check-receipt" {
		// The receipt's checkpoint is signed by the log key and cosigned
		// by the witness quorum the manifest pins, its inclusion proof
		// puts the very entry the device cast in that tree, and the board
		// the device replays holds the entry at that position.
		if err := need(fs, "receipt"); err != nil {
			return err
		}
		raw, err := os.ReadFile(*receipt)
		if err != nil {
			return err
		}
		var sr savedReceipt
		if err := json.Unmarshal(raw, &sr); err != nil || sr.Receipt == nil {
			return fmt.Errorf("check-receipt: %s is not a receipt saved by evote vote --save", *receipt)
		}
		eb, err := base64.RawURLEncoding.DecodeString(sr.Entry)
		if err != nil {
			return err
		}
		e, err := bulletin.DecodeEntry(eb)
		if err != nil {
			return err
		}
		if got := ballot.TrackingCodeOf(e.Payload).String(); strings.ReplaceAll(got, "-", "") != strings.ReplaceAll(want, "-", "") {
			return fmt.Errorf("check-receipt: the saved ballot's tracking code is %s, not %s", got, *code)
		}
		anchors := &f.State.Manifest.Board
		if err := checkReceipt(anchors, e, sr.Receipt); err != nil {
			// A receipt made while a witness was down lacks the quorum:
			// the board's lookup by tracking code gives a checkpoint the
			// witnesses cosigned since, checked the same way.
			if lerr := checkLater(ctx, box, f, anchors, e, sr.Receipt.Index); lerr != nil {
				return fmt.Errorf("%w; looked up again on the board: %w", err, lerr)
			}
		}
		i := sr.Receipt.Index
		if i >= uint64(len(f.Entries)) || f.Entries[i].Hash() != e.Hash() {
			return fmt.Errorf("check-receipt: the board does not hold the ballot at position %d", i)
		}
		fmt.Fprintf(out, "ballot %s: receipt verified and the ballot is on the board at position %d\n", ballot.TrackingCodeOf(e.Payload), i)
		return nil
	}
	// check-audit: the voter types the tracking code the first device
	// showed; the ballot box serves the audit by that code, pending or
	// published, and this device checks all of it.
	shown, err := ballot.ParseShownCode(*code)
	if err != nil {
		return fmt.Errorf("check-audit: %w", err)
	}
	var saved []byte
	if *ballotFile != "" {
		if saved, err = os.ReadFile(*ballotFile); err != nil {
			return err
		}
	}
	a, err := box.AuditByCode(ctx, *electionID, shown.String())
	if err != nil {
		return fmt.Errorf("check-audit: %w", err)
	}
	desc, err := checkAudit(ctx, f, a, shown, saved, *lang)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "the audit of ballot %s (%s) opens to:\n  %s\nIf this is not what you chose, your device is not encrypting your choices: report it.\n", shown, auditStatus(a), strings.Join(desc, "\n  "))
	return nil
}

// auditStatus says where an audit stands.
func auditStatus(a *client.AuditAnswer) string {
	if a.Published() {
		return fmt.Sprintf("published on the board at position %d", a.Index)
	}
	return fmt.Sprintf("accepted, to be published in a shuffled batch once the board holds %d entries and at least %d audits wait, or at the close", a.PublishAfter, a.MinBatch)
}
