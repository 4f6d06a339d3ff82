package main

import (
	"flag"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var updateScripts = flag.Bool("update-scripts", false, "rewrite the scripts' golden files (testdata/script) from what evote prints")

// TestMain lets the scripts run this package's main as the command
// evote, in a fresh process each time (testscript.Main), and the bench
// run this binary as its child processes (runBenchChild).
func TestMain(m *testing.M) {
	runBenchChild()
	testscript.Main(m, map[string]func(){"evote": main})
}

// TestScripts runs the CLI's scripts, testdata/script/*.txtar: usage
// errors and what needs no server (keys, the trustee's key file, sample
// and show manifests). The servers' commands are tested in Go
// (demo_test.go, readme_test.go). Each script runs in its own directory
// with no passphrase in the environment; "go test -run TestScripts
// -update-scripts" rewrites a golden file from the command's output.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		UpdateScripts:       *updateScripts,
		Setup: func(e *testscript.Env) error {
			for _, v := range []string{"EVOTE_PASSPHRASE", "EVOTE_BACKUP_PASSPHRASE", "EVOTE_PASSWORD", "EVOTE_SESSION_FILE"} {
				e.Setenv(v, "")
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"flipbyte":    flipByte,
			"cmpmanifest": cmpManifest,
		},
	})
}

// flipByte is the script command "flipbyte FILE N": it flips the lowest
// bit of the byte N bytes from the end of FILE, to tamper with a file.
func flipByte(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	p := ts.MkAbs(args[0])
	b, err := os.ReadFile(p)
	ts.Check(err)
	if n < 1 || n > len(b) {
		ts.Fatalf("%s has %d bytes, not %d", args[0], len(b), n)
	}
	b[len(b)-n] ^= 1
	ts.Check(os.WriteFile(p, b, 0o600))
}

// cmpManifest is the script command "cmpmanifest stdout GOLDEN": it
// compares what show-manifest printed with GOLDEN, leaving out the
// fingerprint's two lines. The sample manifest pins the voting page's
// module by its hash, so its fingerprint changes with every rebuild of the
// module; the script checks the fingerprint's form apart.
func cmpManifest(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || args[0] != "stdout" {
		ts.Fatalf("usage: cmpmanifest stdout GOLDEN")
	}
	drop := func(s string) string {
		lines := strings.Split(s, "\n")
		for i := 0; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], "fingerprint ") {
				end := min(i+2, len(lines))
				lines = append(lines[:i], lines[end:]...)
				break
			}
		}
		return strings.Join(lines, "\n")
	}
	got, want := drop(ts.ReadFile("stdout")), drop(ts.ReadFile(args[1]))
	if got != want {
		ts.Logf("stdout:\n%s", got)
		ts.Fatalf("stdout and %s differ (fingerprint lines left out)", args[1])
	}
}
