package verify

import (
	"os/exec"
	"strings"
	"testing"
)

// allowedDeps are the only evote packages the verifier (library and
// command) may depend on: those that define the record and its
// cryptography. The server, the store, the API and the identity service
// must stay out of an auditor's build (spec §11.0).
var allowedDeps = []string{
	"evote/crypto/", "evote/ballot", "evote/ballot/revoterow", "evote/bulletin", "evote/bulletin/recordfile", "evote/tally", "evote/tally/revote", "evote/election",
	"evote/record", "evote/internal/wire", "evote/internal/parallel", "evote/internal/notefile", "evote/verify", "evote/cmd/evote-verify",
}

// forbiddenModules are third-party modules that only servers use.
var forbiddenModules = []string{"github.com/gin-gonic/", "github.com/jackc/", "modernc.org/", "github.com/golang-jwt/"}

func TestImportsOnlyRecordPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, pkg := range []string{"evote/verify", "evote/cmd/evote-verify"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "evote/") || dep == "evote" {
				ok := false
				for _, a := range allowedDeps {
					if dep == strings.TrimSuffix(a, "/") || strings.HasPrefix(dep, a) && (strings.HasSuffix(a, "/") || dep == a) {
						ok = true
					}
				}
				if dep == "evote/bulletin/board" || dep == "evote/bulletin/witness" || dep == "evote/election/sim" {
					ok = false
				}
				if !ok {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
			for _, m := range forbiddenModules {
				if strings.HasPrefix(dep, m) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
