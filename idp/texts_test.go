package idp

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"evote/idp/idpstore"
)

var verbs = regexp.MustCompile(`%[sd]`)

// TestTextsComplete: every message exists in every language with the
// English one's placeholders in the same order; Kyrgyz and Russian are in
// Cyrillic, Uzbek in the official Latin alphabet (oʻ and gʻ with U+02BB,
// never an ASCII apostrophe, no Cyrillic).
func TestTextsComplete(t *testing.T) {
	cyr := regexp.MustCompile(`\p{Cyrillic}`)
	for _, l := range Languages {
		tx, ok := texts[l]
		if !ok {
			t.Fatalf("no texts in %s", l)
		}
		for k := text(0); k < numTexts; k++ {
			s := tx[k]
			if strings.TrimSpace(s) == "" {
				t.Errorf("%s: text %d missing", l, k)
				continue
			}
			if got, want := verbs.FindAllString(s, -1), verbs.FindAllString(texts["en"][k], -1); strings.Join(got, "") != strings.Join(want, "") {
				t.Errorf("%s: text %d has placeholders %v, English %v", l, k, got, want)
			}
			switch l {
			case "ky", "ru":
				if !cyr.MatchString(s) {
					t.Errorf("%s: text %d is not in Cyrillic: %q", l, k, s)
				}
			case "uz":
				if cyr.MatchString(s) || strings.ContainsAny(s, "'‘’`") {
					t.Errorf("uz: text %d is not in the official Latin alphabet: %q", k, s)
				}
			}
		}
	}
	if !ValidLang("uz") || ValidLang("") || ValidLang("de") || !ValidLang(DefaultLang) {
		t.Fatal("ValidLang")
	}
}

// TestCodeTextInVoterLanguage: the code is texted in the language the
// sign-in names (and a resend keeps it); no language gives DefaultLang's
// text; another language is refused as invalid input before anything is
// looked up or sent.
func TestCodeTextInVoterLanguage(t *testing.T) {
	var skew time.Duration // moves the service's clock past the resend wait
	s, sim, sms := newService(t, func(c *Config) {
		now := c.Now
		c.Now = func() time.Time { return now().Add(skew) }
		c.OTP.Now = c.Now
	})
	ctx := context.Background()
	people := sim.People()
	var add []idpstore.ChangeOp
	for _, p := range people[:3] {
		add = append(add, idpstore.ChangeOp{Op: 1, Pseudonym: s.Pseudonym(p.PIN), BallotStyle: "A"})
	}
	{
		if _, _, err := s.cfg.Store.ApplyChange(ctx, "e", 1, 1, "lo-1", 1, add, entryVoterListChange, func(idpstore.ChangeResult) ([]byte, error) { return []byte("entry"), nil }); err != nil {
			t.Fatal(err)
		}
	}
	req := func(i int, lang string) StartRequest {
		p := people[i]
		return StartRequest{PIN: p.PIN.Digits(), DocumentNumber: p.DocumentNumber, BirthDate: p.BirthDate.Format(time.DateOnly), Lang: lang}
	}
	if _, err := s.Start(ctx, "192.0.2.9", req(0, "de")); !errors.Is(err, ErrInvalidInput) {
		t.Fatalf("lang de: %v, want invalid input", err)
	}
	if n := len(sms.Messages(people[0].Phone)); n != 0 {
		t.Fatalf("%d texts after a refused language", n)
	}
	for i, c := range []struct{ lang, want string }{{"ru", "ваш код"}, {"ky", "кодуңуз"}, {"", "your code is"}} {
		ch, err := s.Start(ctx, "192.0.2.1"+string(rune('0'+i)), req(i, c.lang))
		if err != nil {
			t.Fatal(err)
		}
		if ch.Unconfirmed {
			t.Fatalf("%q: unconfirmed answer", c.lang)
		}
		if got := sms.Last(people[i].Phone).Text; !strings.Contains(got, c.want) {
			t.Fatalf("lang %q: texted %q, want %q in it", c.lang, got, c.want)
		}
		if c.lang != "ru" {
			continue
		}
		skew = 2 * time.Minute
		if _, err := s.Resend(ctx, "192.0.2.20", ch.ID); err != nil {
			t.Fatal(err)
		}
		msgs := sms.Messages(people[i].Phone)
		if len(msgs) != 2 || !strings.Contains(msgs[1].Text, c.want) {
			t.Fatalf("resent code: %v, want a second text in Russian", msgs)
		}
	}
}

// TestTextsOneOwner: every text the service sends a voter is written in
// texts.go and nowhere else: no other file of the service has a string
// beginning "evote: " (every text's start), and every Sender.Send passes
// a text made by one of texts.go's functions (directly, or through a
// variable or parameter).
func TestTextsOneOwner(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	sub, _ := filepath.Glob("*/*.go")
	files = append(files, sub...)
	sends := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "texts.go" || strings.HasPrefix(f, "otp/") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING && strings.HasPrefix(strings.Trim(n.Value, "`\""), "evote: ") {
					t.Errorf("%s: a voter's text written outside texts.go: %s", fset.Position(n.Pos()), n.Value)
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Send" || len(n.Args) != 3 {
					return true
				}
				if s, ok := sel.X.(*ast.SelectorExpr); !ok || s.Sel.Name != "Sender" {
					return true
				}
				sends++
				switch a := n.Args[2].(type) {
				case *ast.Ident:
				case *ast.CallExpr:
					if id, ok := a.Fun.(*ast.Ident); !ok || !strings.HasSuffix(id.Name, "Text") {
						t.Errorf("%s: Send's text is not made by a texts.go function", fset.Position(n.Pos()))
					}
				default:
					t.Errorf("%s: Send's text is not made by a texts.go function", fset.Position(n.Pos()))
				}
			}
			return true
		})
	}
	if sends < 5 {
		t.Fatalf("found %d Sender.Send calls, want the service's five or more", sends)
	}
}

// TestNoticeTexts: the notices name their moment in UTC to the minute,
// in the language asked (the in-person mark's in the language of the
// voter's last online sign-in; none gives DefaultLang).
func TestNoticeTexts(t *testing.T) {
	at := time.Date(2027, 3, 14, 9, 26, 53, 0, time.FixedZone("UTC+6", 6*3600))
	if got := markedInPersonText("ru", "station-7", at); !strings.Contains(got, "участке station-7 в 2027-03-14 03:26 UTC") {
		t.Errorf("ru mark notice: %q", got)
	}
	if got := markedInPersonText("", "station-7", at); got != say(DefaultLang, textMarkedInPerson, "station-7", "2027-03-14 03:26") {
		t.Errorf("mark notice with no language: %q", got)
	}
	if got := credentialText("uz", at, "abcd1234"); !strings.Contains(got, "2027-03-14 03:26 UTC") || !strings.Contains(got, "abcd1234") || !strings.Contains(got, "ovoz berish kaliti") {
		t.Errorf("uz credential notice: %q", got)
	}
}
