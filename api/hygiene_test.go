package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestInputHygiene (issue 16, finding 6): a NUL byte or invalid UTF-8 in
// a user name, a JSON string or a path is refused 400 bad_request with
// both stores (PostgreSQL answered 500: its TEXT cannot hold them), and the
// attempt is in the operations log, its text escaped.
func TestInputHygiene(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			e := newEnvWith(t, envOptions{postgres: store == "postgres"})
			id := e.f.ElectionID
			type tc struct {
				name, method, path, auth string
				body                     []byte
				logged                   string // the escaped text the operations log must show
			}
			cases := []tc{
				{"NUL in user", "POST", "/officials/login", "", []byte(`{"user":"ad\u0000min","password":"correct horse battery staple","totp":"123456"}`), `ad\x00min`},
				{"invalid UTF-8 in user", "POST", "/officials/login", "", []byte("{\"user\":\"ad\xffmin\",\"password\":\"correct horse battery staple\",\"totp\":\"123456\"}"), "not valid UTF-8"}, // the decoded name has U+FFFD for the byte
				{"NUL in password", "POST", "/officials/login", "", []byte(`{"user":"admin","password":"correct horse\u0000battery","totp":"123456"}`), "admin"},
				{"NUL in action", "POST", "/elections/" + id + "/actions/cl%00ose", e.session, nil, `cl\x00ose`},
				{"invalid UTF-8 in action", "POST", "/elections/" + id + "/actions/cl%FFose", e.session, nil, `cl\xffose`},
				{"NUL in election id", "POST", "/elections/te%00st/actions/close", e.session, nil, `te\x00st`},
				{"NUL in a query", "GET", "/officials/operations?limit=1%00", e.session, nil, `limit=1%00`},
				{"NUL in new account", "POST", "/officials/accounts", e.session, []byte(`{"user":"bob\u0000","password":"correct horse battery staple","role":"observer"}`), `bob\x00`},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					ctype := ""
					if c.body != nil {
						ctype = "application/json"
					}
					st, out := e.do(t, c.method, c.path, c.auth, ctype, c.body)
					if st != http.StatusBadRequest {
						t.Fatalf("status %d, want 400 (%v)", st, out)
					}
					st, ops := e.do(t, "GET", "/officials/operations?limit=5", e.observer, "", nil)
					if st != http.StatusOK {
						t.Fatalf("operations: %d %v", st, ops)
					}
					found := false
					for _, o := range ops["operations"].([]any) {
						m := o.(map[string]any)
						if m["outcome"] == "bad_request" && strings.Contains(m["user"].(string)+" "+m["action"].(string)+" "+m["election_id"].(string)+" "+m["detail"].(string), c.logged) {
							found = true
						}
					}
					if !found {
						t.Fatalf("the attempt is not in the operations log: %v", ops)
					}
					for _, o := range ops["operations"].([]any) {
						if strings.Contains(o.(map[string]any)["detail"].(string), "horse") {
							t.Fatalf("a password in the operations log: %v", o)
						}
					}
				})
			}
			// Public and voter routes refuse them too (nothing to log: no
			// official is involved).
			for _, p := range []string{"/elections/te%00st", "/elections/te%FFst/turnout", "/board/%00/checkpoint"} {
				if st, out := e.do(t, "GET", p, "", "", nil); st != http.StatusBadRequest {
					t.Errorf("GET %s: %d %v, want 400", p, st, out)
				}
			}
		})
	}
}
