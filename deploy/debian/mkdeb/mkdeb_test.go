package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"evote/official"
)

const testEpoch = 1780000000

// TestPackages builds the packages twice (byte-identical), and, under CI
// or with EVOTE_TEST_INSTALL=1 (as root, with dpkg), installs them, checks the units with
// systemd-analyze verify, starts evoted as its unit would (its user, its
// ExecStart line, its environment and credentials), checks that it serves
// and takes an official's login with the credentials' secrets, and purges
// the packages, leaving nothing behind.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dpkg-deb not installed under CI")
		}
		t.Skip("dpkg-deb not installed")
	}
	a, b := t.TempDir(), t.TempDir()
	if err := build("0.0.1~test", a, testEpoch); err != nil {
		t.Fatal(err)
	}
	if err := build("0.0.1~test", b, testEpoch); err != nil {
		t.Fatal(err)
	}
	var debs []string
	for _, p := range packages {
		name := fmt.Sprintf("%s_0.0.1~test_%s.deb", p.name, debArch())
		x, err := os.ReadFile(filepath.Join(a, name))
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(filepath.Join(b, name))
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(x) != sha256.Sum256(y) {
			t.Errorf("%s: two builds differ", name)
		}
		debs = append(debs, filepath.Join(a, name))
	}
	if t.Failed() {
		return
	}
	// Installing changes the machine: under CI, or when asked (on a
	// shared development machine two runs would collide).
	if os.Getenv("CI") != "true" && os.Getenv("EVOTE_TEST_INSTALL") != "1" {
		t.Skip("packages built and compared; set EVOTE_TEST_INSTALL=1 (as root) to install, run and purge them")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the install test needs root")
	}
	if _, err := os.Stat("/usr/bin/evoted"); err == nil {
		t.Fatal("/usr/bin/evoted exists: this machine has evote installed; the test would replace it")
	}
	run(t, "dpkg", append([]string{"-i"}, debs...)...)
	purged := false
	t.Cleanup(func() {
		if !purged {
			os.RemoveAll("/etc/evote/credentials")
			exec.Command("dpkg", "--purge", "evoted", "evote-idp", "evote-tools").Run()
		}
	})
	for _, f := range []string{"/usr/bin/evoted", "/usr/bin/evote-idp", "/usr/bin/evote", "/usr/bin/evote-verify",
		"/lib/systemd/system/evoted.service", "/lib/systemd/system/evote-idp.service", "/etc/evote/evoted.conf", "/etc/evote/evote-idp.env"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("installed: %v", err)
		}
	}
	for _, u := range []string{"evoted", "evote-idp"} {
		run(t, "getent", "passwd", u)
		if st, err := os.Stat("/var/lib/" + u); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("/var/lib/%s: %v", u, err)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		run(t, "systemd-analyze", "verify", "/lib/systemd/system/evoted.service", "/lib/systemd/system/evote-idp.service")
	} else if os.Getenv("CI") == "true" {
		t.Fatal("systemd-analyze not installed under CI")
	}

	// Configure as an operator would: the configuration file and the
	// credentials.
	addr := freeAddr(t)
	conf, err := os.ReadFile("/etc/evote/evoted.conf")
	if err != nil {
		t.Fatal(err)
	}
	idKey := make([]byte, 32)
	rand.Read(idKey)
	s := strings.Replace(string(conf), "EVOTE_LISTEN=127.0.0.1:8080", "EVOTE_LISTEN="+addr, 1)
	s = strings.Replace(s, "EVOTE_ORIGIN_PREFIX=\n", "EVOTE_ORIGIN_PREFIX=vote.test/board\n", 1)
	s = strings.Replace(s, "EVOTE_IDENTITY_KEY=\n", "EVOTE_IDENTITY_KEY="+base64.StdEncoding.EncodeToString(idKey)+"\n", 1)
	if err := os.WriteFile("/etc/evote/evoted.conf", []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	totp := make([]byte, 20)
	rand.Read(totp)
	totpSecret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(totp)
	creds := map[string]string{"authority-key": seed(), "log-key": seed(), "admin-password": "a long admin password for the test", "admin-totp": totpSecret}
	for name, v := range creds {
		if err := os.WriteFile("/etc/evote/credentials/"+name, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Start evoted as its unit would.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := unitCommand(t, ctx, "/lib/systemd/system/evoted.service")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	ready := false
	for range 300 {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				ready = true
				break
			}
		}
		select {
		case err := <-waited:
			t.Fatalf("evoted stopped: %v\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !ready {
		t.Fatalf("evoted not ready\n%s", logs.String())
	}
	// It runs as its user, and its database is in its state directory.
	if st, err := os.Stat("/var/lib/evoted/evote.db"); err != nil {
		t.Fatalf("no database in the state directory: %v\n%s", err, logs.String())
	} else if owner(st) != lookupUID(t, "evoted") {
		t.Fatalf("evote.db owned by uid %d, not evoted", owner(st))
	}
	// The first admin, made from the credentials, signs in with the CLI.
	code := totpCode(t, totpSecret)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(creds["admin-password"]+"\n"), 0o600)
	home := t.TempDir()
	login := exec.Command("/usr/bin/evote", "official", "login", "--server", "http://"+addr, "--user", "admin", "--totp", code, "--password-file", pw)
	login.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
	if out, err := login.CombinedOutput(); err != nil {
		t.Fatalf("evote official login: %v\n%s\n%s", err, out, logs.String())
	}
	// evoted log-key, from the same configuration.
	lk := exec.Command("/usr/bin/evoted", "log-key", "pilot", "--config", "/etc/evote/evoted.conf")
	lk.Env = append(os.Environ(), "EVOTE_AUTHORITY_KEY_FILE=/etc/evote/credentials/authority-key", "EVOTE_LOG_KEY_FILE=/etc/evote/credentials/log-key")
	if out, err := lk.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "vote.test/board/pilot+") {
		t.Fatalf("evoted log-key: %v\n%s", err, out)
	}
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("evoted stopped with %v\n%s", err, logs.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("evoted did not stop")
	}

	// Purge: nothing of the packages is left. The credentials are the
	// operator's, not the package's: shredded first, as after an election.
	for name := range creds {
		os.Remove("/etc/evote/credentials/" + name)
	}
	run(t, "dpkg", "--purge", "evoted", "evote-idp", "evote-tools")
	purged = true
	for _, f := range []string{"/usr/bin/evoted", "/usr/bin/evote", "/lib/systemd/system/evoted.service", "/etc/evote", "/var/lib/evoted", "/var/lib/evote-idp"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left after purge", f)
		}
	}
	for _, u := range []string{"evoted", "evote-idp"} {
		if exec.Command("getent", "passwd", u).Run() == nil {
			t.Errorf("user %s left after purge", u)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func seed() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// unitCommand is the unit's ExecStart as systemd would run it without
// systemd: as the unit's User and Group, with no new privileges, its
// Environment= and EnvironmentFile= settings, and its LoadCredential=
// files copied into a credentials directory only that user reads ($d).
func unitCommand(t *testing.T, ctx context.Context, unit string) *exec.Cmd {
	t.Helper()
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Like systemd's /run/credentials/<unit>: a directory only the
	// service's user reads (t.TempDir's parent is root's alone).
	credDir, err := os.MkdirTemp("/tmp", "evote-credentials-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(credDir) })
	var user, execStart string
	env := []string{"PATH=/usr/bin:/bin", "CREDENTIALS_DIRECTORY=" + credDir}
	var creds [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		v = strings.ReplaceAll(v, "%d", credDir)
		switch k {
		case "User":
			user = v
		case "ExecStart":
			execStart = v
		case "Environment":
			env = append(env, v)
		case "EnvironmentFile":
			b, err := os.ReadFile(strings.TrimPrefix(v, "-"))
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					env = append(env, l)
				}
			}
		case "LoadCredential":
			name, src, _ := strings.Cut(v, ":")
			creds = append(creds, [2]string{name, src})
		}
	}
	uid := lookupUID(t, user)
	for _, c := range creds {
		b, err := os.ReadFile(c[1])
		if err != nil {
			t.Fatalf("LoadCredential %s: %v", c[0], err)
		}
		p := filepath.Join(credDir, c[0])
		if err := os.WriteFile(p, b, 0o400); err != nil {
			t.Fatal(err)
		}
		os.Chown(p, uid, -1)
	}
	os.Chmod(credDir, 0o500)
	os.Chown(credDir, uid, -1)
	args := append([]string{"--reuid=" + user, "--regid=" + user, "--init-groups", "--no-new-privs", "--"}, strings.Fields(execStart)...)
	cmd := exec.CommandContext(ctx, "setpriv", args...)
	cmd.Env = env
	cmd.Dir = "/"
	return cmd
}

func lookupUID(t *testing.T, user string) int {
	out, err := exec.Command("id", "-u", user).Output()
	if err != nil {
		t.Fatalf("id -u %s: %v", user, err)
	}
	var uid int
	fmt.Sscan(string(out), &uid)
	return uid
}

func totpCode(t *testing.T, secret string) string {
	c, err := official.TOTPCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func owner(st os.FileInfo) int { return int(st.Sys().(*syscall.Stat_t).Uid) }
