package main

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

// readmeSection is the README's walkthrough: the text from its heading to
// the next heading of the same level.
func readmeSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
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

// readmeCommands are the section's code lines (indented four spaces, or
// seven inside a numbered step), backslash continuations joined, then its
// inline code spans that run a command (`evote …`, `evoted …`).
func readmeCommands(section string) []string {
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

// readmeCommand is the README's code line that begins with prefix, its
// placeholders replaced (old, new pairs; each must occur, so that a README
// edit that drops one fails here), split into arguments; the program's
// name is kept as the first.
func readmeCommand(t *testing.T, cmds []string, prefix string, repl ...string) []string {
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

// party is one process of the walkthrough, its output kept.
type party struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *party) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *party) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// walk is the walkthrough's machine: the built binaries, the environment
// every command gets, and the processes started.
type walk struct {
	t       *testing.T
	bin     string
	env     []string
	parties []*party
}

func (w *walk) command(ctx context.Context, dir string, args []string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(w.bin, args[0]), args[1:]...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), w.env...), env...)
	return cmd
}

// run runs a command to its end (two minutes at most) and returns its
// output; a failure fails the test with the output of every process.
func (w *walk) run(dir string, args []string, env ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := w.command(ctx, dir, args, env...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, w.logs())
	}
	return string(out)
}

// start starts a long-running party.
func (w *walk) start(name, dir string, args []string, env ...string) *party {
	w.t.Helper()
	p, _ := w.startInput(name, dir, args, false, env...)
	return p
}

// startInput starts a party, with a pipe to its standard input if asked.
func (w *walk) startInput(name, dir string, args []string, input bool, env ...string) (*party, io.WriteCloser) {
	w.t.Helper()
	p := &party{name: name, done: make(chan struct{})}
	p.cmd = w.command(context.Background(), dir, args, env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	var in io.WriteCloser
	if input {
		var err error
		if in, err = p.cmd.StdinPipe(); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := p.cmd.Start(); err != nil {
		w.t.Fatalf("%s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	w.parties = append(w.parties, p)
	return p, in
}

// wait waits for a party to end successfully.
func (w *walk) wait(p *party, d time.Duration) {
	w.t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			w.t.Fatalf("%s: %v%s", p.name, p.err, w.logs())
		}
	case <-time.After(d):
		w.t.Fatalf("%s did not finish in %v%s", p.name, d, w.logs())
	}
}

// waitFor waits until a party has printed s.
func (w *walk) waitFor(p *party, s string, d time.Duration) {
	w.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.output(), s) {
		select {
		case <-p.done:
			if !strings.Contains(p.output(), s) {
				w.t.Fatalf("%s ended (%v) without printing %q%s", p.name, p.err, s, w.logs())
			}
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s did not print %q in %v%s", p.name, s, d, w.logs())
		}
	}
}

func (w *walk) logs() string {
	var b strings.Builder
	for _, p := range w.parties {
		b.WriteString("\n--- " + p.name + "\n" + p.output())
	}
	return b.String()
}

// stop interrupts every running party and waits for it.
func (w *walk) stop() {
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

func loopbackAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(w *walk, p *party, url string) {
	w.t.Helper()
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
			w.t.Fatalf("%s stopped: %v%s", p.name, p.err, w.logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
	w.t.Fatalf("%s not ready at %s%s", p.name, url, w.logs())
}

// field is the value after "key" up to the end of its line in out.
func field(t *testing.T, out, key string) string {
	t.Helper()
	_, v, ok := strings.Cut(out, key)
	if !ok {
		t.Fatalf("no %q in\n%s", key, out)
	}
	v, _, _ = strings.Cut(v, "\n")
	return strings.TrimSpace(v)
}

// TestReadmeWalkthrough walks the README's "A real election, step by step"
// as its parties would, each a separate process on loopback, on the
// embedded store: it builds the commands with the README's build line and
// runs the README's own command lines (their placeholders filled in), so
// that the README cannot drift from the code.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary and runs an election")
	}
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the go command is not on PATH under CI")
		}
		t.Skip("the go command is not on PATH")
	}
	began := time.Now()
	section := readmeSection(t)
	cmds := readmeCommands(section)
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	os.MkdirAll(home, 0o700)
	w := &walk{t: t, bin: filepath.Join(tmp, "bin"), env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}}
	defer w.stop()

	// Build every command the section names, with its build line.
	build := readmeCommand(t, cmds, "go build", "bin/", w.bin+"/")
	buildCmd := exec.Command(build[0], build[1:]...)
	buildCmd.Dir = "../.."
	if out, err := buildCmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(build, " "), err, out)
	}
	for _, name := range []string{"evoted", "evote", "evote-verify", "evote-idp"} {
		if _, err := os.Stat(filepath.Join(w.bin, name)); err != nil {
			t.Fatalf("the README's build line does not build %s", name)
		}
	}
	t.Logf("built in %v", time.Since(began).Round(time.Second))

	// 1. Server: every key with evote keys.
	op := filepath.Join(tmp, "operator")
	os.MkdirAll(op, 0o700)
	creds := filepath.Join(op, "credentials")
	keysOut := w.run(op, []string{"evote", "keys", "--out", creds})
	identityKeyB64 := field(t, keysOut, "EVOTE_IDENTITY_KEY=")
	identityKeyHex := field(t, keysOut, "--identity-key ")
	if ik, err := base64.StdEncoding.DecodeString(identityKeyB64); err != nil || hex.EncodeToString(ik) != identityKeyHex {
		t.Fatalf("evote keys printed the identity key as %s and %s", identityKeyB64, identityKeyHex)
	}
	const election = "pilot-2027"
	const prefix = "vote.test/board"
	serverEnv := []string{
		"EVOTE_ORIGIN_PREFIX=" + prefix,
		"EVOTE_IDENTITY_KEY=" + identityKeyB64,
		"EVOTE_AUTHORITY_KEY_FILE=" + filepath.Join(creds, "authority-key"),
		"EVOTE_LOG_KEY_FILE=" + filepath.Join(creds, "log-key"),
		"EVOTE_ADMIN_USER=admin",
		"EVOTE_ADMIN_PASSWORD_FILE=" + filepath.Join(creds, "admin-password"),
		"EVOTE_ADMIN_TOTP_FILE=" + filepath.Join(creds, "admin-totp"),
		"EVOTE_DATA=" + filepath.Join(op, "data"),
	}
	// The log's verifier key, for the officials and the witnesses.
	logKeyLine := w.run(op, readmeCommand(t, cmds, "evoted log-key", " [the server's flags] > log.pub", ""), serverEnv...)
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
		initArgs := readmeCommand(t, cmds, "evote witness --init", "w.example.org/w1", name)
		out := w.run(dir, initArgs)
		line := field(t, out, "--witness ")
		nm, keyHex, ok := strings.Cut(line, ":")
		if !ok || nm != name {
			t.Fatalf("evote witness --init printed %q", out)
		}
		witnessFlags = append(witnessFlags, "--witness", line)
		kb, err := hex.DecodeString(keyHex)
		if err != nil {
			t.Fatal(err)
		}
		addr := loopbackAddr(t)
		w.start(name, dir, append(readmeCommand(t, cmds, "evote witness --name", "…", name, "log.pub", logPub), "--listen", addr))
		witnessesEnv = append(witnessesEnv, name+"|http://"+addr+"|"+base64.StdEncoding.EncodeToString(kb))
	}

	// The ballot box.
	boxAddr := loopbackAddr(t)
	box := "http://" + boxAddr
	evoted := w.start("evoted", op, []string{"evoted"}, append(serverEnv, "EVOTE_LISTEN="+boxAddr, "EVOTE_WITNESSES="+strings.Join(witnessesEnv, ","))...)
	waitReady(w, evoted, box+"/readyz")

	// 2. Trustees, each with a key file, backed up.
	var trusteeFlags []string
	var trusteeDirs []string
	for i := range 3 {
		dir := filepath.Join(tmp, "trustee"+string(rune('1'+i)))
		os.MkdirAll(filepath.Join(dir, "usb"), 0o700)
		trusteeDirs = append(trusteeDirs, dir)
		env := "EVOTE_PASSPHRASE=trustee passphrase " + string(rune('1'+i))
		out := w.run(dir, readmeCommand(t, cmds, "evote trustee init"), env)
		trusteeFlags = append(trusteeFlags, "--trustee", field(t, out, "signing key:")+":"+field(t, out, "hpke key:"))
		w.run(dir, readmeCommand(t, cmds, "evote trustee backup", "/media/usb/", "usb/"), env, "EVOTE_BACKUP_PASSPHRASE=backup passphrase")
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
	w.run(offDir, readmeCommand(t, cmds, "evote official login", "https://box.example", box, "alice", "admin", "123456", code),
		"EVOTE_PASSWORD="+strings.TrimSpace(string(pw)))
	mf := readmeCommand(t, cmds, "evote official sample-manifest", "<hex>", identityKeyHex, "log.pub", logPub)
	var args []string
	for i := 0; i < len(mf); i++ { // the README's placeholders for the trustees and witnesses
		if mf[i] == "--trustee" || mf[i] == "--witness" {
			i++
			continue
		}
		args = append(args, mf[i])
	}
	args = append(append(args, trusteeFlags...), witnessFlags...)
	mfOut := w.run(offDir, args)
	fp := regexp.MustCompile(`[A-Z2-7]{4}(-[A-Z2-7]{4}){3,}`).FindString(mfOut)
	if fp == "" {
		t.Fatalf("sample-manifest printed no fingerprint:\n%s", mfOut)
	}
	if created := w.run(offDir, readmeCommand(t, cmds, "evote official create", "https://box.example", box)); !strings.Contains(created, logKeyLine) || !strings.Contains(created, fp) {
		t.Fatalf("official create prints neither the log key %q nor the fingerprint %s:\n%s", logKeyLine, fp, created)
	}

	// 4. Key generation: every trustee at once, the officials moving the
	// rounds on when all report them.
	var keygens []*party
	for i, dir := range trusteeDirs {
		args := readmeCommand(t, cmds, "evote trustee keygen", "https://box.example", box, "ABCD-EFGH-…", fp)
		keygens = append(keygens, w.start("trustee "+string(rune('1'+i))+" keygen", dir, args, "EVOTE_PASSPHRASE=trustee passphrase "+string(rune('1'+i))))
	}
	act := func(step string) {
		t.Helper()
		w.run(offDir, []string{"evote", "official", "act", "--server", box, "--election", election, step})
	}
	for _, round := range []struct{ reported, act string }{
		{"trustee: complained", "qualified"},
		{"trustee: extracted", "close-extraction"},
		{"trustee: extraction-complained", "context"},
	} {
		for _, k := range keygens {
			w.waitFor(k, round.reported, 2*time.Minute)
		}
		act(round.act)
	}
	for _, k := range keygens {
		w.wait(k, 2*time.Minute)
		if !strings.Contains(k.output(), "key share for trustee") {
			t.Fatalf("%s:\n%s", k.name, k.output())
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
	show := w.run(offDir, []string{"evote", "official", "show-manifest", "--manifest", "manifest.bin"})
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
	listOfficials := field(t, keysOut, "EVOTE_IDP_LIST_OFFICIALS=")
	idpDir := filepath.Join(tmp, "idp")
	os.MkdirAll(idpDir, 0o700)
	idpAddr := loopbackAddr(t)
	idpURL := "http://" + idpAddr
	// Development mode, as the README's step 5 sets it.
	devEnv := regexp.MustCompile("`(EVOTE_IDP_[A-Z_]+=[a-z]+)`").FindAllStringSubmatch(section, -1)
	if len(devEnv) < 3 {
		t.Fatalf("README.md's walkthrough does not set the identity service's development mode: %q", devEnv)
	}
	idpEnv := []string{"EVOTE_IDP_ELECTION_ID=" + election, "EVOTE_IDP_CONTEXT_HASH=" + info.ExtendedHash,
		"EVOTE_IDP_ELECTION_DAY=" + day, "EVOTE_IDP_ISSUER=" + idpURL,
		"EVOTE_IDP_PSEUDONYM_KEY_FILE=" + filepath.Join(creds, "idp-pseudonym-key"),
		"EVOTE_IDP_SIGNING_KEYS_FILE=" + filepath.Join(creds, "idp-signing-keys"),
		"EVOTE_IDP_BOARD_KEY_FILE=" + filepath.Join(creds, "idp-board-key"),
		"EVOTE_IDP_LIST_OFFICIALS=" + listOfficials,
		"EVOTE_IDP_SIM_CONSTITUENCIES=" + style, "EVOTE_IDP_SIM_PER_CONSTITUENCY=5",
		"EVOTE_IDP_DB_DRIVER=sqlite", "EVOTE_IDP_DB_DSN=file:" + filepath.Join(idpDir, "idp.db"),
		"EVOTE_IDP_LISTEN=" + idpAddr, "EVOTE_IDP_BOARD_URL=" + box}
	for _, m := range devEnv {
		idpEnv = append(idpEnv, m[1])
	}
	idp := w.start("evote-idp", idpDir, []string{"evote-idp"}, idpEnv...)
	waitReady(w, idp, idpURL+"/healthz")

	// Test people: the simulated register's, three of them on the list.
	people := w.run(offDir, []string{"evote", "demo", "people", "--constituencies", style, "--election-day", day, "--per", "5"})
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
	w.run(offDir, readmeCommand(t, cmds, "evote official import-voters", "--server …", "--server "+box, "--idp …", "--idp "+idpURL,
		"list.key", filepath.Join(creds, "list-official.key")))
	w.run(offDir, []string{"evote", "official", "open", "--server", box, "--election", election})

	// Each voter signs in, types the texted code (from the identity
	// service's log) and casts; the first checks the receipt.
	smsCode := regexp.MustCompile(`dev-sms to=.* text=".*?\b(\d{6})\b`)
	for i, v := range voters {
		vdir := filepath.Join(tmp, "voter"+string(rune('1'+i)))
		os.MkdirAll(vdir, 0o700)
		args := readmeCommand(t, cmds, "evote vote", "https://box.example", box, "https://id.example", idpURL,
			"<election fingerprint>", fp, "--pin …", "--pin "+v.pin, "--document …", "--document "+v.doc, "1990-01-31", v.birth,
			"'council-ala-archa=2;priorities=0,3'", contest[1]+"="+string(rune('0'+i%2)))
		sent := len(smsCode.FindAllString(idp.output(), -1))
		p, in := w.startInput("voter "+string(rune('1'+i)), vdir, args, true)
		deadline := time.Now().Add(30 * time.Second)
		for len(smsCode.FindAllString(idp.output(), -1)) == sent {
			select {
			case <-p.done:
				t.Fatalf("%s ended before a code was texted (%v)%s", p.name, p.err, w.logs())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no code texted to voter %d%s", i+1, w.logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		all := smsCode.FindAllStringSubmatch(idp.output(), -1)
		io.WriteString(in, all[len(all)-1][1]+"\n")
		in.Close()
		w.wait(p, time.Minute)
		if !strings.Contains(p.output(), "tracking code: ") {
			t.Fatalf("voter %d:\n%s", i+1, p.output())
		}
		if i == 0 {
			code := field(t, p.output(), "tracking code: ")
			w.run(vdir, readmeCommand(t, cmds, "evote ballot check-receipt", "--server …", "--server "+box, "ABCD-EFGH-…", code, "<election fingerprint>", fp))
		}
	}
	t.Logf("voted at %v", time.Since(began).Round(time.Second))

	// 6. Tally.
	w.run(offDir, []string{"evote", "official", "close", "--server", box, "--election", election})
	act("cleanse")
	act("start-mixing")
	trusteeStep := func(step string) {
		t.Helper()
		var ps []*party
		for i, dir := range trusteeDirs {
			args := readmeCommand(t, cmds, "evote trustee keygen", "keygen", step, "https://box.example", box, "ABCD-EFGH-…", fp)
			ps = append(ps, w.start("trustee "+string(rune('1'+i))+" "+step, dir, args, "EVOTE_PASSPHRASE=trustee passphrase "+string(rune('1'+i))))
		}
		for _, p := range ps {
			w.wait(p, 2*time.Minute)
		}
	}
	trusteeStep("mix")
	act("start-decrypting")
	trusteeStep("decrypt")
	tallyOut := w.run(offDir, []string{"evote", "official", "tally", "--server", box, "--election", election})
	if !strings.Contains(tallyOut, contest[1]+": 3 ballots") {
		t.Fatalf("evote official tally:\n%s", tallyOut)
	}

	// 7. Audit, from the fingerprint alone.
	auditor := filepath.Join(tmp, "auditor")
	os.MkdirAll(auditor, 0o700)
	verifyOut := w.run(auditor, readmeCommand(t, cmds, "evote-verify", "ABCD-EFGH-…", fp, "https://box.example", box))
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
	w.run(auditor, readmeCommand(t, cmds, "evote record export", "https://box.example", box, "ABCD-EFGH-…", fp))
	if out := w.run(auditor, []string{"evote-verify", "--fingerprint", fp, "record.tar"}); !strings.Contains(out, "VALID: every check holds.") || strings.Contains(out, "INVALID") {
		t.Fatalf("evote-verify record.tar:\n%s", out)
	}
	if testing.Verbose() {
		t.Logf("evote official tally:\n%s\nevote-verify:\n%s", tallyOut, verifyOut)
	}
	t.Logf("walkthrough done in %v", time.Since(began).Round(time.Second))
}
