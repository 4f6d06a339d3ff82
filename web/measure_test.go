package web_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var measureRuns = flag.Int("measure", 0, "TestThrottledStart: how many cold page loads to measure on issue 13's throttled profile (0 skips it)")

// throttleProfile puts a browser on issue 13's slow phone: 400 kbit/s
// each way, 400 ms round trip, a CPU 4x slower (the viewport, 360x740 at
// scale 2 with touch, and the cold cache are newBrowser's).
func throttleProfile(t *testing.T, b *browser) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Latency: 400, DownloadThroughput: 400 * 1000 / 8, UploadThroughput: 400 * 1000 / 8}}})
		if err != nil {
			return err
		}
		_, err = chromedp.Call(ctx, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: 4})
		return err
	})); err != nil {
		t.Fatal(err)
	}
}

// TestThrottledStart measures, on the throttled profile with a cold cache
// (a new browser profile each time), what a voter waits for before
// signing in: the page opened and a language tapped to the sign-in form
// usable; the module's download (first request to last byte); the page
// opened to the module running and the election checked; and the bytes
// received by then, by kind. It reports the figures (each run, and the
// median) and writes them to testartifacts/web/throttled.txt; it asserts
// nothing about time (the machine is shared):
//
//	go test ./web -run TestThrottledStart -measure 3 -v
func TestThrottledStart(t *testing.T) {
	if *measureRuns <= 0 {
		t.Skip("a measurement: go test ./web -run TestThrottledStart -measure 3 -v")
	}
	path := chromium(t)
	e := newEnv(t)
	var signIn, module, ready []time.Duration
	var lines []string
	for i := range *measureRuns {
		b := newBrowser(t, path)
		throttleProfile(t, b)
		start := time.Now()
		b.do(t, "open the page", chromedp.Navigate(e.url+"/"), visible("v-lang"))
		b.do(t, "choose the language", chromedp.Click(chromedp.CSS(`#lang-big button[data-lang="ru"]`)),
			visible("v-signin"), waitFor(`!document.getElementById("pin").disabled && !document.getElementById("f-start").hidden`))
		si := time.Since(start)
		b.do(t, "module and election", waitFor(`document.body.dataset.ready === "yes"`))
		ms := func(js string) time.Duration {
			return time.Duration(eval[float64](t, b, js) * float64(time.Millisecond)).Round(time.Millisecond)
		}
		rd := ms(`window.__readyAt || -1`)
		md := ms(`(() => { const e = performance.getEntriesByType("resource").find((x) => x.name.includes("/evote.wasm")); return e ? e.responseEnd - e.startTime : -1; })()`)
		by := eval[string](t, b, transferJS)
		signIn, module, ready = append(signIn, si.Round(time.Millisecond)), append(module, md), append(ready, rd)
		lines = append(lines, fmt.Sprintf("  run %d: sign-in usable %v; module download %v; module running and election checked %v; bytes %s", i+1, si.Round(time.Millisecond), md, rd, by))
		chromedp.Cancel(b.ctx)
	}
	med := func(d []time.Duration) time.Duration { s := slices.Clone(d); slices.Sort(s); return s[len(s)/2] }
	report := fmt.Sprintf("throttled start (400 kbit/s, 400 ms RTT, 4x CPU, 360x740 scale 2 touch, cold cache), %d runs:\n%s\n"+
		"  median: sign-in usable %v (target 4 s); module download %v; module running and election checked %v\n",
		len(signIn), strings.Join(lines, "\n"), med(signIn), med(module), med(ready))
	t.Log(report)
	os.WriteFile(filepath.Join(artefacts(t), "throttled.txt"), []byte(report), 0o644)
}
