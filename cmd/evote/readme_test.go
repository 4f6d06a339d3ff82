package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"evote/internal/walkthrough"
)

// TestReadmeWalkthrough walks the README's "A real election, step by step"
// as its parties would, each a separate process on loopback, on the
// embedded store: it builds the commands with the README's build line and
// runs the README's own command lines (their placeholders filled in), so
// that the README cannot drift from the code (internal/walkthrough; the
// package test runs the same election against the installed packages).
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
	section := walkthrough.Section(t, "../../README.md")
	cmds := walkthrough.Commands(section)
	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	os.MkdirAll(home, 0o700)
	w := &walkthrough.Walk{T: t, Bin: filepath.Join(tmp, "bin"), Env: []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}}
	defer w.Stop()

	// Build every command the section names, with its build line.
	build := walkthrough.Command(t, cmds, "go build", "bin/", w.Bin+"/")
	buildCmd := exec.Command(build[0], build[1:]...)
	buildCmd.Dir = "../.."
	if out, err := buildCmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(build, " "), err, out)
	}
	for _, name := range []string{"evoted", "evote", "evote-verify", "evote-idp"} {
		if _, err := os.Stat(filepath.Join(w.Bin, name)); err != nil {
			t.Fatalf("the README's build line does not build %s", name)
		}
	}
	t.Logf("built in %v", time.Since(began).Round(time.Second))
	walkthrough.Election(w, section, tmp, walkthrough.ByTheREADME)
	t.Logf("walkthrough done in %v", time.Since(began).Round(time.Second))
}
