package election

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"evote/bulletin"
)

// TestKeygenKindsMatchSpec checks KeygenEntryType against the table of
// key-generation kinds in spec/07-bulletin.md §7.2.3, and that every
// other kind byte has no entry type.
func TestKeygenKindsMatchSpec(t *testing.T) {
	b, err := os.ReadFile("../spec/07-bulletin.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| ([0-9]+) \\| `[A-Za-z]+` \\| (0x[0-9a-f]{4}) `([a-z-]+)` \\|")
	listed := map[byte]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		kind, _ := strconv.Atoi(m[1])
		code, _ := strconv.ParseUint(m[2][2:], 16, 16)
		got, ok := KeygenEntryType([]byte{byte(kind)})
		if !ok || got != bulletin.Type(code) || got.String() != m[3] {
			t.Errorf("kind %d: spec says %s %s, KeygenEntryType %v %v", kind, m[2], m[3], got, ok)
		}
		listed[byte(kind)] = true
	}
	if len(listed) != 9 {
		t.Fatalf("%d kinds in the spec's table, want 9", len(listed))
	}
	for k := 0; k < 256; k++ {
		if _, ok := KeygenEntryType([]byte{byte(k)}); ok != listed[byte(k)] {
			t.Errorf("kind %d: KeygenEntryType says %v, the spec's table %v", k, ok, listed[byte(k)])
		}
	}
}
