package bulletin

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestRegistryMatchesSpec checks the type registry against the table of
// spec/07-bulletin.md §7.2.3, row by row: code, name, limit, and whether
// the type is reserved (registered so that its code is never reused, but
// accepted by no election's rules).
func TestRegistryMatchesSpec(t *testing.T) {
	b, err := os.ReadFile("../spec/07-bulletin.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "### 7.2.3 Type registry")
	end := strings.Index(text, "### 7.2.4")
	if start < 0 || end < start {
		t.Fatal("no §7.2.3 in the spec")
	}
	row := regexp.MustCompile("^\\| (0x[0-9a-f]{4}) \\| `([a-z0-9-]+)` \\| ([0-9]+) (KiB|MiB) \\| (.*) \\|$")
	limits := map[string]int{"KiB": 1 << 10, "MiB": 1 << 20}
	seen := map[Type]bool{}
	for _, l := range strings.Split(text[start:end], "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		code, _ := strconv.ParseUint(m[1][2:], 16, 16)
		typ := Type(code)
		n, _ := strconv.Atoi(m[3])
		if !typ.Registered() {
			t.Errorf("%s %s: in the spec, not in the registry", m[1], m[2])
			continue
		}
		seen[typ] = true
		if typ.String() != m[2] {
			t.Errorf("%s: spec names it %s, the registry %s", m[1], m[2], typ)
		}
		if typ.MaxPayload() != n*limits[m[4]] {
			t.Errorf("%s: spec limit %s %s, registry %d bytes", m[1], m[3], m[4], typ.MaxPayload())
		}
		if reserved := strings.HasPrefix(m[5], "reserved"); reserved != typ.Reserved() {
			t.Errorf("%s: spec says reserved %v, registry %v", m[1], reserved, typ.Reserved())
		}
	}
	for _, typ := range Types() {
		if !seen[typ] {
			t.Errorf("%s (0x%04x): in the registry, not in the spec", typ, uint16(typ))
		}
	}
}
