package api_test

import (
	"context"
	"testing"
)

// FuzzCastBody sends arbitrary bodies with a valid voter token to the cast
// and audit routes: the handler never panics, always answers a JSON error
// for what it refuses, and a refusal leaves the board as it was.
func FuzzCastBody(f *testing.F) {
	e := newEnv(f)
	v, err := e.f.NewVoter(context.Background(), [32]byte{}, "")
	if err != nil {
		f.Fatal(err)
	}
	raw, _, err := e.f.Prepare(v, e.f.Selection(1, v.Style))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"entry":"` + b64(raw) + `"}`))
	f.Add([]byte(`{"entry":"` + b64(raw[:40]) + `"}`))
	f.Add([]byte(`{"audited":"AAAA"}`))
	f.Add([]byte(`{"entry":null}`))
	path := "/elections/" + e.f.ElectionID
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, p := range []string{path + "/ballots", path + "/audits"} {
			before := e.f.Box.Log().Size()
			st, out := e.do(t, "POST", p, v.Token, "application/json", body)
			if st == 201 || st == 200 {
				continue
			}
			if st >= 500 {
				t.Fatalf("%s: server fault %d %v", p, st, out)
			}
			if _, ok := out["error"].(map[string]any); !ok {
				t.Fatalf("%s: %d without a JSON error: %v", p, st, out)
			}
			if after := e.f.Box.Log().Size(); after != before {
				t.Fatalf("%s: refused request changed the board", p)
			}
		}
	})
}
