package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"evote/internal/walkthrough"
)

const testEpoch = 1780000000

// TestPackages builds the packages twice (byte-identical), and, under CI
// or with EVOTE_TEST_INSTALL=1 (as root, with dpkg), installs them, checks
// the units with systemd-analyze verify, runs a small election against
// the installed services (the README's walkthrough with the installed
// commands; evoted and evote-idp started as their units would: their
// users, ExecStart lines, configuration files and credentials; ballots
// cast, the tally, the record verified), checks that each kept its
// database in its state directory and stops cleanly, and purges the
// packages, leaving nothing behind.
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

	// A small election against the installed services: the README's
	// walkthrough (internal/walkthrough) with the installed commands, the
	// ballot box and the identity service started as their units would
	// (their users, ExecStart lines, configuration files, state
	// directories and credentials, which the operator's evote keys made).
	began := time.Now()
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	os.MkdirAll(home, 0o700)
	w := &walkthrough.Walk{T: t, Bin: "/usr/bin", Env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}}
	defer w.Stop()
	var evoted, idp *walkthrough.Party
	res := walkthrough.Election(w, walkthrough.Section(t, "../../../README.md"), tmp, walkthrough.Servers{
		Box: func(w *walkthrough.Walk, b walkthrough.Box) *walkthrough.Party {
			installCredentials(t, b.Credentials, walkthrough.BoxCredentials)
			setConf(t, "/etc/evote/evoted.conf", "EVOTE_LISTEN="+b.Listen, "EVOTE_ORIGIN_PREFIX="+b.OriginPrefix,
				"EVOTE_IDENTITY_KEY="+b.IdentityKey, "EVOTE_WITNESSES="+b.Witnesses)
			evoted = w.StartCmd("evoted (as its unit)", unitCommand(t, context.Background(), "/lib/systemd/system/evoted.service"))
			return evoted
		},
		Identity: func(w *walkthrough.Walk, env []string, credentials string) *walkthrough.Party {
			installCredentials(t, credentials, walkthrough.IdentityCredentials)
			setConf(t, "/etc/evote/evote-idp.env", env...)
			idp = w.StartCmd("evote-idp (as its unit)", unitCommand(t, context.Background(), "/lib/systemd/system/evote-idp.service"))
			return idp
		},
	})
	if res.Voters != 3 || !strings.Contains(res.Verify, "VALID: every check holds.") {
		t.Fatalf("election: %d voters; evote-verify:\n%s", res.Voters, res.Verify)
	}
	t.Logf("election against the installed services in %v", time.Since(began).Round(time.Second))
	// Each ran as its user, its database in its state directory.
	for _, db := range []struct{ path, user string }{{"/var/lib/evoted/evote.db", "evoted"}, {"/var/lib/evote-idp/idp.db", "evote-idp"}} {
		if st, err := os.Stat(db.path); err != nil {
			t.Fatalf("no database in the state directory: %v%s", err, w.Logs())
		} else if owner(st) != lookupUID(t, db.user) {
			t.Fatalf("%s owned by uid %d, not %s", db.path, owner(st), db.user)
		}
	}
	// evoted log-key, from the configuration file and the credentials.
	lk := exec.Command("/usr/bin/evoted", "log-key", "pilot", "--config", "/etc/evote/evoted.conf")
	lk.Env = append(os.Environ(), "EVOTE_AUTHORITY_KEY_FILE=/etc/evote/credentials/authority-key", "EVOTE_LOG_KEY_FILE=/etc/evote/credentials/log-key")
	if out, err := lk.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "vote.test/board/pilot+") {
		t.Fatalf("evoted log-key: %v\n%s", err, out)
	}
	// Both stop cleanly on the signal systemd sends.
	w.Stop()
	for _, p := range []*walkthrough.Party{evoted, idp} {
		if err := p.Err(); err != nil {
			t.Fatalf("%v%s", err, w.Logs())
		}
	}

	// Purge: nothing of the packages is left. The credentials are the
	// operator's, not the package's: shredded first, as after an election.
	for _, name := range append(walkthrough.BoxCredentials, walkthrough.IdentityCredentials...) {
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

func owner(st os.FileInfo) int { return int(st.Sys().(*syscall.Stat_t).Uid) }

// installCredentials copies the named files evote keys wrote in dir to
// /etc/evote/credentials, root's alone, where the units' LoadCredential
// lines read them.
func installCredentials(t *testing.T, dir string, names []string) {
	t.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("/etc/evote/credentials", n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// setConf sets NAME=value settings in an installed configuration file as
// an operator would: a setting's line replaced, a new one appended.
func setConf(t *testing.T, path string, settings ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for _, s := range settings {
		name, _, _ := strings.Cut(s, "=")
		found := false
		for i, l := range lines {
			if strings.HasPrefix(l, name+"=") {
				lines[i], found = s, true
			}
		}
		if !found {
			lines = append(lines, s)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
