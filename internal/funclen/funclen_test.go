package funclen

import (
	"os"
	"path/filepath"
	"testing"
)

// Limit is the longest a function may be, in lines.
const Limit = 120

// checked are the trees held to Limit (issue 20's acceptance).
var checked = []string{"cmd", "trustee", "crypto", "election"}

// allowed are the functions of the checked trees that may be longer than
// Limit, each with the reason. An entry that is no longer needed fails
// the test too, so that the list stays true.
var allowed = map[string]string{}

// TestFunctionLength lists the functions of cmd/, trustee/, crypto/ and
// election/ longer than Limit lines and fails on one the allow-list does
// not give a reason for. Run with -v to see the list.
func TestFunctionLength(t *testing.T) {
	long, err := Longer(filepath.Join("..", ".."), checked, Limit)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range long {
		seen[f.Key()] = true
		if why, ok := allowed[f.Key()]; ok {
			t.Logf("%s:%d %s: %d lines (allowed: %s)", f.File, f.Line, f.Name, f.Lines, why)
			continue
		}
		t.Errorf("%s:%d %s is %d lines, more than %d: split it into named steps, or add it to the allow-list with a reason", f.File, f.Line, f.Name, f.Lines, Limit)
	}
	for k := range allowed {
		if !seen[k] {
			t.Errorf("%s is in the allow-list but no longer than %d lines: remove it", k, Limit)
		}
	}
}

// TestLonger: the measure counts from the signature to the closing
// brace, names methods and function literals, and skips test files.
func TestLonger(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "p"), 0o755)
	src := "package p\n\ntype T[K any] struct{}\n\nfunc (t *T[K]) M() {\n\tf := func() {\n\t\t_ = 1\n\t}\n\tf()\n}\n\nfunc short() {}\n"
	os.WriteFile(filepath.Join(dir, "p", "p.go"), []byte(src), 0o644)
	os.WriteFile(filepath.Join(dir, "p", "p_test.go"), []byte("package p\n\nfunc long() {\n\n\n\n}\n"), 0o644)
	got, err := Longer(dir, []string{"p"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Func{{File: "p/p.go", Line: 5, Name: "T.M", Lines: 6}, {File: "p/p.go", Line: 6, Name: "T.M.func", Lines: 3}}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %+v, want %+v", got[i], want[i])
		}
	}
}
