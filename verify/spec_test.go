package verify

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSpecCostCommands: every benchmark command that the cost sections of
// the spec quote for their figures (§6.9, §11.7) names a package and
// benchmarks that exist, and every EVOTE_VERIFY_ variable it sets is one
// BenchmarkVerifyRecord reads: a figure's command cannot go stale
// unnoticed.
func TestSpecCostCommands(t *testing.T) {
	bench, err := os.ReadFile("bench_test.go")
	if err != nil {
		t.Fatal(err)
	}
	cmdRe := regexp.MustCompile("`([^`]*go test[^`]*)`")
	benchRe := regexp.MustCompile(`-bench\s+'?([^'\s]+)'?`)
	pkgRe := regexp.MustCompile(`\./[a-z/]+`)
	envRe := regexp.MustCompile(`EVOTE_VERIFY_[A-Z]+`)
	for _, sec := range []struct{ file, heading string }{
		{"../spec/06-shuffle.md", "## 6.9 "},
		{"../spec/11-verifying.md", "## 11.7 "},
	} {
		raw, err := os.ReadFile(sec.file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		i := strings.Index(text, sec.heading)
		if i < 0 {
			t.Fatalf("%s: no section %q", sec.file, sec.heading)
		}
		text = text[i+len(sec.heading):]
		if j := strings.Index(text, "\n## "); j >= 0 {
			text = text[:j]
		}
		cmds := cmdRe.FindAllStringSubmatch(strings.ReplaceAll(text, "\n", " "), -1)
		if len(cmds) == 0 {
			t.Errorf("%s%s quotes no benchmark command for its figures", sec.file, sec.heading)
		}
		for _, c := range cmds {
			cmd := c[1]
			b, pkg := benchRe.FindStringSubmatch(cmd), pkgRe.FindString(cmd)
			if b == nil || pkg == "" {
				continue // go test without -bench: a test run
			}
			re, err := regexp.Compile(strings.Split(b[1], "/")[0])
			if err != nil {
				t.Errorf("%q: %v", cmd, err)
				continue
			}
			files, _ := filepath.Glob(filepath.Join("..", pkg, "*_test.go"))
			found := false
			for _, f := range files {
				src, _ := os.ReadFile(f)
				for _, m := range regexp.MustCompile(`func (Benchmark\w+)\(`).FindAllStringSubmatch(string(src), -1) {
					found = found || re.MatchString(m[1])
				}
			}
			if !found {
				t.Errorf("%s%s: %q runs no benchmark of %s", sec.file, sec.heading, cmd, pkg)
			}
			for _, v := range envRe.FindAllString(cmd, -1) {
				if !strings.Contains(string(bench), `"`+v+`"`) {
					t.Errorf("%q sets %s, which BenchmarkVerifyRecord does not read", cmd, v)
				}
			}
		}
	}
}
