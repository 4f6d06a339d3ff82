package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/recordfile"
	"evote/client"
	"evote/election"
	"evote/idp"
	"evote/idp/registry"
	"evote/idp/voterlist"
	"evote/official"
	"evote/record"
	"evote/station"
	"evote/tally"
	"evote/trustee"
	"evote/verify"
	"evote/web"
)

// demoOptions configure a demo election.
type demoOptions struct {
	Voters   int
	DB       string // "" embedded store; postgres://… a fresh schema there
	Record   string // directory to export the public record to
	Trustees int
	// KDF protects the trustees' key files (default trustee.DefaultKDF;
	// tests use a cheaper one).
	KDF *trustee.KDFParams
	// ExtraVoter, if set, is one more voter run by the caller (a test of
	// the voter's commands) while voting is open; it returns what that
	// voter cast, which then counts in the expected result.
	ExtraVoter func(ctx context.Context, v *extraVoter) (ballot.Selection, error)
	// TrusteeCLI runs the trustees' steps through the evote trustee
	// command (flags, key file and passphrase file) instead of the library,
	// and the voter list through evote official import-voters.
	TrusteeCLI bool
	// Coercion runs the election in deniable re-voting mode (spec chapter
	// 15): rows in slots, re-votes, marks as rows, the trustees' filter.
	Coercion bool
	// CrashKeygen, with TrusteeCLI, stops trustee 1's evote trustee keygen
	// right after it deals, as a crash would, and runs the command again,
	// which must resume from the state saved in the key file.
	CrashKeygen bool
	// Front, if set, wraps the ballot box's HTTP handler: a test puts a
	// lying server in front of the honest one (a forked board).
	Front func(http.Handler) http.Handler
	Out   io.Writer
	Log   io.Writer // server logs (warnings)

	// cheater (1-based; 0 for none) has its mix and decryption run by
	// cheat(step) ("mix", "decrypt") instead of the trustee's tool. Only
	// tests set them (demo_test.go): the tool itself cannot cheat.
	cheater int
	cheat   func(step string) func(context.Context, trustee.Board, *trustee.Keys, trustee.Options) error

	// In deniable re-voting mode, for the test of two boards: the
	// election's id (which seeds the simulated register), how many slots
	// each style gets before the close (0: as many as the rows need), and
	// the voters whose planned re-vote is left out.
	electionID string
	slots      int
	noRevote   map[int]bool
}

// demoResult is what the demo established.
type demoResult struct {
	ElectionID string
	Result     *tally.Result
	Expected   map[string][]uint64
	// ExpectedBallots is how many counted ballots each contest should have.
	ExpectedBallots map[string]uint64
	Report          *verify.Report
	Culprits        []election.Culprit
	Voters          int
	Revotes         int
	Audits          int
	InPerson        int
	// TallyOutput is what "evote official tally" printed.
	TallyOutput string
	Manifest    *ballot.Manifest
}

func demoCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "people" {
		return peopleCmd(args[1:], out)
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	voters := fs.Int("voters", 100, "number of simulated voters")
	db := fs.String("db", "", "PostgreSQL URL (a fresh schema is made and dropped); default: an embedded store in a temporary directory")
	rec := fs.String("record", "", "export the election's full public record to this directory")
	coercion := fs.Bool("coercion", false, "run the election in deniable re-voting mode (spec chapter 15): ballots in padded slots, re-votes, in-person marks, the trustees' filter")
	verbose := fs.Bool("v", false, "show the servers' warnings")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logw := io.Discard
	if *verbose {
		logw = os.Stderr
	}
	_, err := runDemo(ctx, demoOptions{Voters: *voters, DB: *db, Record: *rec, Coercion: *coercion, Out: out, Log: logw})
	return err
}

// voterPlan is what a simulated voter does, from its number.
func voterPlan(i int) (revote, audit, inPerson bool) {
	return i%10 == 3, i%10 == 5, i%25 == 7
}

// runDemo runs a whole election over HTTP on loopback and checks that the
// published result equals what the simulated voters meant and that the
// auditor's verifier accepts the record. Its phases are the methods of
// demoRun, in the order an election goes through them.
func runDemo(ctx context.Context, o demoOptions) (*demoResult, error) {
	if o.Voters < 1 {
		return nil, errors.New("demo: --voters must be at least 1")
	}
	if o.Trustees == 0 {
		o.Trustees = 3
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	r := &demoRun{o: o, kdf: trustee.DefaultKDF, start: time.Now(), n: o.Trustees, th: 2}
	if o.KDF != nil {
		r.kdf = *o.KDF
	}
	env, err := openDemoEnv(ctx, o.DB, o.Log, o.Front)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	r.env = env
	closeAndMix := r.closeAndMix
	if o.Coercion {
		closeAndMix = r.closeAndFilter
	}
	for _, phase := range []func(context.Context) error{
		r.signInOfficials,
		r.makeTrusteeKeys,
		r.createElection,
		r.keygen,
		r.openVoting,
		r.castVotes,
		closeAndMix,
		r.decryptAndTally,
	} {
		if err := phase(ctx); err != nil {
			return nil, err
		}
	}
	return r.audit(ctx)
}

// demoRun is one demo election: what its phases share.
type demoRun struct {
	o     demoOptions
	kdf   trustee.KDFParams
	start time.Time
	sayMu sync.Mutex // progress comes from concurrent voters
	env   *demoEnv

	off, box *client.Client // the officials' session; anyone's client
	n, th    int            // trustees, threshold
	machines []*trusteeMachine
	mts      []ballot.Trustee

	electionID  string
	m           *ballot.Manifest
	fingerprint ballot.Fingerprint
	fp          ballot.ExpectedFingerprint
	anchors     *ballot.BoardAnchors
	lv          bulletin.LogVerifier

	// f is the replay that plays the voters' devices and the observers.
	f   *trustee.Follower
	ext [32]byte
	idc *client.Client
	// people are the eligible simulated people; voter i is people[i].
	people []*registry.SimPerson
	el     *ballot.Election

	res      *demoResult
	mu       sync.Mutex // guards intended and audited
	observer sync.Mutex // guards f while voters use it
	intended map[string]demoIntent
	audited  []ballot.ShownCode // tracking codes of the audited ballots
	rows     []string           // hashes of the rows cast (deniable re-voting)
	rowBytes map[string][]byte  // each row cast, by its hash
}

// trusteeMachine is one trustee's own machine: its key file and replay.
type trusteeMachine struct {
	path     string
	pass     []byte
	passFile string
	keys     *trustee.Keys
	replay   *trustee.Follower // the machine's own replay of the board
}

// demoIntent is what one voter meant: the style and the final selection.
type demoIntent struct {
	style string
	sel   ballot.Selection
}

// demoCodeRe finds the one-time code in a texted message.
var demoCodeRe = regexp.MustCompile(`(\d{6})`)

// say prints one line of progress, with the time since the start.
func (r *demoRun) say(format string, a ...any) {
	r.sayMu.Lock()
	defer r.sayMu.Unlock()
	fmt.Fprintf(r.o.Out, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, a...))
}

// signInOfficials announces the ballot box and signs the officials in with
// password and TOTP.
func (r *demoRun) signInOfficials(ctx context.Context) error {
	where := "embedded store in " + r.env.dir
	if r.env.schema != "" {
		where = "PostgreSQL schema " + r.env.schema
	}
	r.say("ballot box on %s (%s)", r.env.boxURL, where)
	r.off = client.New(r.env.boxURL)
	r.box = client.New(r.env.boxURL)
	code, err := official.TOTPCode(r.env.totp, time.Now())
	if err != nil {
		return err
	}
	_, err = r.off.Login(ctx, "admin", r.env.adminPW, code)
	return err
}

// makeTrusteeKeys has the trustees make their keys on their own machines:
// key files sealed under their passphrases.
func (r *demoRun) makeTrusteeKeys(context.Context) error {
	r.machines = make([]*trusteeMachine, r.n)
	for i := range r.machines {
		k, err := trustee.GenerateKeys(nil)
		if err != nil {
			return err
		}
		tm := &trusteeMachine{path: filepath.Join(r.env.dir, fmt.Sprintf("trustee-%d.key", i+1)), pass: []byte(randomHex(12)), keys: k}
		if err := k.SaveFile(tm.path, tm.pass, r.kdf, false); err != nil {
			return err
		}
		tm.passFile = tm.path + ".pass"
		if err := os.WriteFile(tm.passFile, tm.pass, 0o600); err != nil {
			return err
		}
		r.machines[i] = tm
		hp := k.HPKEPublic()
		r.mts = append(r.mts, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: k.SigningPublic(), HPKEKey: hp[:]})
	}
	return nil
}

// createElection has the officials create the election: three
// constituencies, a council contest each and a shared multi-select
// question.
func (r *demoRun) createElection(ctx context.Context) error {
	r.electionID = "demo-" + randomHex(4)
	if r.o.electionID != "" {
		r.electionID = r.o.electionID
	}
	m := ballot.SampleManifest(r.electionID, r.mts, uint32(r.th), [32]byte(r.env.idKey.Public().(ed25519.PublicKey)), r.env.keys.Anchors(demoOriginPrefix+"/"+r.electionID))
	now := uint64(time.Now().Unix())
	m.VotingStart, m.VotingEnd = now, now+7*86400
	m.ClientHash = web.ClientHash() // the voting page this binary embeds
	if r.o.Coercion {
		coercionManifest(m)
	}
	if r.o.cheater != 0 {
		// With a cheating mixer, the honest trustees' mixes must suffice.
		m.Mixes = uint32(r.n - 1)
	}
	r.m = m
	info, err := r.off.CreateElection(ctx, m.Encode())
	if err != nil {
		return fmt.Errorf("create election: %w", err)
	}
	r.say("election %s created: %d constituencies, %d contests, %d trustees (threshold %d)", r.electionID, len(m.Constituencies), len(m.Contests), r.n, r.th)
	// The officials publish the election's fingerprint out of band; every
	// trustee, voter and auditor below takes the log key, the witnesses and
	// the quorum from the manifest that has it, never from the server.
	r.fingerprint = m.Fingerprint()
	r.fp = ballot.ExpectFingerprint(r.fingerprint)
	if r.o.Coercion {
		r.say("deniable re-voting: slots of %d s, %d rows per slot, every voter padded to %d rows before the filter; single-choice contests only", m.Coercion.SlotSeconds, m.Coercion.SlotRows, m.Coercion.MaxBallots)
	}
	r.say("election fingerprint %s (the officials publish it)", r.fingerprint)
	if info.Origin != m.Board.Origin {
		return fmt.Errorf("demo: the ballot box keeps the election's log as %q, the manifest pins %q", info.Origin, m.Board.Origin)
	}
	r.anchors = &m.Board
	r.lv = r.anchors.LogVerifier()
	return nil
}

// evidence is trustee i's handler for a board that contradicts its
// witnessed checkpoints: it saves the evidence for the officials and
// observers.
func (r *demoRun) evidence(i int) func(*trustee.Evidence) {
	return func(ev *trustee.Evidence) {
		dir := r.env.dir
		if r.o.Record != "" {
			dir = r.o.Record // public, like the record
		}
		path := filepath.Join(dir, fmt.Sprintf("evidence-trustee-%d.json", i+1))
		b, _ := json.MarshalIndent(ev, "", "  ")
		if err := os.WriteFile(path, b, 0o644); err == nil {
			r.say("trustee %d: the board contradicts its witnessed checkpoints (%s); evidence in %s", i+1, ev.Reason, path)
		}
	}
}

// newBoard is a fresh client of the election's board, as a party's own
// machine has.
func (r *demoRun) newBoard(ctx context.Context) (*client.Board, error) {
	b, err := client.NewBoard(ctx, client.New(r.env.boxURL), r.electionID)
	if b != nil {
		b.Poll = 50 * time.Millisecond
	}
	return b, err
}

// keygen runs key generation: each trustee's tool talks to the ballot box
// over HTTP only; the officials post the qualified set and the context
// when the trustees' rounds are done. It ends with the observers' replay
// at the ready phase.
func (r *demoRun) keygen(ctx context.Context) error {
	steps := make(chan string, 16*r.n)
	errs := make(chan error, r.n)
	for i, tm := range r.machines {
		go func() {
			err := r.trusteeKeygen(ctx, i, tm, func(s string) { steps <- s })
			if err != nil {
				err = fmt.Errorf("trustee %d: %w", i+1, err)
			}
			errs <- err
		}()
	}
	newBoard := func() (*client.Board, error) { return r.newBoard(ctx) }
	if err := officiateKeygen(ctx, r.n, steps, errs, r.off, r.electionID, newBoard); err != nil {
		return err
	}
	// Every party replays the board itself; this replay plays the voters'
	// devices and the observers.
	board, err := r.newBoard(ctx)
	if err != nil {
		return err
	}
	r.f = trustee.NewFollower(board)
	r.f.Fingerprint = r.fp
	if err := r.f.Until(ctx, func(s *election.State) bool { return s.Phase >= election.PhaseReady }); err != nil {
		return err
	}
	r.ext = r.f.State.Context.ExtendedHash
	r.say("key generation done over HTTP: joint key %x…, key shares sealed in the trustees' key files", r.f.State.Context.JointKey.Bytes()[:8])
	if r.o.Coercion {
		r.say("tag keys of the %d trustees on the board, each sealed in its key file", r.n)
	}
	return nil
}

// trusteeKeygen is trustee i's key generation on its machine: through the
// CLI (crashing once first if asked), or through the library.
func (r *demoRun) trusteeKeygen(ctx context.Context, i int, tm *trusteeMachine, onStep func(string)) error {
	if r.o.TrusteeCLI {
		if r.o.CrashKeygen && i == 0 {
			if err := crashKeygen(ctx, tm.path, tm.passFile, tm.pass, r.env.boxURL, r.electionID, r.fingerprint); err != nil {
				return err
			}
		}
		return cliTrustee(ctx, "keygen", tm.path, tm.passFile, r.env.boxURL, r.electionID, r.fingerprint, onStep)
	}
	b, err := r.newBoard(ctx)
	if err != nil {
		return err
	}
	tm.replay = trustee.NewFollower(b)
	k, err := trustee.LoadFile(tm.path, tm.pass)
	if err != nil {
		return err
	}
	done, err := trustee.RunKeygen(ctx, b, k, trustee.Options{RoundWait: 2 * time.Minute, Replay: tm.replay, Fingerprint: r.fp, OnEvidence: r.evidence(i), OnStep: onStep})
	if err != nil {
		return err
	}
	tm.keys = done
	if err := done.SaveFile(tm.path, tm.pass, r.kdf, true); err != nil {
		return err
	}
	// In deniable re-voting mode the tag key follows, saved in the key
	// file before it is posted (nothing otherwise), as evote trustee
	// keygen does.
	save := func(k *trustee.Keys) error { return k.SaveFile(tm.path, tm.pass, r.kdf, true) }
	out, err := trustee.RunTagKey(ctx, b, done, trustee.Options{RoundWait: 2 * time.Minute, Replay: tm.replay, Fingerprint: r.fp, OnEvidence: r.evidence(i), SaveKeys: save})
	if err != nil {
		return fmt.Errorf("tag key: %w", err)
	}
	tm.keys = out
	return nil
}

// openVoting starts the identity service with a simulated population
// register, has the list official build the voter list from it and
// register the polling station and its official, and opens voting.
func (r *demoRun) openVoting(ctx context.Context) error {
	var styles []string
	for _, s := range r.m.BallotStyles {
		styles = append(styles, s.ID)
	}
	perStyle := (r.o.Voters/len(styles)+1)*10/6 + 10 // 6 in 10 simulated people are eligible
	idBoard := &client.IdentityBoard{C: client.NewPooled(r.env.boxURL, idp.PostConcurrency), ElectionID: r.electionID, Log: r.f.Log, Key: r.env.idKey}
	var rv *idp.RevoteConfig
	if r.o.Coercion {
		rv = &idp.RevoteConfig{PublicKey: r.f.State.Election().PublicKey, Signer: idBoard, Styles: styles,
			BoxKey: r.env.keys.Authority.Public().(ed25519.PublicKey), MaxBallots: int(r.m.Coercion.MaxBallots)}
	}
	if err := r.env.startIdentity(ctx, r.electionID, r.ext, r.f.Log, styles, perStyle, r.o.Log, idBoard, rv); err != nil {
		return err
	}
	r.idc = client.New(r.env.idpURL)
	r.say("identity service on %s (simulated register, %d people)", r.env.idpURL, perStyle*len(styles))

	// The list official builds the voter list from the register.
	r.people = eligiblePeople(r.env.sim, styles)
	if len(r.people) < r.o.Voters {
		return fmt.Errorf("demo: only %d eligible people for %d voters", len(r.people), r.o.Voters)
	}
	var regs []registry.Citizen
	for _, p := range r.people {
		regs = append(regs, p.Citizen)
	}
	items := voterlist.FromRegister(regs, time.Now().UTC().Truncate(24*time.Hour))
	var err error
	if r.o.TrusteeCLI {
		// Through "evote official import-voters", from a CSV file.
		err = importVotersCLI(ctx, r.env, r.electionID, items)
	} else {
		err = submitVoterList(ctx, r.idc, "list-official-1", r.env.list, r.electionID, r.ext, record.ListBuilt, items)
	}
	if err != nil {
		return fmt.Errorf("voter list: %w", err)
	}
	// The list official registers the polling station and its official on
	// the board: in-person marks are accepted only from registered keys.
	stations := []record.PollingKey{{ID: "station-bishkek-1", Key: [32]byte(r.env.station.Public().(ed25519.PublicKey))}}
	pollers := []record.PollingKey{{ID: "poll-official-1", Key: [32]byte(r.env.poll.Public().(ed25519.PublicKey))}}
	if r.o.TrusteeCLI {
		err = registerPollingCLI(ctx, r.env, r.electionID, stations, pollers)
	} else {
		err = submitPolling(ctx, r.idc, "list-official-1", r.env.list, r.electionID, r.ext, stations, pollers)
	}
	if err != nil {
		return fmt.Errorf("polling registration: %w", err)
	}
	if err := act(ctx, r.off, r.electionID, "open"); err != nil {
		return err
	}
	if err := r.f.Sync(ctx); err != nil {
		return err
	}
	r.el = r.f.State.Election()
	r.say("voter list of %d built, polling station and official registered; voting open", len(r.people))
	return nil
}

// castVotes runs the voters, 16 at a time, and the caller's extra voter if
// any; it records what each meant.
func (r *demoRun) castVotes(ctx context.Context) error {
	r.res = &demoResult{ElectionID: r.electionID, Voters: r.o.Voters}
	r.intended = map[string]demoIntent{}
	if r.o.ExtraVoter != nil {
		if err := r.extraVoter(ctx); err != nil {
			return err
		}
	}
	for i := range r.o.Voters {
		rv, a, p := voterPlan(i)
		r.res.Revotes += b2i(rv && !r.o.noRevote[i])
		r.res.Audits += b2i(a)
		r.res.InPerson += b2i(p)
	}
	vote := r.vote
	if r.o.Coercion {
		vote = r.voteRows
	}
	if err := parallel(ctx, r.o.Voters, 16, func(i int) error {
		if err := vote(ctx, i, r.people[i]); err != nil {
			return fmt.Errorf("voter %d: %w", i, err)
		}
		return nil
	}, func(done int) {
		if done%max(1, r.o.Voters/10) == 0 || done == r.o.Voters {
			r.say("voters: %d of %d done", done, r.o.Voters)
		}
	}); err != nil {
		return err
	}
	if r.o.Coercion {
		r.say("%d voters signed in and cast a row each (%d re-voted from a second device, %d also voted in person: a mark's row from the station's device)", r.o.Voters, r.res.Revotes, r.res.InPerson)
		return r.publishSlots(ctx)
	}
	r.say("%d voters signed in and cast (%d re-voted from a second device, %d audited a ballot first, %d also voted in person)", r.o.Voters, r.res.Revotes, r.res.Audits, r.res.InPerson)
	return nil
}

// extraVoter runs the caller's extra voter on the first eligible person no
// simulated voter uses.
func (r *demoRun) extraVoter(ctx context.Context) error {
	if len(r.people) <= r.o.Voters {
		return errors.New("demo: no eligible person left for the extra voter")
	}
	p := r.people[r.o.Voters]
	ev := &extraVoter{BoxURL: r.env.boxURL, IdpURL: r.env.idpURL, ElectionID: r.electionID, Person: p, LogKey: verify.FormatLogKey(r.lv), Fingerprint: r.fingerprint,
		Code: func() string { return demoCodeRe.FindString(r.env.sms.Last(p.Phone).Text) }, Messages: func() int { return len(r.env.sms.Messages(p.Phone)) },
		StationID: "station-bishkek-1", OfficialID: "poll-official-1",
		StationKeyFile: filepath.Join(r.env.dir, "station.key"), OfficialKeyFile: filepath.Join(r.env.dir, "poll-official.key")}
	for path, k := range map[string]ed25519.PrivateKey{ev.StationKeyFile: r.env.station, ev.OfficialKeyFile: r.env.poll} {
		if err := os.WriteFile(path, []byte(hex.EncodeToString(k.Seed())+"\n"), 0o600); err != nil {
			return err
		}
	}
	ev.SignIn = func(ctx context.Context) (string, func(ballot.Selection) error, error) {
		d, err := r.signIn(ctx, p)
		if err != nil {
			return "", nil, err
		}
		return d.token.Pseudonym, func(sel ballot.Selection) error {
			if r.o.Coercion {
				return r.castRow(ctx, d, d.token.BallotStyle, sel, "cast")
			}
			return r.cast(ctx, d, d.token.BallotStyle, sel, "cast")
		}, nil
	}
	sel, err := r.o.ExtraVoter(ctx, ev)
	if err != nil {
		return fmt.Errorf("extra voter: %w", err)
	}
	if ev.Pseudonym == "" {
		return errors.New("extra voter: no pseudonym")
	}
	if !ev.InPerson {
		r.intended[ev.Pseudonym] = demoIntent{p.Constituency, sel}
	}
	return nil
}

// signIn signs simulated person p in on a new device, with the code texted
// to p's phone.
func (r *demoRun) signIn(ctx context.Context, p *registry.SimPerson) (*device, error) {
	ch, err := r.idc.StartAuth(ctx, p.PIN.Digits(), p.DocumentNumber, p.BirthDate.Format(time.DateOnly), "")
	if err != nil {
		return nil, fmt.Errorf("sign-in: %w", err)
	}
	c := demoCodeRe.FindString(r.env.sms.Last(p.Phone).Text)
	d := &device{key: newKey()}
	if d.token, err = r.idc.VerifyAuth(ctx, ch.ChallengeID, c, d.key.Public().(ed25519.PublicKey)); err != nil {
		return nil, fmt.Errorf("second factor: %w", err)
	}
	return d, nil
}

// vote is simulated voter i, person p, following voterPlan(i): it may
// audit a ballot first, re-vote from a second device and vote in person.
func (r *demoRun) vote(ctx context.Context, i int, p *registry.SimPerson) error {
	revote, audit, inPerson := voterPlan(i)
	d, err := r.signIn(ctx, p)
	if err != nil {
		return err
	}
	style := d.token.BallotStyle
	if audit {
		if err := r.auditBallot(ctx, i, d, style); err != nil {
			return err
		}
	}
	sel := demoSelection(r.m, i, style)
	if err := r.cast(ctx, d, style, sel, "cast"); err != nil {
		return err
	}
	if revote {
		// Later, from another device: a new sign-in and a new ballot,
		// which replaces the first.
		d2, err := r.signIn(ctx, p)
		if err != nil {
			return err
		}
		sel = demoSelection(r.m, i+3, style)
		if err := r.cast(ctx, d2, style, sel, "re-vote"); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.intended[d.token.Pseudonym] = demoIntent{style, sel}
	r.mu.Unlock()
	if inPerson {
		return r.voteInPerson(ctx, d.token.Pseudonym, style)
	}
	return nil
}

// cast encrypts sel on device d, casts it and checks the receipt; what
// names the step in an error.
func (r *demoRun) cast(ctx context.Context, d *device, style string, sel ballot.Selection, what string) error {
	pb, err := r.el.Encrypt(style, d.pub(), sel, nil)
	if err != nil {
		return err
	}
	e, rc, err := castBallot(ctx, r.box, r.electionID, r.f.Log, d, pb.Ballot)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return checkReceipt(r.anchors, e, rc)
}

// auditBallot prepares a ballot, audits it, and checks the opening on the
// board as the voter's second device would.
func (r *demoRun) auditBallot(ctx context.Context, i int, d *device, style string) error {
	pb, err := r.el.Encrypt(style, d.pub(), demoSelection(r.m, i+1, style), nil)
	if err != nil {
		return err
	}
	if _, err := r.box.Audit(ctx, r.electionID, d.token.Token, pb.Audit().Encode(), pb.Ballot.Encode()); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return r.secondDeviceAudit(ctx, pb.Ballot.TrackingCode().Shown(), nil, pb.Audit())
}

// secondDeviceAudit is the voter's second device checking an accepted
// audit from its tracking code alone, at once, while it waits to be
// published (one observer's replay, advanced under a lock, stands for
// every voter's second device): what the box serves by the code must be
// the audit of the prepared ballot (with saved, of exactly those prepared
// bytes) and open to what the device prepared, opened. The code is kept
// to be checked again after the close.
func (r *demoRun) secondDeviceAudit(ctx context.Context, shown ballot.ShownCode, saved []byte, opened *ballot.AuditedBallot) error {
	a, err := r.box.AuditByCode(ctx, r.electionID, shown.String())
	if err != nil {
		return fmt.Errorf("audit lookup: %w", err)
	}
	r.observer.Lock()
	var desc []string
	if err = r.f.Sync(ctx); err == nil {
		desc, err = checkAudit(ctx, r.f, a, shown, saved, "en")
	}
	r.observer.Unlock()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.audited = append(r.audited, shown)
	r.mu.Unlock()
	if want, _ := opened.Describe(r.m, "en"); !slices.Equal(desc, want) {
		return fmt.Errorf("audit: the board opens to %v, the device prepared %v", desc, want)
	}
	return nil
}

// voteInPerson has the voter with that pseudonym (hex) also vote at a
// polling station, which overrides their online ballots: the station's
// device marks them (package station, as evote station mark does), in
// the election's mode; a mark's row, in deniable re-voting mode, is kept
// for its receipt.
func (r *demoRun) voteInPerson(ctx context.Context, pseudonym, style string) error {
	ps, err := station.ParsePseudonym(pseudonym)
	if err != nil {
		return err
	}
	st := &station.Station{ElectionID: r.electionID, StationID: "station-bishkek-1", StationKey: r.env.station, OfficialID: "poll-official-1", OfficialKey: r.env.poll,
		Box: r.box, Identity: r.idc, Board: r.f}
	// The replay is shared with the observers, who sync it.
	r.observer.Lock()
	res, err := st.Mark(ctx, &station.Voter{Pseudonym: ps, BallotStyle: style})
	r.observer.Unlock()
	if err != nil {
		return fmt.Errorf("in-person mark: %w", err)
	}
	if res.Revote {
		r.keepRow(res.Receipt.RowHash, res.Row)
	}
	r.mu.Lock()
	delete(r.intended, pseudonym)
	r.mu.Unlock()
	return nil
}

// closeAndMix closes voting (checking that every audit was published
// before the close), cleanses and has the trustees mix.
func (r *demoRun) closeAndMix(ctx context.Context) error {
	for _, a := range []string{"close", "cleanse", "start-mixing"} {
		if err := act(ctx, r.off, r.electionID, a); err != nil {
			return err
		}
		if a == "close" {
			if err := checkAuditsPublished(ctx, r.box, r.electionID, r.f, r.audited); err != nil {
				return err
			}
			r.say("audits published before the close: %d, in %d shuffled batch(es); each checked again from its tracking code, with its inclusion proof", len(r.audited), auditBatches(r.f.Entries))
		}
	}
	if err := r.tallyStep(ctx, "mix", trustee.RunMix); err != nil {
		return err
	}
	r.say("mixed: each trustee verified the cleansing and every earlier mix, then shuffled")
	return nil
}

// tallyStep runs every trustee's mix or decryption: through the CLI, or
// through the library with its own board client and key file.
func (r *demoRun) tallyStep(ctx context.Context, sub string, run func(context.Context, trustee.Board, *trustee.Keys, trustee.Options) error) error {
	return runTrustees(ctx, r.n, func(ctx context.Context, i int) error {
		tm := r.machines[i]
		if r.o.TrusteeCLI {
			return cliTrustee(ctx, sub, tm.path, tm.passFile, r.env.boxURL, r.electionID, r.fingerprint, nil)
		}
		b, err := r.newBoard(ctx)
		if err != nil {
			return err
		}
		k, err := trustee.LoadFile(tm.path, tm.pass)
		if err != nil {
			return err
		}
		step := run
		if r.o.cheater == i+1 {
			step = r.o.cheat(sub)
		}
		o := trustee.Options{RoundWait: 2 * time.Minute, Replay: tm.replay, Fingerprint: r.fp, OnEvidence: r.evidence(i)}
		if sub == "mix" {
			// Deniable re-voting: the trustee's part of every style's
			// filter and roll call first (nothing otherwise), as evote
			// trustee mix does.
			if err := trustee.RunFilter(ctx, b, k, o); err != nil {
				return err
			}
		}
		return step(ctx, b, k, o)
	})
}

// decryptAndTally has the trustees decrypt and the officials tally through
// their command, as an official types it (it prints the result with the
// candidates' names), and reads the result off the board.
func (r *demoRun) decryptAndTally(ctx context.Context) error {
	if err := act(ctx, r.off, r.electionID, "start-decrypting"); err != nil {
		return err
	}
	if err := r.tallyStep(ctx, "decrypt", trustee.RunDecrypt); err != nil {
		return err
	}
	sessionFile := filepath.Join(r.env.dir, "official-session")
	if err := os.WriteFile(sessionFile, []byte(r.off.Token), 0o600); err != nil {
		return err
	}
	var tallyOut strings.Builder
	for deadline := time.Now().Add(2 * time.Minute); ; {
		tallyOut.Reset()
		err := run(ctx, []string{"official", "tally", "--server", r.env.boxURL, "--election", r.electionID, "--session", sessionFile}, &tallyOut)
		if err == nil {
			break
		}
		if !client.IsCode(err, "not_ready") || time.Now().After(deadline) {
			return fmt.Errorf("demo: evote official tally: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.res.TallyOutput = tallyOut.String()
	if err := r.f.Sync(ctx); err != nil {
		return err
	}
	if r.f.State.Phase != election.PhaseTallied || r.f.State.Result == nil {
		return fmt.Errorf("demo: the board is in phase %s after the tally", r.f.State.Phase)
	}
	r.res.Result, r.res.Culprits, r.res.Manifest = r.f.State.Result, r.f.State.Culprits, r.f.State.Manifest
	r.say("decrypted and published (%d board entries)", len(r.f.Entries))
	for _, c := range r.res.Culprits {
		r.say("culprit named on the board: %s", c)
	}
	return nil
}

// audit is the auditor: it exports the record over the public API,
// verifies it with the verifier's library, and compares the result with
// what the voters meant.
func (r *demoRun) audit(ctx context.Context) (*demoResult, error) {
	res := r.res
	note, entries, err := r.box.Record(ctx, r.electionID)
	if err != nil {
		return nil, err
	}
	if r.o.Record != "" {
		if err := writeRecord(r.o.Record, note, entries, r.fingerprint, r.lv); err != nil {
			return nil, err
		}
		r.say("public record exported to %s; verify it with: evote-verify --fingerprint %s %s", r.o.Record, r.fingerprint, r.o.Record)
	}
	res.Report = verify.Verify(&verify.Record{Checkpoint: note, Entries: entries}, verify.Options{Fingerprint: r.fp})
	res.Expected, res.ExpectedBallots = expectedCounts(r.m, r.intended)
	ok := printResult(r.o.Out, r.m, res)
	verified := recordVerified(res.Report, res.Culprits)
	if verified {
		if r.o.Coercion {
			c := res.Report.Counts
			r.say("record verified by the auditor's verifier: %d entries, %d slots of %d rows in all, %d voters kept by the filter, %d mixes, %d decryption shares", c.Entries, c.RevoteSlots, c.RevoteRows, c.RevoteVoters, c.Mixes, c.Shares)
		} else {
			r.say("record verified by the auditor's verifier: %d entries, %d ballots, %d counted, %d mixes, %d decryption shares", res.Report.Counts.Entries, res.Report.Counts.Ballots, res.Report.Counts.Counted, res.Report.Counts.Mixes, res.Report.Counts.Shares)
		}
		for _, n := range res.Report.Notes {
			r.say("verifier's note: %s", n)
		}
	} else {
		for _, fl := range res.Report.Failures[:min(10, len(res.Report.Failures))] {
			r.say("VERIFY FAILED: %s", fl)
		}
	}
	if !ok || !verified {
		return res, fmt.Errorf("%w: counts match: %v, record verified: %v", errDemo, ok, verified)
	}
	r.say("counts equal what the voters meant; the record verifies")
	return res, nil
}

// expectedCounts is what the voters meant: per contest, the count of each
// choice (a single-choice contest's first count is the blank ballots) and
// how many ballots it should count.
func expectedCounts(m *ballot.Manifest, intended map[string]demoIntent) (map[string][]uint64, map[string]uint64) {
	expected, ballots := map[string][]uint64{}, map[string]uint64{}
	for ci := range m.Contests {
		c := &m.Contests[ci]
		k := len(c.Candidates)
		if c.Kind == ballot.SingleChoice {
			k++
		}
		counts := make([]uint64, k)
		for _, in := range intended {
			st, _ := m.Style(in.style)
			if !slices.Contains(st.Contests, c.ID) {
				continue
			}
			ballots[c.ID]++
			chosen := in.sel[c.ID]
			if c.Kind == ballot.SingleChoice {
				if len(chosen) == 0 {
					counts[0]++
				} else {
					counts[chosen[0]+1]++
				}
				continue
			}
			for _, j := range chosen {
				counts[j]++
			}
		}
		expected[c.ID] = counts
	}
	return expected, ballots
}

// recordVerified reports whether the verifier accepted the record: every
// check holds, except that a trustee's invalid mix or decryption share is a
// finding against that trustee (named on the board, ignored by the tally),
// not a fault of the record, as long as exactly the culprits the board
// names are reported and the result still checks.
func recordVerified(r *verify.Report, culprits []election.Culprit) bool {
	if r.OK {
		return true
	}
	if r.FailureCount != uint64(len(r.Failures)) || len(r.Failures) != len(culprits) || r.Failed(verify.CheckResult) {
		return false
	}
	named := map[int64]bool{}
	for _, c := range culprits {
		named[int64(c.Position)] = true
	}
	for _, f := range r.Failures {
		if (f.Check != verify.CheckMixProof && f.Check != verify.CheckDecryptionProof) || !named[f.Entry] {
			return false
		}
	}
	return r.Phase == election.PhaseTallied.String()
}

// extraVoter is what a caller-run voter needs: the services, a person of
// the register, and the texts the identity service sends to the person's
// phone. The caller sets Pseudonym from its receipt.
type extraVoter struct {
	BoxURL, IdpURL, ElectionID string
	Person                     *registry.SimPerson
	LogKey                     string // the log's verifier key text
	Fingerprint                ballot.Fingerprint
	Code                       func() string // the last code texted to the person
	Messages                   func() int    // how many texts the person got
	Pseudonym                  string
	// The registered polling station and official: ids and seed files
	// (hex), for evote station.
	StationID, OfficialID           string
	StationKeyFile, OfficialKeyFile string
	// SignIn signs the person in on a new device as the demo's voters do
	// and returns the pseudonym and the device's cast of sel (a ballot,
	// or a row in deniable re-voting mode).
	SignIn func(ctx context.Context) (pseudonym string, cast func(ballot.Selection) error, err error)
	// InPerson is set by the caller when the person voted in person: no
	// online ballot of theirs counts.
	InPerson bool
}

// registerPollingCLI runs "evote official register-polling" with the list
// official's key file (written by importVotersCLI).
func registerPollingCLI(ctx context.Context, env *demoEnv, electionID string, stations, officials []record.PollingKey) error {
	args := []string{"official", "register-polling", "--server", env.boxURL, "--idp", env.idpURL, "--election", electionID,
		"--official", "list-official-1", "--official-key", filepath.Join(env.dir, "list-official.key")}
	for _, k := range stations {
		args = append(args, "--station", k.ID+"="+hex.EncodeToString(k.Key[:]))
	}
	for _, k := range officials {
		args = append(args, "--polling-official", k.ID+"="+hex.EncodeToString(k.Key[:]))
	}
	return run(ctx, args, io.Discard)
}

// importVotersCLI writes the list as the CSV an election official would
// export and the list official's key to files, and runs
// "evote official import-voters --kind build".
func importVotersCLI(ctx context.Context, env *demoEnv, electionID string, items []voterlist.Item) error {
	var csv strings.Builder
	csv.WriteString("pin,ballot_style,phone\n")
	for _, it := range items {
		fmt.Fprintf(&csv, "%s,%s,%s\n", it.PIN.Digits(), it.BallotStyle, it.Phone)
	}
	csvPath, keyPath := filepath.Join(env.dir, "voters.csv"), filepath.Join(env.dir, "list-official.key")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, []byte(hex.EncodeToString(env.list.Seed())+"\n"), 0o600); err != nil {
		return err
	}
	return run(ctx, []string{"official", "import-voters", "--server", env.boxURL, "--idp", env.idpURL, "--election", electionID,
		"--official", "list-official-1", "--official-key", keyPath, "--csv", csvPath, "--kind", "build"}, io.Discard)
}

// cliTrustee runs "evote trustee <sub>" as a trustee would type it,
// passing each "trustee: <step>" line it prints to onStep.
func cliTrustee(ctx context.Context, sub, key, passFile, server, electionID string, fp ballot.Fingerprint, onStep func(string)) error {
	w := &stepWriter{onStep: onStep}
	args := []string{"trustee", sub, "--key", key, "--passphrase-file", passFile, "--server", server, "--election", electionID, "--round-wait", "2m", "--fingerprint", fp.String()}
	return run(ctx, args, w)
}

// crashKeygen runs evote trustee keygen until it has dealt and then
// cancels it, and checks that the key file now holds the key-generation
// state from which the next run resumes.
func crashKeygen(ctx context.Context, key, passFile string, pass []byte, server, electionID string, fp ballot.Fingerprint) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := cliTrustee(cctx, "keygen", key, passFile, server, electionID, fp, func(s string) {
		if s == trustee.StepDealt {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		return fmt.Errorf("keygen stopped after dealing: %v, want it cancelled", err)
	}
	k, err := trustee.LoadFile(key, pass)
	if err != nil {
		return err
	}
	if k.KeygenState == nil || k.Share != nil {
		return errors.New("keygen stopped after dealing left no key-generation state in the key file")
	}
	return nil
}

// stepWriter passes the steps a trustee command prints to a callback.
type stepWriter struct {
	mu     sync.Mutex
	buf    []byte
	onStep func(string)
}

func (w *stepWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if step, ok := strings.CutPrefix(line, "trustee: "); ok && w.onStep != nil {
			w.onStep(step)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// act asks for an official's action, retrying while the board is not yet
// ready for it (the identity service's key set in flight, say).
func act(ctx context.Context, off *client.Client, electionID, action string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := off.Act(ctx, electionID, action)
		if err == nil {
			return nil
		}
		if !client.IsCode(err, "not_ready") || time.Now().After(deadline) {
			return fmt.Errorf("action %s: %w", action, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runTrustees runs f for each trustee concurrently; the first to fail
// stops the others (a trustee that finds the board lying is a reason for
// everyone to stop), and its error is returned.
func runTrustees(ctx context.Context, n int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			if err := f(ctx, i); err != nil {
				errs <- fmt.Errorf("trustee %d: %w", i+1, err)
				return
			}
			errs <- nil
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// parallel runs f(0..n-1) on workers goroutines, stopping at the first
// error; progress is called after each item.
func parallel(ctx context.Context, n, workers int, f func(int) error, progress func(done int)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var mu sync.Mutex
	var first error
	done := 0
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				err := f(i)
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				done++
				d := done
				mu.Unlock()
				if err == nil {
					progress(d)
				}
			}
		}()
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		first = ctx.Err()
	}
	return first
}

// eligiblePeople returns the register's eligible people, taking the
// constituencies in turn so that every ballot style gets voters.
func eligiblePeople(sim *registry.Simulated, styles []string) []*registry.SimPerson {
	by := map[string][]*registry.SimPerson{}
	for _, p := range sim.People() {
		if p.Reason == nil {
			by[p.Constituency] = append(by[p.Constituency], p)
		}
	}
	var out []*registry.SimPerson
	for i := 0; ; i++ {
		added := false
		for _, s := range styles {
			if i < len(by[s]) {
				out = append(out, by[s][i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// submitVoterList has a list official sign a voter-list change of the
// given kind and submit it with its items to the identity service.
func submitVoterList(ctx context.Context, idc *client.Client, officialID string, key ed25519.PrivateKey, electionID string, ext [32]byte, kind uint8, items []voterlist.Item) error {
	seq, err := idc.NextListSequence(ctx)
	if err != nil {
		return err
	}
	var salt [32]byte
	rand.Read(salt[:])
	st := record.VoterListChange{ElectionID: electionID, ContextHash: ext, Sequence: seq, Kind: kind,
		OfficialID: officialID, DetailsDigest: voterlist.DetailsDigest(salt, items), ChangedAt: uint64(time.Now().Unix())}
	copy(st.OfficialKey[:], key.Public().(ed25519.PublicKey))
	st.Sign(key)
	ops := map[voterlist.Op]string{voterlist.OpAdd: "add", voterlist.OpRemove: "remove", voterlist.OpPhone: "phone"}
	var wire []client.ListItem
	for _, it := range items {
		wire = append(wire, client.ListItem{Op: ops[it.Op], PIN: it.PIN.Digits(), BallotStyle: it.BallotStyle, Phone: it.Phone})
	}
	return idc.ChangeVoterList(ctx, st.Encode(), salt, wire)
}

// demoSelection is voter i's choice, spread by a hash of i: a candidate
// or blank in each single-choice contest (earlier candidates more
// popular), up to the maximum in the multi-select one.
func demoSelection(m *ballot.Manifest, i int, style string) ballot.Selection {
	st, _ := m.Style(style)
	sel := ballot.Selection{}
	for ci, id := range st.Contests {
		c, _ := m.Contest(id)
		h := sha256.Sum256(fmt.Appendf(nil, "%d/%d", i, ci))
		if c.Kind == ballot.SingleChoice {
			n := len(c.Candidates) + 1
			// min of two draws favours low indices: a visible winner.
			if k := min(int(h[0])%n, int(h[1])%n+1) % n; k > 0 {
				sel[id] = []int{k - 1}
			}
			continue
		}
		var chosen []int
		for j := range c.Candidates {
			if h[2+j]%3 == 0 && uint32(len(chosen)) < c.MaxSelections {
				chosen = append(chosen, j)
			}
		}
		sel[id] = chosen
	}
	return sel
}

// printResult prints the result table and reports whether every count
// equals what the voters meant.
func printResult(w io.Writer, m *ballot.Manifest, res *demoResult) bool {
	ok := true
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\ncontest\tchoice\tcount\tvoters meant\t")
	for _, c := range res.Result.Contests {
		mc, _ := m.Contest(c.ContestID)
		want := res.Expected[c.ContestID]
		if c.Ballots != res.ExpectedBallots[c.ContestID] {
			fmt.Fprintf(tw, "%s\t(ballots)\t%d\t%d  <-- MISMATCH\t\n", c.ContestID, c.Ballots, res.ExpectedBallots[c.ContestID])
			ok = false
		}
		if c.Withheld {
			fmt.Fprintf(tw, "%s\t(withheld: %d ballots, under the minimum of %d)\t\t\t\n", c.ContestID, c.Ballots, m.MinAnonymity)
			ok = ok && c.Ballots < uint64(m.MinAnonymity)
			continue
		}
		for j, v := range c.Counts {
			name := ""
			switch {
			case mc.Kind == ballot.SingleChoice && j == 0:
				name = "(blank)"
			case mc.Kind == ballot.SingleChoice:
				name = mc.Candidates[j-1].Name.En
			default:
				name = mc.Candidates[j].Name.En
			}
			mark := ""
			if j >= len(want) || want[j] != v {
				mark, ok = "  <-- MISMATCH", false
			}
			var wv uint64
			if j < len(want) {
				wv = want[j]
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d%s\t\n", c.ContestID, name, v, wv, mark)
		}
		if len(c.Counts) != len(want) {
			ok = false
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	return ok
}

// writeRecord writes a record directory as the verifier reads it.
// writeRecord writes the record (§7.8) to dir, and beside it what an
// auditor needs to check it: the election's fingerprint (in a real
// election, taken from the officials' publication instead) and the log's
// verifier key.
func writeRecord(dir string, note []byte, entries [][]byte, fp ballot.Fingerprint, lv bulletin.LogVerifier) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "fingerprint"), []byte(fp.String()+"\n"+fp.Hex()+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "log.pub"), []byte(verify.FormatLogKey(lv)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, recordfile.CheckpointFile), note, 0o644); err != nil {
		return err
	}
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(len(e)))
		b = append(b, e...)
	}
	return os.WriteFile(filepath.Join(dir, recordfile.EntriesFile), b, 0o644)
}

// checkAuditsPublished checks, after the close, that every audit is on the
// board, by its tracking code, with a valid inclusion proof.
func checkAuditsPublished(ctx context.Context, box *client.Client, electionID string, f *trustee.Follower, codes []ballot.ShownCode) error {
	if err := f.Sync(ctx); err != nil {
		return err
	}
	for _, c := range codes {
		a, err := box.AuditByCode(ctx, electionID, c.String())
		if err != nil {
			return fmt.Errorf("audit %s: %w", c, err)
		}
		if !a.Published() {
			return fmt.Errorf("audit %s is still %s after the close", c, a.Status)
		}
		if _, err := checkAudit(ctx, f, a, c, nil, "en"); err != nil {
			return err
		}
	}
	return nil
}

// auditBatches counts the runs of consecutive audited-ballot entries.
func auditBatches(es []*bulletin.Entry) int {
	n := 0
	for i, e := range es {
		if e.Type == bulletin.TypeAuditedBallot && (i == 0 || es[i-1].Type != bulletin.TypeAuditedBallot) {
			n++
		}
	}
	return n
}
