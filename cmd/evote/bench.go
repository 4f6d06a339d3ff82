package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/recordfile"
	"evote/client"
	"evote/election"
	"evote/idp/registry"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/official"
	"evote/record"
	"evote/trustee"
	"evote/verify"
)

// benchOptions configure "evote bench-election".
type benchOptions struct {
	Ballots     int
	DB          string // "" embedded store; postgres://… a fresh schema there
	Contests    int    // single-choice contests on the ballot
	Choices     int    // candidates in each
	Concurrency int    // simulated voters casting at once
	Record      string // where to export the record ("": a temporary directory)
	// InTurn runs the trustees' tools one after the other instead of at
	// once: each trustee has a machine of its own, and at a million
	// ballots three replays at once are three times one trustee's memory.
	InTurn bool
	// ChildMemLimit, if set, is the GOMEMLIMIT of the child processes
	// (the trustees' tools and the verifier): Go's soft memory limit.
	ChildMemLimit string
	// Part is the most voters whose credentials are issued before they
	// cast (default votePart).
	Part int
	// KDF protects the trustees' key files (default trustee.DefaultKDF).
	KDF *trustee.KDFParams
	// Self is how to run this program as a child (the trustees' tools and
	// the verifier): default os.Executable().
	Self     string
	Progress io.Writer // progress bars (standard error)
	Out      io.Writer // the summary
	Log      io.Writer // the servers' warnings
}

// benchResult is what a bench run measured and established.
type benchResult struct {
	Phases   []*phaseStat
	Expected map[string][]uint64 // contest → counts the simulated voters cast (blank first)
	Report   *verify.Report      // the verifier's, from its own process
	Load     string              // /proc/loadavg at the end
}

const benchUsage = `usage: evote bench-election [--ballots N] [--db URL] [--contests C] [--choices K] [--concurrency V] [--record DIR]

Runs a whole election on this machine and measures it: N ballots cast
through the ballot box's HTTP API by V concurrent simulated voters (their
credentials posted first, in bulk, through the identity service's route),
the close and cleansing, three trustees' tools mixing and decrypting over
HTTP (each its own process), the tally, the record exported to disk and
verified by the streaming verifier in its own process. It prints a
progress bar per phase on standard error and a summary table (wall time,
CPU and peak RSS of each phase; PostgreSQL's CPU separately), and exits
non-zero unless the verified result equals what the voters cast.
`

func benchCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "verify-child" {
		return benchVerifyChild(args[1:], out)
	}
	fs := flag.NewFlagSet("bench-election", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), benchUsage); fs.PrintDefaults() }
	o := benchOptions{Progress: os.Stderr, Out: out, Log: io.Discard}
	fs.IntVar(&o.Ballots, "ballots", 10000, "ballots cast, one per simulated voter")
	fs.StringVar(&o.DB, "db", "postgres://postgres@127.0.0.1:5432/test", `PostgreSQL URL (a fresh schema is made and dropped); "" for the embedded store`)
	fs.IntVar(&o.Contests, "contests", 1, "single-choice contests on the ballot")
	fs.IntVar(&o.Choices, "choices", 2, "candidates in each contest")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "simulated voters casting at once")
	fs.StringVar(&o.Record, "record", "", "export the record to this directory and keep it (default: a temporary one)")
	fs.BoolVar(&o.InTurn, "trustees-in-turn", false, "run the trustees' tools one after the other (each trustee has its own machine; at a million ballots three at once need three times the memory)")
	fs.StringVar(&o.ChildMemLimit, "child-gomemlimit", "", "GOMEMLIMIT of the trustees' tools and the verifier (e.g. 1800MiB)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	verbose := fs.Bool("v", false, "show the servers' warnings")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *verbose {
		o.Log = os.Stderr
	}
	res, err := runBench(ctx, o)
	if res != nil && *asJSON {
		json.NewEncoder(out).Encode(res)
	}
	return err
}

// benchVoter is what a simulated voter's identity is made of: all of it
// derives from the run's seed and the voter's number, so that nothing is
// kept per voter between the phases.
type benchVoter struct {
	pin   registry.PIN
	style string
	key   ed25519.PrivateKey
	jti   [16]byte
}

func (b *bench) voter(i int) benchVoter {
	h := func(label string) [32]byte {
		return sha256.Sum256(binary.BigEndian.AppendUint64(append(b.seed[:], label...), uint64(i)))
	}
	ks, jt := h("device"), h("token")
	// A PIN per voter: birth dates from 1950-01-01 on, 99,999 a day.
	d := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/99999)
	pin := registry.MustParsePIN(fmt.Sprintf("1%02d%02d%04d%05d", d.Day(), d.Month(), d.Year(), i%99999+1))
	return benchVoter{pin: pin, style: b.styles[i%len(b.styles)], key: ed25519.NewKeyFromSeed(ks[:]), jti: [16]byte(jt[:16])}
}

// choice is voter i's choice in contest c of k candidates: the lower of
// two draws, so that the first candidate wins visibly.
func benchChoice(seed [32]byte, i, c, k int) int {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(seed[:], uint32(c)), uint64(i)))
	return min(int(binary.BigEndian.Uint32(h[:4])%uint32(k)), int(binary.BigEndian.Uint32(h[4:8])%uint32(k)))
}

// bench is one run's state.
type bench struct {
	o        benchOptions
	env      *demoEnv
	m        *meter
	seed     [32]byte
	styles   []string
	manifest *ballot.Manifest
	fp       ballot.Fingerprint
	id       string
	off      *client.Client
	box      *client.Client
	obs      *trustee.Follower
	keys     []string // trustees' key files, each with a .pass beside it
	t0       time.Time
	end      uint64            // entries up to the result
	totpStep int64             // the time step of the last login's code
	expected [][]atomic.Uint64 // by contest, by choice+1 (0 blank)
}

// runBench runs the election and checks that the verifier's result is
// what the voters cast.
func runBench(ctx context.Context, o benchOptions) (*benchResult, error) {
	switch {
	case o.Ballots < 1:
		return nil, errors.New("bench-election: --ballots must be at least 1")
	case o.Contests < 1 || o.Contests > 64:
		return nil, errors.New("bench-election: --contests must be 1 to 64")
	case o.Choices < 2 || o.Choices > 64:
		return nil, errors.New("bench-election: --choices must be 2 to 64")
	case o.Concurrency < 1:
		return nil, errors.New("bench-election: --concurrency must be at least 1")
	}
	if o.Self == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Self = exe
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	b := &bench{o: o, m: &meter{out: o.Progress}}
	rand.Read(b.seed[:])
	// The run's PostgreSQL connections carry an application name, by which
	// their backends' CPU is found.
	app := "evote-bench-" + randomHex(4)
	dsn := o.DB
	if dsn != "" {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, fmt.Errorf("bench-election: --db: %w", err)
		}
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		dsn = u.String()
	}
	b.m.begin("setup")
	env, err := openDemoEnv(ctx, dsn, o.Log, nil)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	b.env = env
	if dsn != "" {
		if b.m.pg, err = newPGSampler(ctx, o.DB, app); err != nil {
			return nil, err
		}
		defer b.m.pg.Close()
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency + 8, MaxIdleConns: 2*o.Concurrency + 16}}
	b.box = client.New(env.boxURL)
	b.box.HTTP = hc
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	b.m.end()
	res := &benchResult{}
	steps := []struct {
		name string
		run  func(context.Context, *phaseStat) error
	}{
		{"voter list", b.voterList},
		{"credentials+cast", nil},
		{"close+cleanse", b.closeAndCleanse},
		{"mix", b.mix},
		{"decrypt", b.decrypt},
		{"tally", b.tally},
		{"export", b.export},
		{"verify", func(ctx context.Context, p *phaseStat) error {
			var err error
			res.Report, err = b.verify(ctx, p)
			return err
		}},
	}
	for _, s := range steps {
		var err error
		if s.run == nil {
			err = b.vote(ctx)
		} else {
			p := b.m.begin(s.name)
			if err = s.run(ctx, p); err != nil {
				err = fmt.Errorf("%s: %w", s.name, err)
			}
			b.m.end()
		}
		if err != nil {
			// What was measured before the failure is worth having.
			res.Phases = b.m.phases
			fmt.Fprintf(o.Out, "\nthe run failed; the phases up to the failure:\n\n")
			writeSummary(o.Out, res.Phases)
			return res, fmt.Errorf("bench-election: %w", err)
		}
	}
	res.Phases = b.m.phases
	res.Expected = map[string][]uint64{}
	for ci, c := range b.manifest.Contests {
		for j := range b.expected[ci] {
			res.Expected[c.ID] = append(res.Expected[c.ID], b.expected[ci][j].Load())
		}
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.Load = strings.Join(strings.Fields(string(la))[:3], " ")
	}
	how := "at once"
	if o.InTurn {
		how = "in turn"
	}
	if o.ChildMemLimit != "" {
		how += ", GOMEMLIMIT=" + o.ChildMemLimit
	}
	fmt.Fprintf(o.Out, "\n%d ballots, %d contest(s) of %d candidates, %d concurrent voters, store: %s, trustees' tools %s; load average at the end: %s\n\n",
		o.Ballots, o.Contests, o.Choices, o.Concurrency, b.where(), how, res.Load)
	writeSummary(o.Out, res.Phases)
	return res, b.check(res)
}

func (b *bench) where() string {
	if b.env.schema != "" {
		return "PostgreSQL"
	}
	return "embedded (SQLite)"
}

// check compares the verifier's report with what the voters cast.
func (b *bench) check(res *benchResult) error {
	r := res.Report
	if !r.OK {
		first, _ := r.First()
		return fmt.Errorf("bench-election: the record does not verify: %d failures, the first: %s", r.FailureCount, first)
	}
	if r.Counts.Counted != uint64(b.o.Ballots) {
		return fmt.Errorf("bench-election: the verifier counted %d ballots, the voters cast %d", r.Counts.Counted, b.o.Ballots)
	}
	if len(r.Result) != len(b.manifest.Contests) {
		return fmt.Errorf("bench-election: the verified result has %d contests, the ballot %d", len(r.Result), len(b.manifest.Contests))
	}
	for _, c := range r.Result {
		want, ok := res.Expected[c.Contest]
		if !ok || c.Withheld || c.Ballots != uint64(b.o.Ballots) || !slices.Equal(c.Counts, want) {
			return fmt.Errorf("bench-election: contest %s: the verified result is %d ballots %v (withheld %v), the voters cast %d ballots %v",
				c.Contest, c.Ballots, c.Counts, c.Withheld, b.o.Ballots, want)
		}
	}
	fmt.Fprintf(b.o.Out, "\nthe verified result equals what the %d voters cast:\n", b.o.Ballots)
	for _, c := range r.Result {
		fmt.Fprintf(b.o.Out, "  %s: %v (blank first)\n", c.Contest, c.Counts)
	}
	return nil
}

// benchManifest is the bench's ballot: one constituency and ballot style,
// contests single-choice contests of choices candidates each (one
// referendum question of two answers by default).
func benchManifest(electionID string, trustees []ballot.Trustee, identityKey [32]byte, anchors ballot.BoardAnchors, contests, choices int) *ballot.Manifest {
	m := ballot.SampleManifest(electionID, trustees, 2, identityKey, anchors)
	text := func(s string) ballot.Text { return ballot.Text{Ky: s, Ru: s, Uz: s, En: s} }
	m.Constituencies = []ballot.Constituency{{ID: "nation", Name: text("Nation")}}
	m.Contests = nil
	st := ballot.BallotStyle{ID: "style-nation", Constituency: "nation"}
	for c := range contests {
		ct := ballot.Contest{ID: fmt.Sprintf("question-%d", c+1), Title: text(fmt.Sprintf("Question %d", c+1)), Kind: ballot.SingleChoice, MaxSelections: 1}
		for k := range choices {
			name := fmt.Sprintf("Answer %d", k+1)
			if choices == 2 {
				name = []string{"Yes", "No"}[k]
			}
			ct.Candidates = append(ct.Candidates, ballot.Candidate{ID: fmt.Sprintf("a%d", k+1), Name: text(name)})
		}
		m.Contests = append(m.Contests, ct)
		st.Contests = append(st.Contests, ct.ID)
	}
	m.BallotStyles = []ballot.BallotStyle{st}
	return m
}

// login signs the official in (password and TOTP). A code is good once:
// a second login within the same 30-second step uses the next step's,
// which the server accepts as clock drift.
func (b *bench) login(ctx context.Context) error {
	at := time.Now()
	if step := at.Unix() / 30; step <= b.totpStep {
		at = time.Unix((b.totpStep+1)*30, 0)
	}
	code, err := official.TOTPCode(b.env.totp, at)
	if err != nil {
		return err
	}
	b.totpStep = at.Unix() / 30
	_, err = b.off.Login(ctx, "admin", b.env.adminPW, code)
	return err
}

// act asks for an official's action as act does, signing the official in
// again first if the session has ended (a session lasts 30 minutes; a
// large election's phases take longer).
func (b *bench) act(ctx context.Context, action string) (*client.PostedAnswer, error) {
	for deadline, relogged := time.Now().Add(2*time.Minute), false; ; {
		a, err := b.off.Act(ctx, b.id, action)
		switch {
		case err == nil:
			return a, nil
		case client.IsCode(err, "session_invalid") && !relogged:
			if err := b.login(ctx); err != nil {
				return nil, err
			}
			relogged = true
			continue
		case !client.IsCode(err, "not_ready") || time.Now().After(deadline):
			return nil, fmt.Errorf("action %s: %w", action, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setup signs the officials in, has the trustees make their keys and run
// key generation over HTTP, and starts the identity service.
func (b *bench) setup(ctx context.Context) error {
	env := b.env
	b.off = client.New(env.boxURL)
	if err := b.login(ctx); err != nil {
		return err
	}
	kdf := trustee.DefaultKDF
	if b.o.KDF != nil {
		kdf = *b.o.KDF
	}
	const n = 3
	var mts []ballot.Trustee
	keys := make([]*trustee.Keys, n)
	pass := make([][]byte, n)
	for i := range n {
		k, err := trustee.GenerateKeys(nil)
		if err != nil {
			return err
		}
		path := filepath.Join(env.dir, fmt.Sprintf("trustee-%d.key", i+1))
		pass[i] = []byte(randomHex(12))
		if err := k.SaveFile(path, pass[i], kdf, false); err != nil {
			return err
		}
		if err := os.WriteFile(path+".pass", pass[i], 0o600); err != nil {
			return err
		}
		keys[i], b.keys = k, append(b.keys, path)
		hp := k.HPKEPublic()
		mts = append(mts, ballot.Trustee{Index: uint32(i + 1), Name: fmt.Sprintf("Trustee %d", i+1), SignKey: k.SigningPublic(), HPKEKey: hp[:]})
	}
	b.id = "bench-" + randomHex(4)
	m := benchManifest(b.id, mts, [32]byte(env.idKey.Public().(ed25519.PublicKey)), env.keys.Anchors(demoOriginPrefix+"/"+b.id), b.o.Contests, b.o.Choices)
	now := uint64(time.Now().Unix())
	m.VotingStart, m.VotingEnd = now, now+7*86400
	if _, err := b.off.CreateElection(ctx, m.Encode()); err != nil {
		return fmt.Errorf("create election: %w", err)
	}
	b.manifest, b.fp = m, m.Fingerprint()
	for _, s := range m.BallotStyles {
		b.styles = append(b.styles, s.ID)
	}
	b.expected = make([][]atomic.Uint64, len(m.Contests))
	for ci := range b.expected {
		b.expected[ci] = make([]atomic.Uint64, b.o.Choices+1)
	}
	fp := ballot.ExpectFingerprint(b.fp)
	newBoard := func() (*client.Board, error) {
		bd, err := client.NewBoard(ctx, client.New(env.boxURL), b.id)
		if bd != nil {
			bd.Poll = 50 * time.Millisecond
		}
		return bd, err
	}
	steps := make(chan string, 16*n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			bd, err := newBoard()
			if err == nil {
				var done *trustee.Keys
				done, err = trustee.RunKeygen(ctx, bd, keys[i], trustee.Options{RoundWait: 2 * time.Minute, Fingerprint: fp, OnStep: func(s string) { steps <- s }})
				if err == nil {
					err = done.SaveFile(b.keys[i], pass[i], kdf, true)
				}
			}
			if err != nil {
				err = fmt.Errorf("trustee %d: %w", i+1, err)
			}
			errs <- err
		}()
	}
	if err := officiateKeygen(ctx, n, steps, errs, b.off, b.id, newBoard); err != nil {
		return err
	}
	bd, err := newBoard()
	if err != nil {
		return err
	}
	// The voters' devices' view of the election: a lean replay, up to the
	// context (it is not advanced past it: the verifier checks the rest).
	b.obs = trustee.NewFollower(bd)
	b.obs.Lean, b.obs.Fingerprint = true, fp
	if err := b.obs.Until(ctx, func(s *election.State) bool { return s.Phase >= election.PhaseReady }); err != nil {
		return err
	}
	idBoard := &client.IdentityBoard{C: b.box, ElectionID: b.id, Log: b.obs.Log, Key: env.idKey}
	return env.startIdentity(ctx, b.id, b.obs.State.Context.ExtendedHash, b.obs.Log, b.styles, 10, b.o.Log, idBoard, nil)
}

// listChunk is the most voters of one voter-list change the bench sends
// (the identity service takes up to voterlist.MaxItems, in a body of at
// most 64 MiB).
const listChunk = 200_000

// voterList has the list official put every simulated voter on the list
// through the identity service, in changes of listChunk voters, and opens
// voting.
func (b *bench) voterList(ctx context.Context, p *phaseStat) error {
	pr := startProgress(b.o.Progress, "voter list", int64(b.o.Ballots))
	defer pr.Finish()
	idc := client.New(b.env.idpURL)
	ext := b.obs.State.Context.ExtendedHash
	for start := 0; start < b.o.Ballots; start += listChunk {
		var items []voterlist.Item
		for i := start; i < min(start+listChunk, b.o.Ballots); i++ {
			v := b.voter(i)
			items = append(items, voterlist.Item{Op: voterlist.OpAdd, PIN: v.pin, BallotStyle: v.style})
		}
		kind := record.ListImported
		if start == 0 {
			kind = record.ListBuilt
		}
		if err := submitVoterList(ctx, idc, "list-official-1", b.env.list, b.id, ext, kind, items); err != nil {
			return err
		}
		pr.Add(int64(len(items)))
	}
	p.Items = int64(b.o.Ballots)
	_, err := b.act(ctx, "open")
	return err
}

// issuer returns a token issuer with the identity service's key whose
// token ids and times are the bench's: voter i's token can be made again
// from its number alone, in the credentials phase and in the cast.
func (b *bench) issuer(jti *[16]byte) (*token.Issuer, error) {
	return token.NewIssuer(token.IssuerConfig{Issuer: demoIssuer, Audience: demoAudience, TTL: 2 * time.Hour,
		Now: func() time.Time { return b.t0 }, Rand: (*fixedReader)(jti)}, b.env.tokKey)
}

// fixedReader reads as its 16 bytes, again and again.
type fixedReader [16]byte

func (r *fixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r[i%16]
	}
	return len(p), nil
}

// grant is voter i's token grant.
func (b *bench) grant(v *benchVoter) token.Grant {
	return token.Grant{ElectionID: b.id, ContextHash: b.obs.State.Context.ExtendedHash, Pseudonym: b.env.idpSvc.Pseudonym(v.pin),
		BallotStyle: v.style, DeviceKey: v.key.Public().(ed25519.PublicKey)}
}

// votePart is the most voters whose credentials are issued before they
// cast: a token lives at most 2 hours, and the casts of a part must
// begin and end within its tokens' lifetime.
const votePart = 100_000

// vote has the voters sign in and cast, a part of votePart voters at a
// time: the credentials of the part (one phase of the summary), then its
// casts (another).
func (b *bench) vote(ctx context.Context) error {
	part := b.o.Part
	if part <= 0 {
		part = votePart
	}
	parts := (b.o.Ballots + part - 1) / part
	for k := range parts {
		lo, hi := k*part, min((k+1)*part, b.o.Ballots)
		label := func(s string) string {
			if parts == 1 {
				return s
			}
			return fmt.Sprintf("%s %d/%d", s, k+1, parts)
		}
		for _, ph := range []struct {
			name string
			run  func(context.Context, *phaseStat, string, int, int) error
		}{{"credentials", b.credentials}, {"cast", b.cast}} {
			p := b.m.begin(ph.name)
			err := ph.run(ctx, p, label(ph.name), lo, hi)
			b.m.end()
			if err != nil {
				return fmt.Errorf("%s: %w", ph.name, err)
			}
		}
	}
	return nil
}

// credentials posts the CredentialIssued entries of voters lo to hi-1,
// signed with the identity service's board key, through the identity
// service's route of the ballot box (what the service does at each
// sign-in, here in bulk: the sign-in itself is measured elsewhere).
func (b *bench) credentials(ctx context.Context, p *phaseStat, label string, lo, hi int) error {
	b.t0 = time.Now().Truncate(time.Second)
	pr := startProgress(b.o.Progress, label, int64(hi-lo))
	defer pr.Finish()
	idBoard := &client.IdentityBoard{C: b.box, ElectionID: b.id, Log: b.obs.Log, Key: b.env.idKey}
	err := b.perVoter(ctx, lo, hi, func(i int, iss *token.Issuer, jti *[16]byte) error {
		v := b.voter(i)
		*jti = v.jti
		g := b.grant(&v)
		_, claims, err := iss.Issue(g)
		if err != nil {
			return err
		}
		ci := &record.CredentialIssued{ElectionID: b.id, ContextHash: g.ContextHash, Pseudonym: g.Pseudonym, BallotStyle: v.style,
			KeyID: claims.KeyID, IssuedAt: uint64(claims.IssuedAt.Unix()), NotBefore: uint64(claims.NotBefore.Unix()), ExpiresAt: uint64(claims.ExpiresAt.Unix()),
			DeviceKey: [32]byte(g.DeviceKey), TokenID: v.jti}
		if _, err := idBoard.Post(ctx, uint16(bulletin.TypeCredentialIssued), ci.Encode()); err != nil {
			return fmt.Errorf("voter %d: credential: %w", i, err)
		}
		pr.Add(1)
		return nil
	})
	p.Items += pr.done.Load()
	return err
}

// perVoter runs f for voters lo to hi-1 on o.Concurrency workers, each
// with its own token issuer.
func (b *bench) perVoter(ctx context.Context, lo, hi int, f func(i int, iss *token.Issuer, jti *[16]byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := atomic.Int64{}
	next.Store(int64(lo))
	errs := make(chan error, b.o.Concurrency)
	for range b.o.Concurrency {
		go func() {
			jti := new([16]byte)
			iss, err := b.issuer(jti)
			for err == nil && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= hi {
					break
				}
				err = f(i, iss, jti)
			}
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range b.o.Concurrency {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// cast has voters lo to hi-1 each encrypt a ballot on the device, sign
// it with the device key and cast it under the token, and check its
// receipt (the log's signature and the inclusion proof); each ballot
// counts in the expected result once its receipt checks.
func (b *bench) cast(ctx context.Context, p *phaseStat, label string, lo, hi int) error {
	pr := startProgress(b.o.Progress, label, int64(hi-lo))
	defer pr.Finish()
	el := b.obs.State.Election()
	anchors := &b.manifest.Board
	err := b.perVoter(ctx, lo, hi, func(i int, iss *token.Issuer, jti *[16]byte) error {
		v := b.voter(i)
		*jti = v.jti
		tok, _, err := iss.Issue(b.grant(&v))
		if err != nil {
			return err
		}
		st, _ := b.manifest.Style(v.style)
		sel := ballot.Selection{}
		choices := make([]int, len(st.Contests))
		for ci, id := range st.Contests {
			c, _ := b.manifest.Contest(id)
			choices[ci] = benchChoice(b.seed, i, ci, len(c.Candidates))
			sel[id] = []int{choices[ci]}
		}
		pb, err := el.Encrypt(v.style, [32]byte(v.key.Public().(ed25519.PublicKey)), sel, nil)
		if err != nil {
			return err
		}
		e, r, err := castBallot(ctx, b.box, b.id, b.obs.Log, &device{key: v.key, token: &client.VoterToken{Token: tok}}, pb.Ballot)
		if err != nil {
			return fmt.Errorf("voter %d: cast: %w", i, err)
		}
		if err := checkReceipt(anchors, e, r); err != nil {
			return fmt.Errorf("voter %d: %w", i, err)
		}
		for ci, id := range st.Contests {
			k := slices.IndexFunc(b.manifest.Contests, func(c ballot.Contest) bool { return c.ID == id })
			b.expected[k][choices[ci]+1].Add(1)
		}
		pr.Add(1)
		return nil
	})
	p.Items += pr.done.Load()
	return err
}

// closeAndCleanse closes voting, has the ballot box cleanse the ballots
// (the last ballot of each voter, its proofs checked again) and opens
// mixing.
func (b *bench) closeAndCleanse(ctx context.Context, p *phaseStat) error {
	pr := startProgress(b.o.Progress, "close+cleanse", 0)
	defer pr.Finish()
	for _, a := range []string{"close", "cleanse", "start-mixing"} {
		if _, err := b.act(ctx, a); err != nil {
			return err
		}
	}
	p.Items = int64(b.o.Ballots)
	return nil
}

// trustees runs "evote trustee <sub>" for every trustee, each its own
// process, and records their CPU and peak RSS.
func (b *bench) trustees(ctx context.Context, sub string) error {
	// The bar counts the rows each trustee's tool has mixed or decrypted,
	// as each finishes.
	pr := startProgress(b.o.Progress, sub, int64(len(b.keys)*b.o.Ballots))
	defer pr.Finish()
	one := func(ctx context.Context, i int) error {
		args := []string{"trustee", sub, "--key", b.keys[i], "--passphrase-file", b.keys[i] + ".pass", "--server", b.env.boxURL,
			"--election", b.id, "--round-wait", "30m", "--fingerprint", b.fp.String()}
		if err := b.child(ctx, args, io.Discard, nil); err != nil {
			return err
		}
		pr.Add(int64(b.o.Ballots))
		return nil
	}
	if !b.o.InTurn {
		return runTrustees(ctx, len(b.keys), one)
	}
	// In index order: each mixes after those before it, as at once.
	for i := range b.keys {
		if err := one(ctx, i); err != nil {
			return fmt.Errorf("trustee %d: %w", i+1, err)
		}
	}
	return nil
}

// child runs this program with args as a child process of the current
// phase; its standard output goes to out, and the progress it reports on
// standard error to pr (if not nil).
func (b *bench) child(ctx context.Context, args []string, out io.Writer, pr *progress) error {
	cmd := exec.CommandContext(ctx, b.o.Self, args...)
	cmd.Env = append(os.Environ(), benchChildEnv+"=1")
	if b.o.ChildMemLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+b.o.ChildMemLimit)
	}
	stderr := &childErr{pr: pr}
	cmd.Stdout, cmd.Stderr = out, stderr
	err := cmd.Run()
	b.m.child(cmd.ProcessState, stderr.peak)
	if err != nil {
		return fmt.Errorf("evote %s: %w: %s", args[0]+" "+args[1], err, strings.TrimSpace(stderr.text.String()))
	}
	return nil
}

// childProgress starts a child's progress line on its standard error.
const childProgress = "progress"

// childPeak starts the line with which a child reports, as it exits, its
// own resident-set high-water mark in bytes (reportChildPeak). The
// kernel's figure for a child (wait4's ru_maxrss) cannot serve: Go starts
// a child with vfork semantics, so the child's figure starts from the
// parent's high-water mark at the time of the spawn, and a trustee's tool
// started by a 6 GB bench process showed 6 GB whatever it used.
const childPeak = "peak-rss"

// reportChildPeak prints this process's resident-set high-water mark on
// standard error if it is a child of the bench (childPeak).
func reportChildPeak() {
	if os.Getenv(benchChildEnv) == "1" {
		fmt.Fprintf(os.Stderr, "%s %d\n", childPeak, peakRSS())
	}
}

// childErr keeps a child's standard error, except its progress lines,
// which it passes to pr.
type childErr struct {
	pr   *progress
	buf  []byte
	text strings.Builder
	peak int64 // the child's own peak RSS as it reported it (0: not reported)
}

func (w *childErr) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := slices.Index(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		var done, total int64
		if _, err := fmt.Sscanf(line, childProgress+" %d %d", &done, &total); err == nil && w.pr != nil {
			w.pr.set(done, total)
			continue
		}
		var peak int64
		if _, err := fmt.Sscanf(line, childPeak+" %d", &peak); err == nil {
			w.peak = peak
			continue
		}
		if w.text.Len() < 64<<10 {
			w.text.WriteString(line + "\n")
		}
	}
}

// benchChildEnv marks a child process of the bench (a test binary runs
// the evote command instead of its tests when it is set).
const benchChildEnv = "EVOTE_BENCH_CHILD"

func (b *bench) mix(ctx context.Context, p *phaseStat) error {
	p.Items = int64(b.o.Ballots) * int64(len(b.keys))
	return b.trustees(ctx, "mix")
}

func (b *bench) decrypt(ctx context.Context, p *phaseStat) error {
	if _, err := b.act(ctx, "start-decrypting"); err != nil {
		return err
	}
	p.Items = int64(b.o.Ballots) * int64(len(b.keys)) // a share of each row by each trustee
	return b.trustees(ctx, "decrypt")
}

// tally has the officials publish the result.
func (b *bench) tally(ctx context.Context, p *phaseStat) error {
	pr := startProgress(b.o.Progress, "tally", 0)
	defer pr.Finish()
	a, err := b.act(ctx, "tally")
	if err != nil {
		return err
	}
	b.end = a.Index + 1
	return nil
}

// signedRecord waits until the board's latest signed checkpoint covers
// the first end entries (the result) and returns it with a reader of the
// entries it covers.
func (b *bench) signedRecord(ctx context.Context, hc *http.Client, board string, progress func(done, total uint64)) ([]byte, io.Reader, error) {
	for {
		note, r, err := verify.FetchStream(ctx, hc, board, progress)
		if err != nil {
			return nil, nil, err
		}
		n, err := bulletin.ParseNote(note)
		if err != nil {
			return nil, nil, err
		}
		cp, err := bulletin.ParseCheckpoint(n.Body)
		if err != nil {
			return nil, nil, err
		}
		if cp.Size >= b.end {
			return note, r, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// export downloads the record through the public board API, streaming it
// to disk (the checkpoint and entries.bin of §7.8).
func (b *bench) export(ctx context.Context, p *phaseStat) error {
	dir := b.o.Record
	if dir == "" {
		dir = filepath.Join(b.env.dir, "record")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	fp := ballot.ExpectFingerprint(b.fp)
	hc := &http.Client{}
	board, err := verify.FindBoard(ctx, hc, b.env.boxURL, fp)
	if err != nil {
		return err
	}
	var pr *progress
	note, r, err := b.signedRecord(ctx, hc, board, func(done, total uint64) {
		if pr == nil {
			pr = startProgress(b.o.Progress, "export", int64(total))
		}
		pr.done.Store(int64(done))
	})
	if err != nil {
		return err
	}
	defer func() {
		if pr != nil {
			pr.Finish()
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, recordfile.CheckpointFile), note, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "fingerprint"), []byte(b.fp.String()+"\n"+b.fp.Hex()+"\n"), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, recordfile.EntriesFile))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if pr != nil {
		p.Items = pr.done.Load()
	}
	b.o.Record = dir
	return f.Close()
}

// verify runs the streaming verifier on the exported record in its own
// process and returns its report.
func (b *bench) verify(ctx context.Context, p *phaseStat) (*verify.Report, error) {
	pr := startProgress(b.o.Progress, "verify", 0)
	defer pr.Finish()
	var out strings.Builder
	if err := b.child(ctx, []string{"bench-election", "verify-child", "--fingerprint", b.fp.String(), b.o.Record}, &out, pr); err != nil {
		return nil, err
	}
	var r verify.Report
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		return nil, fmt.Errorf("the verifier's report: %w", err)
	}
	p.Items = int64(r.Counts.Entries)
	return &r, nil
}

// benchVerifyChild is the verifier's process: it verifies a record with
// the streaming verifier (as evote-verify does) and prints the report as
// JSON.
func benchVerifyChild(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench-election verify-child", flag.ContinueOnError)
	fingerprint := fs.String("fingerprint", "", "the election's fingerprint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("bench-election verify-child: want one record directory")
	}
	fp, err := ballot.ParseFingerprint(*fingerprint)
	if err != nil {
		return err
	}
	// Progress goes to standard error as "progress DONE TOTAL" lines, at
	// most one a second, for the bench's progress bar.
	var last time.Time
	progress := func(stage string, done, total uint64) {
		if now := time.Now(); now.Sub(last) >= time.Second || done == total {
			last = now
			fmt.Fprintf(os.Stderr, "%s %d %d\n", childProgress, done, total)
		}
	}
	rep, err := verify.VerifyPath(fs.Arg(0), verify.Options{Fingerprint: fp, Progress: progress})
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(rep)
}
