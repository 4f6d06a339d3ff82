package desk

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"evote/web/internal/browsertest"
)

// TestDeskScreens drives the desk in Chromium, in each language, as the
// station's staff would: the look-up, the mark (the browser itself
// refuses it until the document-checked box is ticked), the next voter,
// a voter marked already, a person not on the list, and a mark whose row
// the desk waits for on a page that refreshes itself until it shows the
// row on the board. Every screen is written to testartifacts/web/desk/.
func TestDeskScreens(t *testing.T) {
	path := browsertest.Chromium(t)
	dir := filepath.Join(browsertest.Artefacts(t, "web"), "desk")
	os.MkdirAll(dir, 0o755)
	b := browsertest.New(t, path, browsertest.Phone, 4*time.Minute)
	b.Allow("422") // the refusals' status
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(b.Context(), steps...); err != nil {
			page, _ := chromedp.Run(b.Context(), chromedp.Evaluate[string](`document.body ? document.body.dataset.view + " | " + document.body.innerText.slice(0, 300) : ""`))
			t.Fatalf("%s: %v (page: %s; problems: %v)", what, err, page, b.Problems())
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(b.Context(), chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	view := func(v string) chromedp.Action[chromedp.Void] {
		return browsertest.WaitForPage(`document.body && document.body.dataset.view === "` + v + `"`)
	}
	lookup := func(pin string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.SetValue(chromedp.CSS("#pin"), pin), chromedp.Click(chromedp.CSS("#lookup")))
	}
	for i, l := range Languages {
		st := newScripted()
		h, srv := newDesk(t, st)
		n := func(s string) string { return fmt.Sprintf("%d-%s-%s", i+1, l, s) }
		// The printed address: its key becomes the browser's cookie.
		do("start", chromedp.Navigate(srv.URL+h.Path()+"&lang="+l), view("start"))
		shot(n("1-start"))
		do("look up", lookup(pinFree), view("voter"))
		shot(n("2-voter"))
		// Not ticked: the browser does not send the form.
		do("mark unticked", chromedp.Click(chromedp.CSS("#mark")), chromedp.Sleep(300*time.Millisecond), view("voter"))
		if st.marked[pinFree] {
			t.Fatalf("%s: marked without the document checked", l)
		}
		do("mark", chromedp.Click(chromedp.CSS(`input[name="checked"]`)), chromedp.Click(chromedp.CSS("#mark")), view("marked"))
		shot(n("3-marked"))
		do("next voter", chromedp.Click(chromedp.CSS("a.button")), view("start"))
		do("a voter marked already", lookup(pinMarked), view("voter"), browsertest.WaitForPage(`!!document.getElementById("already") && !document.getElementById("mark")`))
		shot(n("4-already"))
		do("a stranger", chromedp.Navigate(srv.URL+"/?lang="+l), view("start"), lookup(pinStranger), view("refused"))
		shot(n("5-refused"))
		do("rows", chromedp.Navigate(srv.URL+"/?lang="+l), view("start"), lookup(pinRows), view("voter"),
			chromedp.Click(chromedp.CSS(`input[name="checked"]`)), chromedp.Click(chromedp.CSS("#mark")), view("waiting"))
		shot(n("6-waiting"))
		close(st.release)
		do("published", view("published")) // the page refreshes itself
		shot(n("7-published"))
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("page problems: %v", p)
	}
}
