// Package browsertest is what the pages' browser tests share (the voting
// page's and the portal's in package web, the console's in web/console):
// finding Chromium, where screenshots go, and a headless tab that records
// every request and every problem on its pages (script exceptions,
// console errors, CSP violations and other logged errors), and waiting
// for a condition on the page.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Chromium returns the browser's path ($CHROMIUM, else chromium,
// chromium-browser or google-chrome on the PATH). Locally a browser test
// skips when there is none; in CI (CI=true) it fails, since .ci/install
// installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (.ci/install installs it)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// Artefacts returns the directory for a test's screenshots and
// measurements, testartifacts/<name> at the module root (gitignored),
// made if missing.
func Artefacts(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("browsertest: no go.mod above the test's directory")
		}
		dir = parent
	}
	dir = filepath.Join(dir, "testartifacts", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Viewport is the size of the window a page is tested in.
type Viewport struct {
	Width, Height int
	// Mobile emulates a phone: twice the pixels, touch, a mobile user
	// agent's layout.
	Mobile bool
}

var (
	// Phone is a small phone's screen, the voting page's first target.
	Phone = Viewport{Width: 360, Height: 740, Mobile: true}
	// Laptop is an official's laptop, the console's target.
	Laptop = Viewport{Width: 1280, Height: 900}
)

// Browser is a fresh headless Chromium (a new profile) with one tab, at
// a viewport, recording every request the tab makes and every problem on
// its pages. It is closed when the test ends.
type Browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	problems []string
	allowed  []string
}

// New starts the browser at path; every step on it must end within
// timeout.
func New(t testing.TB, path string, vp Viewport, timeout time.Duration) *Browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(vp.Width, vp.Height),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel3)
	b := &Browser{ctx: ctx}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatal(err)
	}
	var emulate []chromedp.EmulateViewportOption
	if vp.Mobile {
		emulate = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch}
	}
	if err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, log.Enable, cdp.Empty{})
			return err
		}),
		chromedp.EmulateViewport(int64(vp.Width), int64(vp.Height), emulate...),
	); err != nil {
		t.Fatal(err)
	}
	return b
}

// record notes a request or a problem from the tab's events.
func (b *Browser) record(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, e.Request.Method+" "+e.Request.URL)
	case *cdpruntime.EventExceptionThrown:
		b.problems = append(b.problems, "exception: "+e.ExceptionDetails.Text+" "+Describe(e.ExceptionDetails.Exception))
	case *cdpruntime.EventConsoleAPICalled:
		if e.Type == cdpruntime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, Describe(a))
			}
			b.problems = append(b.problems, "console: "+strings.Join(parts, " "))
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			msg := "log: " + e.Entry.Text + " " + e.Entry.URL
			if !slices.ContainsFunc(b.allowed, func(a string) bool { return strings.Contains(msg, a) }) {
				b.problems = append(b.problems, msg)
			}
		}
	}
}

// Context is the tab's context, for chromedp.Run and chromedp.Do.
func (b *Browser) Context() context.Context { return b.ctx }

// Allow adds logged errors that are expected, e.g. the 401 of a wrong
// code typed on purpose: a log entry containing one of them is not a
// problem.
func (b *Browser) Allow(substrings ...string) {
	b.mu.Lock()
	b.allowed = append(b.allowed, substrings...)
	b.mu.Unlock()
}

// Problems returns the problems recorded so far.
func (b *Browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.problems)
}

// Requests returns the requests made so far, as "METHOD URL".
func (b *Browser) Requests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.requests)
}

// Describe is a remote object as a line of text.
func Describe(o *cdpruntime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Value)
}

// WaitForPage waits until a JavaScript condition holds on the page that
// a navigation (a form posted, a page refreshing itself) brings: an
// evaluation that fails while the old page goes is tried again, until
// the step's deadline.
func WaitForPage(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		var last error
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			if err == nil && ok {
				return nil
			}
			if err != nil {
				last = err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w (last evaluation: %v)", cond, ctx.Err(), last)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// WaitFor waits until a JavaScript condition holds, checking every 50 ms.
func WaitFor(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w", cond, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}
