package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/bulletin"
	"evote/client"
	"evote/crypto/elgamal"
	"evote/crypto/group"
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

// preparedRow is a row as the device prepares it (spec §15.3): sel
// encrypted, the flag f = 1 with its proof, the device's signature; the
// openings are kept for an audit (§15.9).
type preparedRow struct {
	enc      []byte
	ballot   *ballot.PreparedBallot
	flag     *elgamal.Ciphertext
	flagRand *group.Scalar
}

// makeRow is the device's work before it casts or audits a row in
// deniable re-voting mode: the credential the identity service issued
// with d's token checked as every device checks it
// (station.CheckCredential: signed, of the voter's style and device key,
// opening to the voter's identifier), then the row made of sel for the
// election el of extended hash ext on log.
func makeRow(el *ballot.Election, ext [32]byte, log bulletin.LogID, d *device, style string, sel ballot.Selection) (*preparedRow, error) {
	ps, err := station.ParsePseudonym(d.token.Pseudonym)
	if err != nil {
		return nil, err
	}
	c, err := station.CheckCredential(el, d.token, ps, style, d.pub())
	if err != nil {
		return nil, err
	}
	pb, err := el.Encrypt(style, d.pub(), sel, nil)
	if err != nil {
		return nil, err
	}
	row := &revote.SignedRow{Credential: c.Raw, CredentialSig: c.Sig, Cred: c.Cred, Ballot: pb.Ballot.Encode(), B: pb.Ballot}
	flag, fr, proof, err := revote.EncryptFlagOpening(el.PublicKey, revote.FlagProofContext(ext, d.pub()), revote.FlagBallot, rand.Reader)
	if err != nil {
		return nil, err
	}
	row.Flag, row.FlagProof = flag, proof.Bytes()
	copy(row.DeviceSig[:], ed25519.Sign(d.key, revote.RowMessage(log, row)))
	return &preparedRow{enc: row.Encode(), ballot: pb, flag: flag, flagRand: fr}, nil
}

// notCounted is what every receipt in deniable re-voting mode says of
// itself (spec §15.9), as the voting page does.
const notCounted = "This receipt proves that your ballot is on the public board. It does not prove that your ballot will be counted, and it cannot: that is on purpose, so that nobody can make you show how you voted, or whether you did. Keep no copy of it that someone could demand; vote again (the last ballot counts) or at a polling station (it overrides) if you were made to vote."

// voteRow is evote vote in deniable re-voting mode (spec §15.9): the
// device makes a row (makeRow); an audit opens it (ballot and flag) and
// never casts it; a cast prints the receipt number at once, waits (at
// most maxWait, asking every poll) until the ballot box publishes the row
// in its time slot, and checks the receipt on this device against the
// board as the witnesses cosigned it (station.CheckRowPublished).
func voteRow(ctx context.Context, out io.Writer, box *client.Client, f *trustee.Follower, electionID string, d *device, sel ballot.Selection, audit bool, save string, wait *waiting, maxWait, poll time.Duration) error {
	p, err := makeRow(f.State.Election(), f.State.Context.ExtendedHash, f.Log, d, d.token.BallotStyle, sel)
	if err != nil {
		return fmt.Errorf("vote: %w", err)
	}
	code := p.ballot.Ballot.TrackingCode()
	fmt.Fprintf(out, "tracking code: %s\n", code)
	if audit {
		opened := p.ballot.Audit().WithFlag(p.flag, p.flagRand)
		a, err := box.Audit(ctx, electionID, d.token.Token, opened.Encode(), p.enc)
		if err != nil {
			return err
		}
		if save != "" {
			if err := os.WriteFile(save, p.enc, 0o600); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "audited: %s. Check it now on a second device with evote ballot check-audit --code %s; this ballot can never be cast\n", auditStatus(a), code)
		return nil
	}
	rc, err := box.CastRow(ctx, electionID, d.token.Token, p.enc)
	if err != nil {
		return err
	}
	h := sha256.Sum256(p.enc)
	if rc.RowHash != base64.RawURLEncoding.EncodeToString(h[:]) {
		return fmt.Errorf("vote: the ballot box answered row hash %s, not the row's", rc.RowHash)
	}
	fmt.Fprintf(out, "receipt number: %s\n", revoterow.ReceiptNumber(h))
	fmt.Fprintf(out, "accepted; your ballot is published when its time slot ends (slots of %d s)\n", f.State.Manifest.Coercion.SlotSeconds)
	wctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	wait.set("the end of the time slot, then the ballot on the board in a checkpoint the witnesses cosigned")
	sl, rc, err := awaitRow(wctx, box, f, electionID, h, rc, poll)
	wait.set("")
	if err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("vote: your ballot was accepted, but after %v it is not on the board yet: check it later with evote ballot check-row --number %s", maxWait, revoterow.ReceiptNumber(h))
		}
		return err
	}
	fmt.Fprintf(out, "on the board: time slot %d, board entry %d, row %d of the slot; checked on this device against a checkpoint the log signed and the witnesses cosigned\n%s\n", sl.Slot, *rc.Index, *rc.Position+1, notCounted)
	return nil
}

// awaitRow asks the ballot box every poll for the row with hash h until it
// is published, then brings the replay f to a witnessed checkpoint that
// covers the row's slot entry, and checks the receipt against it.
func awaitRow(ctx context.Context, box *client.Client, f *trustee.Follower, electionID string, h [32]byte, rc *client.RowReceipt, poll time.Duration) (*revote.Slot, *client.RowReceipt, error) {
	for {
		if rc.Published() {
			if rc.Index == nil || rc.Position == nil {
				return nil, nil, errors.New("vote: the ballot box's receipt names no board entry or position for the published row")
			}
			if err := f.Witness(ctx); err != nil {
				return nil, nil, err
			}
			if *rc.Index < uint64(len(f.Entries)) {
				sl, err := station.CheckRowPublished(f, h, rc)
				return sl, rc, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(poll):
		}
		var err error
		if rc, err = box.RowStatus(ctx, electionID, base64.RawURLEncoding.EncodeToString(h[:])); err != nil {
			return nil, nil, err
		}
	}
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
	maxWait := fs.Duration("wait", 10*time.Minute, "deniable re-voting: how long to wait for the ballot on the board")
	poll := fs.Duration("poll", 2*time.Second, "deniable re-voting: how often to ask the ballot box whether the ballot is published")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "server", "idp", "election", "pin", "document", "birth-date", "fingerprint"); err != nil {
		return err
	}
	if *maxWait <= 0 || *poll <= 0 {
		return errors.New("vote: --wait and --poll must be positive durations (e.g. 10m, 2s)")
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
	rows := f.State.Coercion()
	if rows && *save != "" && !*audit {
		return errors.New("vote: in deniable re-voting mode no receipt is saved: a file is what a coercer could demand (spec §15.9). Note the receipt number it prints; check it later with evote ballot check-row")
	}
	d, err := signIn(ctx, id, *pin, *doc, *birth, *lang)
	if err != nil {
		return err
	}
	if rows {
		return voteRow(ctx, out, box, f, *electionID, d, sel, *audit, *save, wait, *maxWait, *poll)
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

// signIn signs the voter in at the identity service with a new device
// key: the identity details, then the code texted to the voter's phone,
// typed at the prompt.
func signIn(ctx context.Context, id *client.Client, pin, doc, birth, lang string) (*device, error) {
	ch, err := id.StartAuth(ctx, pin, doc, birth, lang)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	return d, nil
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
	if err := subcommand("ballot", args, []string{"check-receipt", "check-audit", "check-row"}); err != nil {
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
	number := fs.String("number", "", "check-row: the receipt number evote vote or the voting page showed (deniable re-voting)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	key := "code"
	if args[0] == "check-row" {
		key = "number"
	}
	if err := need(fs, "server", "election", key, "fingerprint"); err != nil {
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
	if args[0] == "check-row" {
		return checkRow(ctx, out, box, f, *electionID, *number)
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

// checkRow is evote ballot check-row (spec §15.9): the row with the
// receipt number is looked up at the ballot box by its hash; a queued row
// is said to wait for its slot; a published one is checked on this device
// in the board the witnesses cosigned (station.CheckRowPublished). Like
// the voting page, it says where the row is and its tracking code, never
// whether it was superseded or counted.
func checkRow(ctx context.Context, out io.Writer, box *client.Client, f *trustee.Follower, electionID, number string) error {
	if !f.State.Coercion() {
		return errors.New("check-row: this election is not in deniable re-voting mode: check a ballot with check-receipt or check-audit")
	}
	h, err := revoterow.ParseReceiptNumber(number)
	if err != nil {
		return fmt.Errorf("check-row: %w", err)
	}
	rc, err := box.RowStatus(ctx, electionID, base64.RawURLEncoding.EncodeToString(h[:]))
	var api *client.APIError
	if errors.As(err, &api) && api.Status == 404 {
		return fmt.Errorf("check-row: the ballot box knows no ballot with receipt number %s", revoterow.ReceiptNumber(h))
	}
	if err != nil {
		return err
	}
	if rc.Published() && (rc.Index == nil || rc.Position == nil) {
		return errors.New("check-row: the ballot box's receipt names no board entry or position for the published row")
	}
	if !rc.Published() {
		fmt.Fprintf(out, "receipt number %s: accepted, waiting for the end of its time slot (slots of %d s); check again then\n", revoterow.ReceiptNumber(h), f.State.Manifest.Coercion.SlotSeconds)
		return nil
	}
	if *rc.Index >= uint64(len(f.Entries)) {
		// Published after the replay's checkpoint: a newer one may be
		// cosigned by now.
		if err := f.Witness(ctx); err != nil {
			return err
		}
	}
	if *rc.Index >= uint64(len(f.Entries)) {
		return fmt.Errorf("check-row: the ballot box puts the ballot at board entry %d, which no checkpoint the witnesses cosigned covers yet: check again in a minute", *rc.Index)
	}
	sl, err := station.CheckRowPublished(f, h, rc)
	if err != nil {
		return fmt.Errorf("check-row: %w", err)
	}
	fmt.Fprintf(out, "receipt number %s: on the board, time slot %d, board entry %d, row %d of the slot, tracking code %s; checked on this device against a checkpoint the log signed and the witnesses cosigned\n%s\n",
		revoterow.ReceiptNumber(h), sl.Slot, *rc.Index, *rc.Position+1, ballot.TrackingCodeOf(sl.Rows[*rc.Position].Ballot), notCounted)
	return nil
}

// auditStatus says where an audit stands.
func auditStatus(a *client.AuditAnswer) string {
	if a.Published() {
		return fmt.Sprintf("published on the board at position %d", a.Index)
	}
	return fmt.Sprintf("accepted, to be published in a shuffled batch once the board holds %d entries and at least %d audits wait, or at the close", a.PublishAfter, a.MinBatch)
}
