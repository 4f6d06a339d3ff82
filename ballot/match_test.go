package ballot

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The manifest's hand-written matchers accept exactly what the regular
// expressions they replace accepted (the page's module does not link
// package regexp; a difference would make the page and the verifier
// disagree on which manifests are valid).
var (
	svgRootRE = regexp.MustCompile(`^\s*(<\?xml[^>]*\?>\s*)?(<!--(?s:.*?)-->\s*)*<svg[\s>]`)
	idRE      = regexp.MustCompile(idPattern)
)

func TestSVGStartMatchesRegexp(t *testing.T) {
	cases := []string{
		"", "<svg>", "<svg", "<svg/>", "<svgx>", " \t\r\n\f<svg\n", "\v<svg>",
		`<?xml version="1.0"?><svg>`, `<?xml?><svg>`, `<?xml><svg>`, `<?xml ?>  <svg >`, `<?xml a>b?><svg>`,
		"<!----><svg>", "<!---><svg>", "<!--><svg>", "<!-- a --><svg>", "<!-- a -->x<!-- b --><svg>",
		"<!-- a --> <!-- b -->\n<svg\t", "<!-- --> x", "<!-- -->-->-->--><svg>", "<!-- -- ><svg>",
		`<?xml version="1.0"?><!-- c --><svg>`, `<!-- c --><?xml?><svg>`, "<SVG>", "<!-- a --><svg",
	}
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"<", ">", "?", "!", "-", "--", "-->", "<!--", "<?xml", "?>", "<svg", " ", "\n", "\v", "x", "svg", "\t"}
	for range 200000 {
		var b strings.Builder
		for range r.IntN(8) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		if got, want := isSVGStart([]byte(c)), svgRootRE.MatchString(c); got != want {
			t.Errorf("isSVGStart(%q) = %v, the regular expression says %v", c, got, want)
		}
	}
}

func TestValidIDMatchesRegexp(t *testing.T) {
	cases := []string{"", "a", "-", "-a", "a-", "0", "A", "a_b", "é", "a\n", strings.Repeat("a", 64), strings.Repeat("a", 65), "a b"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		// Mostly valid characters, so that both answers occur often.
		alphabet := "az09-"
		if r.IntN(2) == 0 {
			alphabet = "az09-A_ \n\x00é"
		}
		b := make([]byte, r.IntN(70))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if got, want := validID(c), idRE.MatchString(c); got != want {
			t.Errorf("validID(%q) = %v, the regular expression says %v", c, got, want)
		}
	}
}
