package ballotbox_test

import (
	"context"
	"strings"
	"testing"

	"evote/ballotbox"
	"evote/ballotbox/boxtest"
)

// TestActionsOutOfOrder: every official action tried before its time
// answers 409 with a message naming what must happen first (or that it is
// done already), never an internal check's failure such as "published
// QUAL differs from computed QUAL"; Readiness says the same.
func TestActionsOutOfOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("mixing takes a few seconds")
	}
	ctx := context.Background()
	dir := t.TempDir()
	st := openSQLite(t, dir)
	t.Cleanup(func() { st.Close() })
	f, err := boxtest.New(ctx, boxtest.Options{Dir: dir, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Registry.Close() })
	check := func(stage string, want map[string]string) {
		t.Helper()
		ready := map[string]error{}
		for _, a := range f.Box.Readiness() {
			ready[a.Action] = a.Err
		}
		for action, msg := range want {
			_, err := f.Box.Act(ctx, action, "o")
			if err == nil {
				t.Fatalf("%s: %s accepted", stage, action)
			}
			if code := ballotbox.Code(err); code != "wrong_phase" && code != "not_ready" {
				t.Errorf("%s: %s: code %s (%v)", stage, action, code, err)
			}
			if !strings.Contains(err.Error(), msg) || strings.Contains(err.Error(), "QUAL") {
				t.Errorf("%s: %s: %q, want it to say %q", stage, action, err, msg)
			}
			if r := ready[action]; r == nil || r.Error() != err.Error() {
				t.Errorf("%s: %s: readiness %v, act %v", stage, action, r, err)
			}
		}
	}
	waitKeygen := "wait for the trustees' key generation messages (evote trustee keygen), then post `qualified`"
	check("before key generation", map[string]string{
		"qualified":        "the trustees' key generation (dealings, complaints, answers) is not complete",
		"close-extraction": waitKeygen,
		"context":          waitKeygen,
		"open":             waitKeygen,
		"close":            waitKeygen,
		"cleanse":          waitKeygen,
		"start-mixing":     waitKeygen,
		"start-decrypting": waitKeygen,
		"tally":            waitKeygen,
	})
	if _, err := f.Box.Act(ctx, "vote", "o"); err == nil {
		t.Fatal("unknown action accepted")
	} else if code := ballotbox.Code(err); code != "unknown_action" {
		t.Fatalf("unknown action: %v", err)
	}
	if err := f.Keygen(ctx); err != nil {
		t.Fatal(err)
	}
	waitIdentity := "wait for the identity service's key set, then post `open`"
	check("before the identity key set", map[string]string{
		"qualified":        "qualified is done already",
		"close-extraction": "close-extraction is done already",
		"context":          "context is done already",
		"open":             "the identity service has not posted its key set",
		"close":            waitIdentity,
		"tally":            waitIdentity,
	})
	if err := f.SetupIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	check("ready", map[string]string{"close": "post `open` first", "cleanse": "post `open` first"})
	if _, err := f.Box.Act(ctx, ballotbox.ActionOpen, "o"); err != nil {
		t.Fatal(err)
	}
	check("open", map[string]string{"open": "open is done already", "cleanse": "post `close` first", "start-mixing": "post `close` first"})
	if _, err := f.Box.Act(ctx, ballotbox.ActionClose, "o"); err != nil {
		t.Fatal(err)
	}
	check("closed", map[string]string{"start-mixing": "post `cleanse` first", "tally": "post `cleanse` first"})
	if _, err := f.Box.Act(ctx, ballotbox.ActionCleanse, "o"); err != nil {
		t.Fatal(err)
	}
	check("cleansed", map[string]string{"cleanse": "cleanse is done already", "start-decrypting": "post `start-mixing` first"})
	if _, err := f.Box.Act(ctx, ballotbox.ActionStartMixing, "o"); err != nil {
		t.Fatal(err)
	}
	check("mixing", map[string]string{"tally": "wait for every trustee's mixes (evote trustee mix), then post `start-decrypting`"})
	if _, err := f.MixAll(ctx, boxtest.Hooks{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionStartDecrypting, "o"); err != nil {
		t.Fatal(err)
	}
	check("decrypting", map[string]string{"start-mixing": "start-mixing is done already"})
	if _, err := f.Box.Act(ctx, ballotbox.ActionTally, "o"); err != nil {
		t.Fatal(err)
	}
	check("tallied", map[string]string{"tally": "tally is done already", "open": "open is done already"})
}
