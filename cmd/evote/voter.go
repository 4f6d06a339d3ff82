package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
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
	cp, err := anchors.VerifyCheckpoint([]byte(r.Checkpoint))
	if err != nil {
		return fmt.Errorf("receipt checkpoint: %w", err)
	}
	var proof [][32]byte
	for _, h := range r.InclusionProof {
		b, err := decodeAny(h)
		if err != nil || len(b) != 32 {
			return fmt.Errorf("receipt: bad proof hash %q", h)
		}
		proof = append(proof, [32]byte(b))
	}
	if err := bulletin.VerifyInclusion(r.Index, cp.Size, bulletin.LeafHash(e.Encode()), proof, cp.Root); err != nil {
		return fmt.Errorf("receipt: ballot not in the checkpoint's tree: %w", err)
	}
	code := ballot.TrackingCodeOf(e.Payload)
	if got, err := decodeAny(r.TrackingCode); err != nil || string(got) != string(code[:]) {
		return errors.New("receipt: tracking code is not the ballot's")
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

// checkAudit is the second device's check of a Benaloh audit: among the
// audited-ballot entries on the board (replayed, so each opening has been
// verified against the election key), one has exactly the ciphertexts the
// first device showed, and opens to the selection the voter made. It
// returns the opened contests, described in lang.
func checkAudit(st *election.State, entries []*bulletin.Entry, shown *ballot.EncryptedBallot, lang string) ([]string, error) {
	for _, pos := range st.Audited {
		a, err := ballot.DecodeAuditedBallot(entries[pos].Payload)
		if err != nil || a.Style != shown.Style || len(a.Contests) != len(shown.Contests) {
			continue
		}
		same := true
		for i, c := range a.Contests {
			if len(c.Ciphertexts) != len(shown.Contests[i].Ciphertexts) {
				same = false
				break
			}
			for j, ct := range c.Ciphertexts {
				same = same && ct.Equal(shown.Contests[i].Ciphertexts[j])
			}
		}
		if same {
			return a.Describe(st.Manifest, lang)
		}
	}
	return nil, errors.New("audit: no audited ballot on the board has the ciphertexts the device showed")
}

func voteCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("vote", flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL")
	idpURL := fs.String("idp", "", "identity service base URL")
	electionID := fs.String("election", "", "election id")
	pin := fs.String("pin", "", "personal identification number")
	doc := fs.String("document", "", "identity document number")
	birth := fs.String("birth-date", "", "date of birth, YYYY-MM-DD")
	choices := fs.String("choices", "", "contest=candidate-index[,index…];… (blank if absent)")
	audit := fs.Bool("audit", false, "audit the prepared ballot instead of casting it")
	save := fs.String("save", "", "audit: write the prepared ballot here, for evote ballot check-audit on a second device; cast: write the receipt here, for evote ballot check-receipt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "server", "idp", "election", "pin", "document", "birth-date"); err != nil {
		return err
	}
	box, id := client.New(*server), client.New(*idpURL)
	b, err := client.NewBoard(ctx, box, *electionID)
	if err != nil {
		return err
	}
	f := trustee.NewFollower(b)
	if err := f.Sync(ctx); err != nil {
		return err
	}
	el := f.State.Election()
	if el == nil || f.State.Phase != election.PhaseOpen {
		return fmt.Errorf("vote: the election is in phase %s", f.State.Phase)
	}
	ch, err := id.StartAuth(ctx, *pin, *doc, *birth)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "A code was sent to %s. Code: ", ch.PhoneHint)
	var code string
	fmt.Fscanln(stdin, &code)
	d := &device{key: newKey()}
	if d.token, err = id.VerifyAuth(ctx, ch.ChallengeID, strings.TrimSpace(code), ed25519.PublicKey(d.key.Public().(ed25519.PublicKey))); err != nil {
		return err
	}
	sel, err := parseChoices(*choices)
	if err != nil {
		return err
	}
	p, err := el.Encrypt(d.token.BallotStyle, d.pub(), sel, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tracking code: %s\n", p.Ballot.TrackingCode())
	if *audit {
		if _, err := box.Audit(ctx, *electionID, d.token.Token, p.Audit().Encode()); err != nil {
			return err
		}
		if *save != "" {
			if err := os.WriteFile(*save, p.Ballot.Encode(), 0o600); err != nil {
				return err
			}
		}
		fmt.Fprintln(out, "audited: check it on a second device with evote ballot check-audit; this ballot can never be cast")
		return nil
	}
	e, r, err := castBallot(ctx, box, *electionID, f.Log, d, p.Ballot)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "cast at board position %d, tracking code %s\n", r.Index, r.TrackingCodeText)
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
	if len(args) == 0 || (args[0] != "check-receipt" && args[0] != "check-audit") {
		return errors.New("ballot: want check-receipt or check-audit")
	}
	fs := flag.NewFlagSet("ballot "+args[0], flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL")
	electionID := fs.String("election", "", "election id")
	code := fs.String("code", "", "tracking code as shown (ABCD-EFGH-…)")
	fingerprint := fs.String("fingerprint", "", "the election's fingerprint as the officials published it: the log key, witnesses and quorum are the manifest's")
	receipt := fs.String("receipt", "", "check-receipt: the receipt saved by evote vote --save")
	lang := fs.String("lang", "en", "language of descriptions (ky, ru, uz, en)")
	ballotFile := fs.String("ballot", "", "check-audit: the prepared ballot saved by evote vote --audit --save")
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
		if err := checkReceipt(&f.State.Manifest.Board, e, sr.Receipt); err != nil {
			return err
		}
		i := sr.Receipt.Index
		if i >= uint64(len(f.Entries)) || f.Entries[i].Hash() != e.Hash() {
			return fmt.Errorf("check-receipt: the board does not hold the ballot at position %d", i)
		}
		fmt.Fprintf(out, "ballot %s: receipt verified and the ballot is on the board at position %d\n", ballot.TrackingCodeOf(e.Payload), i)
		return nil
	}
	// check-audit: the first device showed the prepared ballot (saved by
	// evote vote --audit --save); the board must carry an audited opening
	// of exactly its ciphertexts.
	raw, err := os.ReadFile(*ballotFile)
	if err != nil {
		return err
	}
	shown, err := ballot.DecodeBallot(raw)
	if err != nil {
		return err
	}
	if got := shown.TrackingCode().String(); strings.ReplaceAll(got, "-", "") != strings.ReplaceAll(want, "-", "") {
		return fmt.Errorf("check-audit: the saved ballot's tracking code is %s, not %s", got, *code)
	}
	desc, err := checkAudit(f.State, f.Entries, shown, *lang)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "the board's audit of ballot %s opens to:\n  %s\nIf this is not what you chose, your device is not encrypting your choices: report it.\n", shown.TrackingCode(), strings.Join(desc, "\n  "))
	return nil
}
