package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestGuidesInFourLanguages: the voters' and officials' guides exist in
// Kyrgyz, Russian, Uzbek (Latin script) and English, each language names
// the same commands, code values and number of steps (a translation that
// drifts from the others fails), links the other three, and the Uzbek is
// in the official Latin alphabet (oʻ gʻ with U+02BB, ʼ U+02BC; no
// Cyrillic, no ASCII apostrophe in their place).
func TestGuidesInFourLanguages(t *testing.T) {
	code := regexp.MustCompile("`[^`]+`")
	steps := regexp.MustCompile(`(?m)^\d+\. `)
	for _, guide := range []string{"voters", "officials"} {
		var ref []string
		var refSteps int
		for _, lang := range []string{"en", "ky", "ru", "uz"} {
			b, err := os.ReadFile(filepath.Join("..", "..", "docs", guide, lang+".md"))
			if err != nil {
				t.Fatalf("%s guide in %s: %v", guide, lang, err)
			}
			s := string(b)
			spans := code.FindAllString(s, -1)
			// The guide's code blocks (indented) count too.
			for _, l := range strings.Split(s, "\n") {
				if strings.HasPrefix(l, "    ") {
					spans = append(spans, strings.TrimSpace(l))
				}
			}
			for i := range spans { // lines wrap differently in each language
				spans[i] = strings.Join(strings.Fields(spans[i]), " ")
			}
			slices.Sort(spans)
			n := len(steps.FindAllString(s, -1))
			if lang == "en" {
				ref, refSteps = spans, n
			} else {
				if !slices.Equal(spans, ref) {
					t.Errorf("%s/%s.md: its commands and values differ from en.md's:\n%q\nwant\n%q", guide, lang, spans, ref)
				}
				if n != refSteps {
					t.Errorf("%s/%s.md: %d numbered steps, en.md has %d", guide, lang, n, refSteps)
				}
			}
			for _, other := range []string{"en", "ky", "ru", "uz"} {
				if other != lang && !strings.Contains(s, "("+other+".md)") {
					t.Errorf("%s/%s.md does not link %s.md", guide, lang, other)
				}
			}
			if lang == "uz" {
				prose := code.ReplaceAllString(s, "")
				prose = strings.ReplaceAll(prose, "[Кыргызча](ky.md)", "")
				prose = strings.ReplaceAll(prose, "[Русский](ru.md)", "")
				for _, r := range prose {
					if unicode.Is(unicode.Cyrillic, r) {
						t.Errorf("%s/uz.md: Cyrillic letter %q outside the language links", guide, r)
						break
					}
				}
				if m := regexp.MustCompile(`[OoGg]['‘’]`).FindString(prose); m != "" {
					t.Errorf("%s/uz.md: %q: oʻ and gʻ take U+02BB", guide, m)
				}
			}
		}
	}
}
