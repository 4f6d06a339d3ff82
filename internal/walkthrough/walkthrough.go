// Package walkthrough runs the README's "A real election, step by step"
// as its parties would, each a separate process on loopback, with the
// README's own command lines (their placeholders filled in), for two
// tests: cmd/evote's TestReadmeWalkthrough (the commands built by the
// README's build line, the servers started as the README starts them) and
// deploy/debian/mkdeb's TestPackages (the installed packages, the ballot
// box and the identity service started as their systemd units would).
// They differ only in how the two servers start: [Servers].
//
// It is test machinery: only tests import it.
package walkthrough

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"evote/official"
)

// Section is the README's walkthrough: the text from its heading to
// the next heading of the same level.
func Section(t testing.TB, readme string) string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "### A real election, step by step\n")
	if !ok {
		t.Fatal("README.md: no section \"A real election, step by step\"")
	}
	s, _, _ = strings.Cut(s, "\n## ")
	return s
}

// Commands are the section's code lines (indented four spaces, or
// seven inside a numbered step), backslash continuations joined, then its
// inline code spans that run a command (`evote …`, `evoted …`).
func Commands(section string) []string {
	var cmds []string
	var cur string
	for _, l := range strings.Split(section, "\n") {
		tl := strings.TrimSpace(l)
		indent := len(l) - len(strings.TrimLeft(l, " "))
		if tl == "" || (cur == "" && indent != 4 && indent < 7) {
			continue
		}
		if strings.HasSuffix(tl, "\\") {
			cur += strings.TrimSuffix(tl, "\\")
			continue
		}
		cmds = append(cmds, cur+tl)
		cur = ""
	}
	flat := strings.Join(strings.Fields(section), " ")
	for _, m := range regexp.MustCompile("`(evote[a-z-]* [^`]*)`").FindAllStringSubmatch(flat, -1) {
		cmds = append(cmds, m[1])
	}
	return cmds
}

// Command is the README's code line that begins with prefix, its
// placeholders replaced (old, new pairs; each must occur, so that a README
// edit that drops one fails here), split into arguments; the program's
// name is kept as the first.
func Command(t testing.TB, cmds []string, prefix string, repl ...string) []string {
	t.Helper()
	for _, c := range cmds {
		if !strings.HasPrefix(c, prefix) {
			continue
		}
		for i := 0; i < len(repl); i += 2 {
			if !strings.Contains(c, repl[i]) {
				t.Fatalf("README command %q: no %q in it", c, repl[i])
			}
			c = strings.ReplaceAll(c, repl[i], repl[i+1])
		}
		return strings.Fields(c)
	}
	t.Fatalf("README.md's walkthrough has no command beginning %q; its code lines:\n%s", prefix, strings.Join(cmds, "\n"))
	return nil
}

// Party is one process of the walkthrough, its output kept.
type Party struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *Party) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Err is how the party ended (nil while it runs, or if it exited 0).
func (p *Party) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Output is what the party has printed so far.
func (p *Party) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Walk is the walkthrough's machine: the built binaries, the environment
// every command gets, and the processes started.
type Walk struct {
	T       testing.TB
	Bin     string   // where the commands are
	Env     []string // added to every command's environment
	parties []*Party
}

func (w *Walk) Cmd(ctx context.Context, dir string, args []string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(w.Bin, args[0]), args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), w.Env...), env...)
	return cmd
}

// Run runs a command to its end (two minutes at most) and returns its
// output; a failure fails the test with the output of every process.
func (w *Walk) Run(dir string, args []string, env ...string) string {
	w.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := w.Cmd(ctx, dir, args, env...).CombinedOutput()
	if err != nil {
		w.T.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, w.Logs())
	}
	return string(out)
}

// Start starts a long-running party.
func (w *Walk) Start(name, dir string, args []string, env ...string) *Party {
	w.T.Helper()
	p, _ := w.StartInput(name, dir, args, false, env...)
	return p
}

// StartInput starts a party, with a pipe to its standard input if asked.
func (w *Walk) StartInput(name, dir string, args []string, input bool, env ...string) (*Party, io.WriteCloser) {
	w.T.Helper()
	p := &Party{name: name, done: make(chan struct{})}
	p.cmd = w.Cmd(context.Background(), dir, args, env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	var in io.WriteCloser
	if input {
		var err error
		if in, err = p.cmd.StdinPipe(); err != nil {
			w.T.Fatal(err)
		}
	}
	if err := p.cmd.Start(); err != nil {
		w.T.Fatalf("%s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	w.parties = append(w.parties, p)
	return p, in
}

// Wait waits for a party to end successfully.
func (w *Walk) Wait(p *Party, d time.Duration) {
	w.T.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			w.T.Fatalf("%s: %v%s", p.name, p.err, w.Logs())
		}
	case <-time.After(d):
		w.T.Fatalf("%s did not finish in %v%s", p.name, d, w.Logs())
	}
}

// WaitFor waits until a party has printed s.
func (w *Walk) WaitFor(p *Party, s string, d time.Duration) {
	w.T.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.Output(), s) {
		select {
		case <-p.done:
			if !strings.Contains(p.Output(), s) {
				w.T.Fatalf("%s ended (%v) without printing %q%s", p.name, p.err, s, w.Logs())
			}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.T.Fatalf("%s did not print %q in %v%s", p.name, s, d, w.Logs())
		}
	}
}

// Logs is every party's output so far.
func (w *Walk) Logs() string {
	var b strings.Builder
	for _, p := range w.parties {
		b.WriteString("\n--- " + p.name + "\n" + p.Output())
	}
	return b.String()
}

// Stop interrupts every running party and waits for it.
func (w *Walk) Stop() {
	for i := len(w.parties) - 1; i >= 0; i-- {
		p := w.parties[i]
		select {
		case <-p.done:
			continue
		default:
		}
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// LoopbackAddr is a free address on 127.0.0.1.
func LoopbackAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitReady waits until url answers 200, failing if p ends first.
func WaitReady(w *Walk, p *Party, url string) {
	w.T.Helper()
	for range 600 {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-p.done:
			w.T.Fatalf("%s stopped: %v%s", p.name, p.err, w.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.T.Fatalf("%s not ready at %s%s", p.name, url, w.Logs())
}

// Field is the value after "key" up to the end of its line in out.
func Field(t testing.TB, out, key string) string {
	t.Helper()
	_, v, ok := strings.Cut(out, key)
	if !ok {
		t.Fatalf("no %q in\n%s", key, out)
	}
	v, _, _ = strings.Cut(v, "\n")
	return strings.TrimSpace(v)
}

// StartCmd starts cmd, made by the caller (a service as its unit would
// run it), as a party: its output kept, interrupted by Stop.
func (w *Walk) StartCmd(name string, cmd *exec.Cmd) *Party {
	w.T.Helper()
	p := &Party{name: name, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		w.T.Fatalf("%s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	w.parties = append(w.parties, p)
	return p
}

// Box is what the ballot box is started with: the README's step 1
// settings, the credentials directory ([Credentials] files made by evote
// keys) and the witnesses (EVOTE_WITNESSES).
type Box struct {
	OriginPrefix string
	IdentityKey  string // base64, as evote keys prints it
	Witnesses    string // EVOTE_WITNESSES
	Credentials  string // the directory evote keys wrote
	Dir          string // a working directory for the operator
	Listen       string // host:port
}

// Servers start the ballot box and the identity service (Election waits
// until each is ready).
type Servers struct {
	Box func(w *Walk, b Box) *Party
	// Identity gets the EVOTE_IDP_* settings but the database's and the
	// key files' (its secrets are in the credentials directory:
	// IdentityCredentials).
	Identity func(w *Walk, env []string, credentials string) *Party
}

// Credentials are the files evote keys writes that the servers read:
// the ballot box's, then the identity service's.
var (
	BoxCredentials      = []string{"authority-key", "log-key", "admin-password", "admin-totp"}
	IdentityCredentials = []string{"idp-pseudonym-key", "idp-signing-keys", "idp-board-key"}
)

// ByTheREADME are the servers started as the README starts them: evoted
// and evote-idp from w.Bin with their settings in the environment.
var ByTheREADME = Servers{
	Box: func(w *Walk, b Box) *Party {
		env := []string{
			"EVOTE_ORIGIN_PREFIX=" + b.OriginPrefix,
			"EVOTE_IDENTITY_KEY=" + b.IdentityKey,
			"EVOTE_AUTHORITY_KEY_FILE=" + filepath.Join(b.Credentials, "authority-key"),
			"EVOTE_LOG_KEY_FILE=" + filepath.Join(b.Credentials, "log-key"),
			"EVOTE_ADMIN_USER=admin",
			"EVOTE_ADMIN_PASSWORD_FILE=" + filepath.Join(b.Credentials, "admin-password"),
			"EVOTE_ADMIN_TOTP_FILE=" + filepath.Join(b.Credentials, "admin-totp"),
			"EVOTE_DATA=" + filepath.Join(b.Dir, "data"),
			"EVOTE_LISTEN=" + b.Listen,
			"EVOTE_WITNESSES=" + b.Witnesses,
		}
		return w.Start("evoted", b.Dir, []string{"evoted"}, env...)
	},
	Identity: func(w *Walk, env []string, credentials string) *Party {
		dir := filepath.Join(filepath.Dir(filepath.Dir(credentials)), "idp")
		os.MkdirAll(dir, 0o700)
		env = append(env, "EVOTE_IDP_DB_DRIVER=sqlite", "EVOTE_IDP_DB_DSN=file:"+filepath.Join(dir, "idp.db"),
			"EVOTE_IDP_PSEUDONYM_KEY_FILE="+filepath.Join(credentials, "idp-pseudonym-key"),
			"EVOTE_IDP_SIGNING_KEYS_FILE="+filepath.Join(credentials, "idp-signing-keys"),
			"EVOTE_IDP_BOARD_KEY_FILE="+filepath.Join(credentials, "idp-board-key"))
		return w.Start("evote-idp", dir, []string{"evote-idp"}, env...)
	},
}

// Result is what an election's officials and auditor saw.
type Result struct {
	Tally, Verify string // evote official tally's and evote-verify's output
	Fingerprint   string
	Voters        int // ballots cast and counted
}

// Election walks the README's section (its text, from Section) in tmp,
// with the commands in w.Bin, the servers started by s: keys, witnesses,
// trustees, officials, key generation, three voters (one checks the
// receipt), the tally, and the audit from the fingerprint alone (the
// result by candidate name, the record exported and verified again). Any
// failure fails w.T with every party's output.
func Election(w *Walk, section, tmp string, s Servers) Result {
	t := w.T
	t.Helper()
	began := time.Now()
	cmds := Commands(section)
	// 1. Server: every key with evote keys.
	op := filepath.Join(tmp, "operator")
	os.MkdirAll(op, 0o700)
	creds := filepath.Join(op, "credentials")
	keysOut := w.Run(op, []string{"evote", "keys", "--out", creds})
	identityKeyB64 := Field(t, keysOut, "EVOTE_IDENTITY_KEY=")
	identityKeyHex := Field(t, keysOut, "--identity-key ")
	if ik, err := base64.StdEncoding.DecodeString(identityKeyB64); err != nil || hex.EncodeToString(ik) != identityKeyHex {
		t.Fatalf("evote keys printed the identity key as %s and %s", identityKeyB64, identityKeyHex)
	}
	const election = "pilot-2027"
	const prefix = "vote.test/board"
	// What evoted log-key needs of the server's settings.
	serverEnv := []string{
		"EVOTE_ORIGIN_PREFIX=" + prefix,
		"EVOTE_AUTHORITY_KEY_FILE=" + filepath.Join(creds, "authority-key"),
		"EVOTE_LOG_KEY_FILE=" + filepath.Join(creds, "log-key"),
	}
	// The log's verifier key, for the officials and the witnesses.
	logKeyLine := w.Run(op, Command(t, cmds, "evoted log-key", " [the server's flags] > log.pub", ""), serverEnv...)
	if !strings.HasPrefix(logKeyLine, prefix+"/"+election+"+") {
		t.Fatalf("evoted log-key printed %q", logKeyLine)
	}
	logPub := filepath.Join(tmp, "log.pub")
	os.WriteFile(logPub, []byte(logKeyLine), 0o644)

	// Witnesses: a key each, then serve.
	var witnessFlags, witnessesEnv []string
	for i, name := range []string{"w.example.org/w1", "w.example.org/w2"} {
		dir := filepath.Join(tmp, "witness"+string(rune('1'+i)))
		os.MkdirAll(dir, 0o700)
		initArgs := Command(t, cmds, "evote witness --init", "w.example.org/w1", name)
		out := w.Run(dir, initArgs)
		line := Field(t, out, "--witness ")
		nm, keyHex, ok := strings.Cut(line, ":")
		if !ok || nm != name {
			t.Fatalf("evote witness --init printed %q", out)
		}
		witnessFlags = append(witnessFlags, "--witness", line)
		if kb, err := hex.DecodeString(keyHex); err != nil || len(kb) != 32 {
			t.Fatalf("evote witness --init printed the key %q", keyHex)
		}
		addr := LoopbackAddr(t)
		w.Start(name, dir, append(Command(t, cmds, "evote witness --name", "…", name, "log.pub", logPub), "--listen", addr))
		// The key as --init printed it: one encoding serves everywhere.
		witnessesEnv = append(witnessesEnv, name+"|http://"+addr+"|"+keyHex)
	}

	// The ballot box.
	boxAddr := LoopbackAddr(t)
	box := "http://" + boxAddr
	evoted := s.Box(w, Box{OriginPrefix: prefix, IdentityKey: identityKeyB64, Witnesses: strings.Join(witnessesEnv, ","),
		Credentials: creds, Dir: op, Listen: boxAddr})
	WaitReady(w, evoted, box+"/readyz")

	// 2. Trustees, each with a key file, backed up.
	var trusteeFlags []string
	var trusteeDirs []string
	for i := range 3 {
		dir := filepath.Join(tmp, "trustee"+string(rune('1'+i)))
		os.MkdirAll(filepath.Join(dir, "usb"), 0o700)
		trusteeDirs = append(trusteeDirs, dir)
		env := "EVOTE_PASSPHRASE=trustee passphrase " + string(rune('1'+i))
		out := w.Run(dir, Command(t, cmds, "evote trustee init"), env)
		trusteeFlags = append(trusteeFlags, "--trustee", Field(t, out, "signing key:")+":"+Field(t, out, "hpke key:"))
		w.Run(dir, Command(t, cmds, "evote trustee backup", "/media/usb/", "usb/"), env, "EVOTE_BACKUP_PASSPHRASE=backup passphrase")
	}

	// 3. Officials: sign in, write the manifest, create the election.
	offDir := filepath.Join(tmp, "official")
	os.MkdirAll(offDir, 0o700)
	pw, err := os.ReadFile(filepath.Join(creds, "admin-password"))
	if err != nil {
		t.Fatal(err)
	}
	totpSecret, err := os.ReadFile(filepath.Join(creds, "admin-totp"))
	if err != nil {
		t.Fatal(err)
	}
	code, err := official.TOTPCode(strings.TrimSpace(string(totpSecret)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.Run(offDir, Command(t, cmds, "evote official login", "https://box.example", box, "alice", "admin", "123456", code),
		"EVOTE_PASSWORD="+strings.TrimSpace(string(pw)))
	mf := Command(t, cmds, "evote official sample-manifest", "<hex>", identityKeyHex, "log.pub", logPub)
	var args []string
	for i := 0; i < len(mf); i++ { // the README's placeholders for the trustees and witnesses
		if mf[i] == "--trustee" || mf[i] == "--witness" {
			i++
			continue
		}
		args = append(args, mf[i])
	}
	args = append(append(args, trusteeFlags...), witnessFlags...)
	mfOut := w.Run(offDir, args)
	fp := regexp.MustCompile(`[A-Z2-7]{4}(-[A-Z2-7]{4}){3,}`).FindString(mfOut)
	if fp == "" {
		t.Fatalf("sample-manifest printed no fingerprint:\n%s", mfOut)
	}
	if created := w.Run(offDir, Command(t, cmds, "evote official create", "https://box.example", box)); !strings.Contains(created, logKeyLine) || !strings.Contains(created, fp) {
		t.Fatalf("official create prints neither the log key %q nor the fingerprint %s:\n%s", logKeyLine, fp, created)
	}

	// 4. Key generation: every trustee at once, the officials moving the
	// rounds on when all report them.
	var keygens []*Party
	for i, dir := range trusteeDirs {
		args := Command(t, cmds, "evote trustee keygen", "https://box.example", box, "ABCD-EFGH-…", fp)
		keygens = append(keygens, w.Start("trustee "+string(rune('1'+i))+" keygen", dir, args, "EVOTE_PASSPHRASE=trustee passphrase "+string(rune('1'+i))))
	}
	act := func(step string) {
		t.Helper()
		w.Run(offDir, []string{"evote", "official", "act", "--server", box, "--election", election, step})
	}
	for _, round := range []struct{ reported, act string }{
		{"trustee: complained", "qualified"},
		{"trustee: extracted", "close-extraction"},
		{"trustee: extraction-complained", "context"},
	} {
		for _, k := range keygens {
			w.WaitFor(k, round.reported, 2*time.Minute)
		}
		act(round.act)
	}
	for _, k := range keygens {
		w.Wait(k, 2*time.Minute)
		if !strings.Contains(k.Output(), "key share for trustee") {
			t.Fatalf("%s:\n%s", k.name, k.Output())
		}
	}
	t.Logf("keys generated at %v", time.Since(began).Round(time.Second))

	// 5. Voting. The identity service starts once the election exists,
	// with the context hash the ballot box shows (docs/operator.md), in
	// development (simulated register, codes in its log).
	route := regexp.MustCompile("`GET (/api/v1/elections/)<id>`").FindStringSubmatch(strings.Join(strings.Fields(section), " "))
	if route == nil {
		t.Fatal("README.md's walkthrough does not say where the context hash is (`GET /api/v1/elections/<id>`)")
	}
	resp, err := http.Get(box + route[1] + election)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		ExtendedHash string `json:"extended_hash"`
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if err != nil || info.ExtendedHash == "" {
		t.Fatalf("GET /api/v1/elections/%s: no extended_hash (%v)", election, err)
	}
	show := w.Run(offDir, []string{"evote", "official", "show-manifest", "--manifest", "manifest.bin"})
	styles := regexp.MustCompile(`(?m)^ballot style (\S+)`).FindAllStringSubmatch(show, -1)
	if len(styles) == 0 {
		t.Fatalf("show-manifest lists no ballot style:\n%s", show)
	}
	style := styles[0][1]
	_, afterStyle, _ := strings.Cut(show, "ballot style "+style)
	contest := regexp.MustCompile(`(?m)^  contest (\S+):`).FindStringSubmatch(afterStyle)
	if contest == nil {
		t.Fatalf("show-manifest lists no contest for style %s:\n%s", style, show)
	}
	day := time.Now().UTC().Format(time.DateOnly)
	listOfficials := Field(t, keysOut, "EVOTE_IDP_LIST_OFFICIALS=")
	idpAddr := LoopbackAddr(t)
	idpURL := "http://" + idpAddr
	// Development mode, as the README's step 5 sets it.
	devEnv := regexp.MustCompile("`(EVOTE_IDP_[A-Z_]+=[a-z]+)`").FindAllStringSubmatch(section, -1)
	if len(devEnv) < 3 {
		t.Fatalf("README.md's walkthrough does not set the identity service's development mode: %q", devEnv)
	}
	idpEnv := []string{"EVOTE_IDP_ELECTION_ID=" + election, "EVOTE_IDP_CONTEXT_HASH=" + info.ExtendedHash, "EVOTE_IDP_FINGERPRINT=" + fp,
		"EVOTE_IDP_ELECTION_DAY=" + day, "EVOTE_IDP_ISSUER=" + idpURL,
		"EVOTE_IDP_LIST_OFFICIALS=" + listOfficials,
		"EVOTE_IDP_SIM_CONSTITUENCIES=" + style, "EVOTE_IDP_SIM_PER_CONSTITUENCY=5",
		"EVOTE_IDP_LISTEN=" + idpAddr, "EVOTE_IDP_BOARD_URL=" + box}
	for _, m := range devEnv {
		idpEnv = append(idpEnv, m[1])
	}
	idp := s.Identity(w, idpEnv, creds)
	WaitReady(w, idp, idpURL+"/healthz")

	// Test people: the simulated register's, three of them on the list.
	people := w.Run(offDir, []string{"evote", "demo", "people", "--constituencies", style, "--election-day", day, "--per", "5"})
	type person struct{ pin, doc, birth, phone string }
	var voters []person
	var csv strings.Builder
	csv.WriteString("pin,ballot_style,phone\n")
	for _, l := range strings.Split(people, "\n")[1:] {
		f := strings.Split(l, ",")
		if len(f) != 6 || f[5] != "yes" || len(voters) == 3 {
			continue
		}
		voters = append(voters, person{f[0], f[1], f[2], f[4]})
		csv.WriteString(f[0] + "," + style + "," + f[4] + "\n")
	}
	if len(voters) != 3 {
		t.Fatalf("evote demo people listed too few people who may vote:\n%s", people)
	}
	os.WriteFile(filepath.Join(offDir, "voters.csv"), []byte(csv.String()), 0o600)
	w.Run(offDir, Command(t, cmds, "evote official import-voters", "--server …", "--server "+box, "--idp …", "--idp "+idpURL,
		"list.key", filepath.Join(creds, "list-official.key")))
	w.Run(offDir, []string{"evote", "official", "open", "--server", box, "--election", election})

	// Each voter signs in, types the texted code (from the identity
	// service's log) and casts; the first checks the receipt.
	smsCode := regexp.MustCompile(`dev-sms to=.* text=".*?\b(\d{6})\b`)
	for i, v := range voters {
		vdir := filepath.Join(tmp, "voter"+string(rune('1'+i)))
		os.MkdirAll(vdir, 0o700)
		args := Command(t, cmds, "evote vote", "https://box.example", box, "https://id.example", idpURL,
			"<election fingerprint>", fp, "--pin …", "--pin "+v.pin, "--document …", "--document "+v.doc, "1990-01-31", v.birth,
			"'council-ala-archa=2;priorities=0,3'", contest[1]+"="+string(rune('0'+i%2)))
		sent := len(smsCode.FindAllString(idp.Output(), -1))
		p, in := w.StartInput("voter "+string(rune('1'+i)), vdir, args, true)
		deadline := time.Now().Add(30 * time.Second)
		for len(smsCode.FindAllString(idp.Output(), -1)) == sent {
			select {
			case <-p.done:
				t.Fatalf("%s ended before a code was texted (%v)%s", p.name, p.err, w.Logs())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no code texted to voter %d%s", i+1, w.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		all := smsCode.FindAllStringSubmatch(idp.Output(), -1)
		io.WriteString(in, all[len(all)-1][1]+"\n")
		in.Close()
		w.Wait(p, time.Minute)
		if !strings.Contains(p.Output(), "tracking code: ") {
			t.Fatalf("voter %d:\n%s", i+1, p.Output())
		}
		if i == 0 {
			code := Field(t, p.Output(), "tracking code: ")
			w.Run(vdir, Command(t, cmds, "evote ballot check-receipt", "--server …", "--server "+box, "ABCD-EFGH-…", code, "<election fingerprint>", fp))
		}
	}
	t.Logf("voted at %v", time.Since(began).Round(time.Second))

	// 6. Tally.
	w.Run(offDir, []string{"evote", "official", "close", "--server", box, "--election", election})
	act("cleanse")
	act("start-mixing")
	trusteeStep := func(step string) {
		t.Helper()
		var ps []*Party
		for i, dir := range trusteeDirs {
			args := Command(t, cmds, "evote trustee keygen", "keygen", step, "https://box.example", box, "ABCD-EFGH-…", fp)
			ps = append(ps, w.Start("trustee "+string(rune('1'+i))+" "+step, dir, args, "EVOTE_PASSPHRASE=trustee passphrase "+string(rune('1'+i))))
		}
		for _, p := range ps {
			w.Wait(p, 2*time.Minute)
		}
	}
	trusteeStep("mix")
	act("start-decrypting")
	trusteeStep("decrypt")
	tallyOut := w.Run(offDir, []string{"evote", "official", "tally", "--server", box, "--election", election})
	if !strings.Contains(tallyOut, contest[1]+": 3 ballots") {
		t.Fatalf("evote official tally:\n%s", tallyOut)
	}

	// 7. Audit, from the fingerprint alone.
	auditor := filepath.Join(tmp, "auditor")
	os.MkdirAll(auditor, 0o700)
	verifyOut := w.Run(auditor, Command(t, cmds, "evote-verify", "ABCD-EFGH-…", fp, "https://box.example", box))
	if !strings.Contains(verifyOut, "VALID: every check holds.") || strings.Contains(verifyOut, "INVALID") {
		t.Fatalf("evote-verify:\n%s", verifyOut)
	}
	// Voters chose candidates 0, 1, 0 of the contest: the verified result
	// says so by name.
	for n, count := range []int{2, 1} {
		name := regexp.MustCompile(`(?m)^    ` + string(rune('0'+n)) + `  (.+)$`).FindStringSubmatch(afterStyle)
		if name == nil {
			t.Fatalf("show-manifest lists no candidate %d:\n%s", n, show)
		}
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(name[1]) + `\s+` + string(rune('0'+count)) + `$`).MatchString(verifyOut) {
			t.Fatalf("evote-verify does not give %s %d votes:\n%s", name[1], count, verifyOut)
		}
	}
	// The record exported (checked first), and verified again from the
	// archive alone.
	w.Run(auditor, Command(t, cmds, "evote record export", "https://box.example", box, "ABCD-EFGH-…", fp))
	if out := w.Run(auditor, []string{"evote-verify", "--fingerprint", fp, "record.tar"}); !strings.Contains(out, "VALID: every check holds.") || strings.Contains(out, "INVALID") {
		t.Fatalf("evote-verify record.tar:\n%s", out)
	}
	if testing.Verbose() {
		t.Logf("evote official tally:\n%s\nevote-verify:\n%s", tallyOut, verifyOut)
	}
	t.Logf("election done in %v", time.Since(began).Round(time.Second))
	return Result{Tally: tallyOut, Verify: verifyOut, Fingerprint: fp, Voters: len(voters)}
}
