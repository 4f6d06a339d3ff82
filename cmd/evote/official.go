package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"evote/ballot"
	"evote/client"
	"evote/election"
	"evote/idp/voterlist"
	"evote/internal/keytext"
	"evote/record"
	"evote/tally"
	"evote/trustee"
	"evote/verify"
	"evote/web"
)

// sessionPath is where "evote official login" keeps the session token
// (readable by the user only; a session lasts 30 minutes).
func sessionPath() string {
	if p := os.Getenv("EVOTE_SESSION_FILE"); p != "" {
		return p
	}
	d, err := os.UserConfigDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "evote", "session")
}

// officialCmd is "evote official SUBCOMMAND": the manifest's commands,
// which need no server, the voter list's and polling stations' (signed by
// a list official), and a signed-in official's session: login, create
// and the election's actions.
func officialCmd(ctx context.Context, args []string, out io.Writer) error {
	if err := subcommand("official", args, []string{"login", "create", "show-manifest", "sample-manifest", "import-voters", "register-polling", "act", "open", "close", "tally"},
		officialActions...); err != nil {
		return err
	}
	switch args[0] {
	case "sample-manifest":
		return sampleManifest(args[1:], out)
	case "show-manifest":
		return showManifest(args[1:], out)
	case "import-voters":
		return importVoters(ctx, args[1:], out)
	case "register-polling":
		return registerPolling(ctx, args[1:], out)
	}
	o := &officialRun{sub: args[0], out: out}
	if err := o.parse(args[1:]); err != nil {
		return err
	}
	if err := need(o.fs, "server"); err != nil {
		return err
	}
	c := client.New(o.server)
	if o.sub == "login" {
		return o.login(ctx, c)
	}
	tok, err := os.ReadFile(o.sessionFile())
	if err != nil {
		return fmt.Errorf("official: not signed in (evote official login): %w", err)
	}
	c.Token = strings.TrimSpace(string(tok))
	if o.sub == "create" {
		return o.create(ctx, c)
	}
	return o.act(ctx, c)
}

// officialRun is one run of a signed-in official's subcommand: its flags.
type officialRun struct {
	sub string
	out io.Writer
	fs  *flag.FlagSet

	server, user, pwFile, totp, manifest, electionID, session string
	answerWait                                                time.Duration
}

func (o *officialRun) parse(args []string) error {
	fs := flag.NewFlagSet("official "+o.sub, flag.ContinueOnError)
	fs.StringVar(&o.server, "server", "", "ballot box base URL")
	fs.StringVar(&o.user, "user", "", "login: account name")
	fs.StringVar(&o.pwFile, "password-file", "", "login: file holding the password (else EVOTE_PASSWORD)")
	fs.StringVar(&o.totp, "totp", "", "login: the current code of the authenticator app")
	fs.StringVar(&o.manifest, "manifest", "", "create: file holding the canonical manifest encoding")
	fs.StringVar(&o.electionID, "election", "", "election id")
	fs.DurationVar(&o.answerWait, "answer-wait", time.Minute, "qualified: how long to wait for dealers to answer complaints")
	fs.StringVar(&o.session, "session", "", "file keeping the session token (default: EVOTE_SESSION_FILE, else evote/session under the user's configuration directory)")
	o.fs = fs
	return fs.Parse(args)
}

// sessionFile is where the session token is kept.
func (o *officialRun) sessionFile() string {
	if o.session != "" {
		return o.session
	}
	return sessionPath()
}

// login signs in and keeps the session token and the device token.
func (o *officialRun) login(ctx context.Context, c *client.Client) error {
	if err := need(o.fs, "user", "totp"); err != nil {
		return err
	}
	pw, err := secret(o.pwFile, "EVOTE_PASSWORD", "Password")
	if err != nil {
		return err
	}
	p := o.sessionFile()
	// The device token from an earlier login (§10.5): strangers at
	// this address cannot then hold the login back.
	if d, err := os.ReadFile(p + ".device"); err == nil {
		c.Device = strings.TrimSpace(string(d))
	}
	failed, err := c.Login(ctx, o.user, string(pw), o.totp)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(p, []byte(c.Token), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(p+".device", []byte(c.Device), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "signed in; session kept in %s\n", p)
	if failed > 0 {
		fmt.Fprintf(o.out, "warning: %d failed logins on your account since your previous login (see the operations log)\n", failed)
	}
	return nil
}

// create checks the manifest and creates the election from it.
func (o *officialRun) create(ctx context.Context, c *client.Client) error {
	if err := need(o.fs, "manifest"); err != nil {
		return err
	}
	raw, err := os.ReadFile(o.manifest)
	if err != nil {
		return err
	}
	m, err := ballot.DecodeManifest(raw)
	if err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	info, err := c.CreateElection(ctx, raw)
	if err != nil {
		return err
	}
	describeCreated(o.out, info.ElectionID, info.Log, m)
	return nil
}

// act posts an official's action (act ACTION, or the action itself as
// the subcommand); before "qualified" it waits for complaints to be
// answered, after "tally" it prints the result read back from the board.
func (o *officialRun) act(ctx context.Context, c *client.Client) error {
	if err := need(o.fs, "election"); err != nil {
		return err
	}
	action := o.sub
	if o.sub == "act" {
		if o.fs.NArg() != 1 {
			return errors.New("official act: name one action (qualified, close-extraction, context, open, close, cleanse, start-mixing, start-decrypting, tally)")
		}
		action = o.fs.Arg(0)
	}
	if action == "qualified" {
		// An answer posted after the qualified set would not count:
		// wait (on our own replay) until every complaint is answered.
		b, err := client.NewBoard(ctx, c, o.electionID)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, o.answerWait)
		err = trustee.NewFollower(b).Until(wctx, trustee.ComplaintsAnswered)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(o.out, "some complaints are still unanswered after %v: their dealers will be disqualified\n", o.answerWait)
		} else if err != nil {
			return err
		}
	}
	p, err := c.Act(ctx, o.electionID, action)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "%s posted at board position %d\n", action, p.Index)
	if action == "tally" {
		return o.printResult(ctx, c)
	}
	return nil
}

// printResult prints the result, replayed from the board (the rules
// recompute it from the decryption shares before the box posts it).
func (o *officialRun) printResult(ctx context.Context, c *client.Client) error {
	b, err := client.NewBoard(ctx, c, o.electionID)
	if err != nil {
		return err
	}
	f := trustee.NewFollower(b)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = f.Until(wctx, func(s *election.State) bool { return s.Result != nil })
	cancel()
	if err != nil {
		return fmt.Errorf("official tally: the result is posted but could not be read back from the board: %w", err)
	}
	writeResult(o.out, f.State.Manifest, f.State.Result)
	return nil
}

// officialActions are the actions an official may also name directly,
// as "evote official ACTION" rather than "evote official act ACTION".
var officialActions = []string{"qualified", "close-extraction", "context", "cleanse", "start-mixing", "start-decrypting"}

// writeResult prints an election's result for people: each contest with
// its ballots and each candidate's count by name ((blank) first for a
// single-choice contest), withheld contests said so.
func writeResult(w io.Writer, m *ballot.Manifest, r *tally.Result) {
	fmt.Fprintln(w, "result:")
	for _, c := range r.Contests {
		var mc *ballot.Contest
		for i := range m.Contests {
			if m.Contests[i].ID == c.ContestID {
				mc = &m.Contests[i]
			}
		}
		if c.Withheld {
			fmt.Fprintf(w, "  %s: %d ballots, withheld (fewer than the minimum anonymity)\n", c.ContestID, c.Ballots)
			continue
		}
		fmt.Fprintf(w, "  %s: %d ballots\n", c.ContestID, c.Ballots)
		for j, n := range c.Counts {
			name := fmt.Sprintf("#%d", j)
			switch {
			case mc == nil:
			case mc.Kind == ballot.SingleChoice && j == 0:
				name = "(blank)"
			case mc.Kind == ballot.SingleChoice && j-1 < len(mc.Candidates):
				name = mc.Candidates[j-1].Name.En
			case mc.Kind != ballot.SingleChoice && j < len(mc.Candidates):
				name = mc.Candidates[j].Name.En
			}
			fmt.Fprintf(w, "    %-32s %d\n", name, n)
		}
	}
}

// sampleManifest writes the sample pilot manifest (three constituencies,
// a council contest each and a shared multi-select question) for the
// given trustees' public keys, as a canonical file for "official create".
func sampleManifest(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("official sample-manifest", flag.ContinueOnError)
	id := fs.String("election", "", "election id ([a-z0-9][a-z0-9-]{0,63})")
	idKey := fs.String("identity-key", "", "the identity service's board key (hex, base64 or base64url)")
	threshold := fs.Int("threshold", 2, "trustees needed to decrypt")
	start := fs.Int64("start", 0, "voting start, Unix seconds (default now)")
	days := fs.Int("days", 7, "voting period in days")
	path := fs.String("out", "manifest.bin", "output file")
	logKeyPath := fs.String("log-key", "", "file with the election log's verifier key lines (\"origin+keyid+base64\", from the ballot box's operator); the origin must be the server's prefix/<election>")
	quorum := fs.Int("witness-quorum", 0, "cosignatures required on a checkpoint (default: every witness)")
	var witnesses []ballot.Witness
	fs.Func("witness", "a witness's NAME:ED25519-KEY (from evote witness --init; the key in hex, base64 or base64url), once per witness", func(v string) error {
		name, kh, ok := strings.Cut(v, ":")
		if !ok {
			return fmt.Errorf("want NAME:ED25519-KEY, got %q", v)
		}
		k, err := keytext.Decode(kh, 32)
		if err != nil {
			return fmt.Errorf("witness %s: %w", name, err)
		}
		witnesses = append(witnesses, ballot.Witness{Name: name, Key: [32]byte(k)})
		return nil
	})
	var trustees []string
	fs.Func("trustee", "a trustee's SIGNING-KEY:HPKE-KEY (from evote trustee init; hex, base64 or base64url), once per trustee, in order", func(v string) error {
		trustees = append(trustees, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "election", "identity-key", "log-key"); err != nil {
		return err
	}
	kt, err := os.ReadFile(*logKeyPath)
	if err != nil {
		return fmt.Errorf("sample-manifest: %w", err)
	}
	lv, err := verify.ParseLogKey(string(kt))
	if err != nil {
		return fmt.Errorf("sample-manifest: %w", err)
	}
	if *quorum == 0 {
		*quorum = len(witnesses)
	}
	anchors := ballot.BoardAnchors{Origin: lv.Origin, LogKey: lv.Ed25519, LogMLDSAKey: lv.MLDSA, Witnesses: witnesses, Quorum: uint32(*quorum)}
	ik, err := keytext.Decode(*idKey, 32)
	if err != nil {
		return fmt.Errorf("sample-manifest: --identity-key: %w", err)
	}
	var ts []ballot.Trustee
	for i, t := range trustees {
		sk, hk, ok := strings.Cut(t, ":")
		if !ok {
			return fmt.Errorf("sample-manifest: trustee %d: want SIGNING-KEY:HPKE-KEY", i+1)
		}
		s, err := keytext.Decode(sk, 32)
		if err != nil {
			return fmt.Errorf("sample-manifest: trustee %d: signing key: %w", i+1, err)
		}
		h, err := keytext.Decode(hk, 32)
		if err != nil {
			return fmt.Errorf("sample-manifest: trustee %d: HPKE key: %w", i+1, err)
		}
		ts = append(ts, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: [32]byte(s), HPKEKey: h})
	}
	m := ballot.SampleManifest(*id, ts, uint32(*threshold), [32]byte(ik), anchors)
	if *start == 0 {
		*start = time.Now().Unix()
	}
	m.VotingStart, m.VotingEnd = uint64(*start), uint64(*start)+uint64(*days)*86400
	// The voting page this binary embeds, which evoted serves.
	m.ClientHash = web.ClientHash()
	if err := m.Validate(); err != nil {
		return err
	}
	if err := os.WriteFile(*path, m.Encode(), 0o644); err != nil {
		return err
	}
	f := m.Fingerprint()
	fmt.Fprintf(out, "manifest of %s written to %s\nelection fingerprint (publish it: every trustee, voter and auditor checks it)\n  %s\n  %s\n", *id, *path, f, f.Hex())
	fmt.Fprintf(out, "(evote official show-manifest --manifest %s lists its styles, contests and numbered candidates)\n", *path)
	return nil
}

// importVoters signs and submits a voter list (CSV "pin,ballot_style,phone")
// to the identity service as a list official. The context hash it signs
// comes from the official's own replay of the board.
func importVoters(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("official import-voters", flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL")
	idpURL := fs.String("idp", "", "identity service base URL")
	electionID := fs.String("election", "", "election id")
	officialID := fs.String("official", "", "the list official's id, as registered with the identity service")
	keyPath := fs.String("official-key", "", "file holding the list official's Ed25519 seed in hex")
	csvPath := fs.String("csv", "", "the voter list, CSV with header pin,ballot_style,phone")
	kind := fs.String("kind", "import", "build (the initial list) or import (additions)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "server", "idp", "election", "official", "official-key", "csv"); err != nil {
		return err
	}
	k := map[string]uint8{"build": record.ListBuilt, "import": record.ListImported}[*kind]
	if k == 0 {
		return errors.New("import-voters: --kind is build or import")
	}
	key, err := readSeedFile(*keyPath, "import-voters")
	if err != nil {
		return err
	}
	f, err := os.Open(*csvPath)
	if err != nil {
		return err
	}
	defer f.Close()
	items, err := voterlist.ParseCSV(f, time.Now())
	if err != nil {
		return err
	}
	ext, err := contextHashOf(ctx, *server, *electionID, "import-voters")
	if err != nil {
		return err
	}
	if err := submitVoterList(ctx, client.New(*idpURL), *officialID, key, *electionID, ext, k, items); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d voters submitted\n", len(items))
	return nil
}

// readSeedFile reads an Ed25519 signing key stored as its 32-byte seed in
// hex.
func readSeedFile(path, cmd string) (ed25519.PrivateKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: the key file must hold a 32-byte seed in hex", cmd)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// contextHashOf returns the election's extended hash from the caller's own
// replay of the board.
func contextHashOf(ctx context.Context, server, electionID, cmd string) ([32]byte, error) {
	b, err := client.NewBoard(ctx, client.New(server), electionID)
	if err != nil {
		return [32]byte{}, err
	}
	rep := trustee.NewFollower(b)
	if err := rep.Sync(ctx); err != nil {
		return [32]byte{}, err
	}
	if rep.State.Context == nil {
		return [32]byte{}, fmt.Errorf("%s: the election context is not on the board yet", cmd)
	}
	return rep.State.Context.ExtendedHash, nil
}

// pollingKeys collects repeated "id=<hex Ed25519 public key>" flags.
type pollingKeys []record.PollingKey

func (p *pollingKeys) String() string { return fmt.Sprint(len(*p)) }

func (p *pollingKeys) Set(s string) error {
	id, h, ok := strings.Cut(s, "=")
	k, err := keytext.Decode(h, ed25519.PublicKeySize)
	if !ok || err != nil || !record.ValidID(id) || !record.ValidEd25519Key(k) {
		return fmt.Errorf("want id=<Ed25519 public key in hex, base64 or base64url>, got %q", s)
	}
	*p = append(*p, record.PollingKey{ID: id, Key: [32]byte(k)})
	return nil
}

// registerPolling has a list official register polling stations and
// polling officials with the identity service, which posts the
// registration on the board (spec/08-identity.md §8.8.6). It must run
// before voting opens: marks are accepted only from registered keys.
func registerPolling(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("official register-polling", flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL")
	idpURL := fs.String("idp", "", "identity service base URL")
	electionID := fs.String("election", "", "election id")
	officialID := fs.String("official", "", "the list official's id, as registered with the identity service")
	keyPath := fs.String("official-key", "", "file holding the list official's Ed25519 seed in hex")
	var stations, officials pollingKeys
	fs.Var(&stations, "station", "a polling station, id=<hex Ed25519 public key> (repeat)")
	fs.Var(&officials, "polling-official", "an official who marks in-person votes, id=<hex Ed25519 public key> (repeat)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "server", "idp", "election", "official", "official-key"); err != nil {
		return err
	}
	if len(stations)+len(officials) == 0 {
		return errors.New("register-polling: name at least one --station or --polling-official")
	}
	key, err := readSeedFile(*keyPath, "register-polling")
	if err != nil {
		return err
	}
	ext, err := contextHashOf(ctx, *server, *electionID, "register-polling")
	if err != nil {
		return err
	}
	if err := submitPolling(ctx, client.New(*idpURL), *officialID, key, *electionID, ext, stations, officials); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d stations and %d officials registered\n", len(stations), len(officials))
	return nil
}

// submitPolling has a list official sign a registration of polling
// stations and officials (each list sorted here) and submit it to the
// identity service.
func submitPolling(ctx context.Context, idc *client.Client, officialID string, key ed25519.PrivateKey, electionID string, ext [32]byte, stations, officials []record.PollingKey) error {
	byID := func(a, b record.PollingKey) int { return strings.Compare(a.ID, b.ID) }
	r := &record.PollingRegistration{ElectionID: electionID, ContextHash: ext, OfficialID: officialID, RegisteredAt: uint64(time.Now().Unix()),
		Stations: slices.SortedFunc(slices.Values(stations), byID), Officials: slices.SortedFunc(slices.Values(officials), byID)}
	copy(r.OfficialKey[:], key.Public().(ed25519.PublicKey))
	r.Sign(key)
	return idc.RegisterPolling(ctx, r.Encode())
}

// showManifest prints a manifest file for people: its fingerprint, board
// anchors, trustees, and each ballot style's contests with their
// candidates numbered as evote vote --choices and the voter CSV use them.
func showManifest(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("official show-manifest", flag.ContinueOnError)
	path := fs.String("manifest", "", "file holding the canonical manifest encoding")
	lang := fs.String("lang", "en", "language of the texts (ky, ru, uz, en)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "manifest"); err != nil {
		return err
	}
	raw, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	m, err := ballot.DecodeManifest(raw)
	if err != nil {
		return err
	}
	describeManifest(out, m, *lang)
	return nil
}

// describeCreated writes what officials hand out once an election is
// created: the log's verifier key lines (origin+keyid+base64, what
// witnesses, trustees, voters and auditors pass as --log-key) and the
// election fingerprint (short and hex), both from the manifest the box
// accepted, so that no other command is needed to publish them.
func describeCreated(out io.Writer, electionID, log string, m *ballot.Manifest) {
	f := m.Fingerprint()
	fmt.Fprintf(out, "election %s created, log %s\n", electionID, log)
	fmt.Fprintf(out, "election fingerprint (publish it: every trustee, voter and auditor checks it)\n  %s\n  %s\n", f, f.Hex())
	fmt.Fprintf(out, "log verifier key (save it as log.pub for --log-key; witnesses, trustees, voters and auditors need it):\n%s", verify.FormatLogKey(m.Board.LogVerifier()))
}

// describeCoercion says what the manifest's coercion option (spec §15.1)
// means for voters, and that this server does not run it yet.
func describeCoercion(c ballot.Coercion) string {
	if c.Mode != ballot.DeniableRevoting {
		return c.Mode.String()
	}
	return fmt.Sprintf("deniable re-voting: slots of %d s, %d rows a slot, %d rows a voter (at most %d ballots online); not run by this server yet",
		c.SlotSeconds, c.SlotRows, c.MaxBallots, c.MaxBallots-1)
}

// describeManifest writes the manifest in human terms.
func describeManifest(out io.Writer, m *ballot.Manifest, lang string) {
	f := m.Fingerprint()
	fmt.Fprintf(out, "election %s: %s\nfingerprint %s\n            %s\n", m.ElectionID, m.Title.Get(lang), f, f.Hex())
	emblem := "no emblem"
	if t := m.Authority.EmblemType(); t != "" {
		emblem = fmt.Sprintf("emblem %s, %d bytes", t, len(m.Authority.Emblem))
	}
	fmt.Fprintf(out, "authority: %s (%s)\nhelp: %s\n", m.Authority.Name.Get(lang), emblem, m.Authority.Help.Get(lang))
	fmt.Fprintf(out, "voting %s to %s (UTC); re-voting: %s\n", time.Unix(int64(m.VotingStart), 0).UTC().Format(time.DateTime), time.Unix(int64(m.VotingEnd), 0).UTC().Format(time.DateTime),
		map[ballot.RevotePolicy]string{ballot.LastBallotCounts: "the last ballot counts", ballot.SingleBallot: "one ballot only"}[m.Revote])
	fmt.Fprintf(out, "coercion resistance: %s\n", describeCoercion(m.Coercion))
	fmt.Fprintf(out, "board: log %s, witnesses (%d of %d must cosign):", m.Board.Origin, m.Board.Quorum, len(m.Board.Witnesses))
	for _, w := range m.Board.Witnesses {
		fmt.Fprintf(out, " %s", w.Name)
	}
	fmt.Fprintf(out, "\ntrustees (%d needed to decrypt, %d mixes):", m.Threshold, m.Mixes)
	for _, t := range m.Trustees {
		fmt.Fprintf(out, " %d. %s", t.Index, t.Name)
	}
	fmt.Fprintln(out)
	for _, st := range m.BallotStyles {
		c := ""
		for _, k := range m.Constituencies {
			if k.ID == st.Constituency {
				c = k.Name.Get(lang)
			}
		}
		fmt.Fprintf(out, "\nballot style %s (%s)\n", st.ID, c)
		for _, id := range st.Contests {
			ct, _ := m.Contest(id)
			rule := "one choice, or blank"
			if ct.Kind == ballot.MultiSelect {
				rule = fmt.Sprintf("up to %d", ct.MaxSelections)
			}
			fmt.Fprintf(out, "  contest %s: %s (%s)\n", ct.ID, ct.Title.Get(lang), rule)
			for i, k := range ct.Candidates {
				fmt.Fprintf(out, "    %d  %s\n", i, k.Name.Get(lang))
			}
		}
	}
	fmt.Fprintf(out, "\n(--choices 'contest=n' uses these numbers, e.g. %s=0)\n", m.BallotStyles[0].Contests[0])
}
