package api

import (
	"encoding/json"
	"testing"
)

// TestSimpleField: the fast path takes exactly {"name":"base64url"} and
// leaves every other body to the JSON decoder.
func TestSimpleField(t *testing.T) {
	for body, want := range map[string]bool{
		`{"entry":"AAEC-_x"}`:          true,
		`{"entry":""}`:                 true,
		`{ "entry":"AAEC"}`:            false,
		`{"entry": "AAEC"}`:            false,
		`{"entry":"AA\u0045C"}`:        false,
		`{"entry":"AA=="}`:             false,
		`{"entry":"AAEC","x":"y"}`:     false,
		`{"audited":"AAEC"}`:           false,
		`{"entry":"AAEC"}  `:           false,
		`{"entry":"AAEC"`:              false,
		`{"entry":17}`:                 false,
		`{"entryx":"AAEC"}`:            false,
		`{"entry":"AAEC"}{"entry":""}`: false,
		``:                             false,
	} {
		if _, ok := simpleField([]byte(body), "entry"); ok != want {
			t.Errorf("%s: fast path %v, want %v", body, ok, want)
		}
	}
}

// FuzzSimpleField: whenever the fast path takes a body, the JSON decoder
// reads the same text from it.
func FuzzSimpleField(f *testing.F) {
	f.Add([]byte(`{"entry":"AAEC"}`))
	f.Add([]byte(`{"entry":"A\"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, ok := simpleField(body, "entry")
		if !ok {
			return
		}
		var req EntryRequest
		if err := json.Unmarshal(body, &req); err != nil || req.Entry != s {
			t.Fatalf("fast path read %q from %q; the decoder %q, %v", s, body, req.Entry, err)
		}
	})
}
