package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/stdlib"

	"evote/api"
	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/bulletin"
	"evote/idp/token"
	"evote/official"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
)

func init() { gin.SetMode(gin.TestMode) }

type env struct {
	f        *boxtest.Fixture
	srv      *httptest.Server
	offs     *official.Service
	db       *sql.DB // the officials' (and, on SQLite, the board's) database
	session  string  // an admin's session token
	observer string  // an observer's session token
	secret   string
}

const adminPassword = "correct horse battery staple"

func newEnv(t testing.TB) *env { return newEnvWith(t, envOptions{}) }

// envOptions vary the test server.
type envOptions struct {
	// argon2 is the officials' password hashing cost (default: a cheap
	// one, 1 MiB; the flood tests use official.DefaultArgon2).
	argon2 official.Argon2Params
	// server adjusts the API server before it starts.
	server func(*api.Server)
	// postgres keeps the officials' accounts in a fresh PostgreSQL schema
	// (the test is skipped without a server, except under CI).
	postgres bool
	// metrics, if set, times the fixture's store and watches its
	// witnesses, and is the server's metrics.
	metrics *api.Metrics
	// witness, if set, wraps the fixture's witness (after metrics).
	witness func(ballotbox.Cosigner) ballotbox.Cosigner
	// coercion, if its mode is set, makes the election one in deniable
	// re-voting mode (boxtest.Options.Coercion).
	coercion ballot.Coercion
}

func newEnvWith(t testing.TB, o envOptions) *env {
	ctx := context.Background()
	if o.argon2 == (official.Argon2Params{}) {
		o.argon2 = official.Argon2Params{Time: 1, Memory: 1024, Threads: 1}
	}
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// The officials' accounts share the board's database, as in cmd/evoted.
	var db *sql.DB = st.DB()
	dialect := official.SQLite
	if o.postgres {
		pg, err := postgres.Open(ctx, pgtest.Schema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		db, dialect = stdlib.OpenDBFromPool(pg.Pool()), official.Postgres
	}
	offs, err := official.Open(ctx, official.Config{DB: db, Dialect: dialect, Argon2: o.argon2})
	if err != nil {
		t.Fatal(err)
	}
	bo := boxtest.Options{Dir: dir, Store: st, Catalog: offs, Witnesses: 1, Coercion: o.coercion}
	if o.metrics != nil {
		bo.Store = o.metrics.Store(st)
	}
	if o.metrics != nil || o.witness != nil {
		bo.WrapWitness = func(c ballotbox.Cosigner) ballotbox.Cosigner {
			if o.witness != nil {
				c = o.witness(c)
			}
			if o.metrics != nil {
				c = o.metrics.Cosigner(c)
			}
			return c
		}
	}
	f, err := boxtest.New(ctx, bo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Registry.Close() })
	if err := f.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	s := api.NewServer()
	if o.metrics != nil {
		s.SetMetrics(o.metrics)
	}
	s.Registry, s.Officials = f.Registry, offs
	if o.server != nil {
		o.server(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	e := &env{f: f, srv: srv, offs: offs, db: db}
	e.secret, _ = official.NewTOTPSecret()
	if _, err := offs.Bootstrap(ctx, "admin", adminPassword, e.secret); err != nil {
		t.Fatal(err)
	}
	code, _ := official.TOTPCode(e.secret, time.Now())
	r, err := offs.Login(ctx, official.Attempt{User: "admin", Password: adminPassword, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	e.session = r.Token
	osec, _ := official.NewTOTPSecret()
	if _, err := offs.CreateAccount(ctx, "admin", "observer", adminPassword, official.RoleObserver, osec); err != nil {
		t.Fatal(err)
	}
	code, _ = official.TOTPCode(osec, time.Now())
	if r, err = offs.Login(ctx, official.Attempt{User: "observer", Password: adminPassword, Code: code}); err != nil {
		t.Fatal(err)
	}
	e.observer = r.Token
	return e
}

func (e *env) do(t testing.TB, method, path, auth, ctype string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+"/api/v1"+path, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			// Some answers are arrays.
			out = map[string]any{"_raw": string(raw)}
		}
	}
	return resp.StatusCode, out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestCastOverHTTP casts a ballot and checks the receipt's shape, then the
// retry.
func TestCastOverHTTP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v, err := e.f.NewVoter(ctx, [32]byte{}, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, p, err := e.f.Prepare(v, e.f.Selection(1, v.Style))
	if err != nil {
		t.Fatal(err)
	}
	body := jsonBody(map[string]string{"entry": b64(raw)})
	st, out := e.do(t, "POST", "/elections/"+e.f.ElectionID+"/ballots", v.Token, "application/json", body)
	if st != http.StatusCreated {
		t.Fatalf("cast: %d %v", st, out)
	}
	code := p.Ballot.TrackingCode()
	if out["tracking_code"] != b64(code[:]) || out["tracking_code_text"] != code.String() || out["checkpoint"] == "" {
		t.Fatalf("receipt %v", out)
	}
	st, out2 := e.do(t, "POST", "/elections/"+e.f.ElectionID+"/ballots", v.Token, "application/json", body)
	if st != http.StatusOK || out2["index"] != out["index"] {
		t.Fatalf("retry: %d %v", st, out2)
	}
	// The board serves the election's log, and finds the ballot by its
	// tracking code.
	lid := e.f.Box.Log().ID()
	st, bv := e.do(t, "GET", fmt.Sprintf("/board/%x/ballots/%x", lid[:], code[:]), "", "", nil)
	if st != 200 || bv["entry"].(map[string]any)["index"] != out["index"] {
		t.Fatalf("board ballot lookup: %d %v", st, bv)
	}
	st, out = e.do(t, "GET", "/elections/"+e.f.ElectionID+"/turnout", "", "", nil)
	if st != 200 || out["ballots"] != float64(1) {
		t.Fatalf("turnout %d %v", st, out)
	}
	// The election's lifecycle so far: set up by the manifest (0), ready
	// by the context, open by the official's entry with its time.
	st, out = e.do(t, "GET", "/elections/"+e.f.ElectionID, "", "", nil)
	lc, _ := out["lifecycle"].([]any)
	if st != 200 || len(lc) != 3 {
		t.Fatalf("election info lifecycle: %d %v", st, out["lifecycle"])
	}
	for i, want := range []string{"setup", "ready", "open"} {
		m := lc[i].(map[string]any)
		if m["phase"] != want || (i == 0) != (m["index"] == float64(0)) || (i == 2) != (m["at"] != nil) {
			t.Errorf("lifecycle %d: %v", i, m)
		}
	}
	// An audit is accepted (202, pending, with when it will be published)
	// and served at once by the tracking code as shown; a retry is 200.
	_, pa, err := e.f.Prepare(v, e.f.Selection(5, v.Style))
	if err != nil {
		t.Fatal(err)
	}
	abody := jsonBody(map[string]string{"audited": b64(pa.Audit().Encode()), "ballot": b64(pa.Ballot.Encode())})
	acode := pa.Ballot.TrackingCode()
	st, aout := e.do(t, "POST", "/elections/"+e.f.ElectionID+"/audits", v.Token, "application/json", abody)
	if st != http.StatusAccepted || aout["status"] != "pending" || aout["tracking_code_text"] != acode.String() || aout["publish_after"] == nil || aout["min_batch"] == nil || aout["index"] != nil {
		t.Fatalf("audit: %d %v", st, aout)
	}
	if st, again := e.do(t, "POST", "/elections/"+e.f.ElectionID+"/audits", v.Token, "application/json", abody); st != http.StatusOK || again["entry_hash"] != aout["entry_hash"] {
		t.Fatalf("audit retry: %d %v", st, again)
	}
	for _, shown := range []string{acode.String(), strings.ToLower(strings.ReplaceAll(acode.String(), "-", ""))} {
		st, av := e.do(t, "GET", "/elections/"+e.f.ElectionID+"/audits/"+shown, "", "", nil)
		if st != 200 || av["status"] != "pending" || av["ballot"] != b64(pa.Ballot.Encode()) || av["entry"] == nil || av["inclusion_proof"] != nil {
			t.Fatalf("audit lookup %s: %d %v", shown, st, av)
		}
	}
	pseudo := fmt.Sprintf("%x", v.Pseudonym)
	st, out = e.do(t, "GET", "/elections/"+e.f.ElectionID+"/voters/"+pseudo, "", "", nil)
	if st != 200 || len(out["ballots"].([]any)) != 1 || len(out["credentials"].([]any)) != 1 {
		t.Fatalf("voter %d %v", st, out)
	}
}

// TestBadInput sends bad input to every endpoint: each answer is a 4xx
// JSON error with the expected code, and the board does not change.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.f.ElectionID
	v, err := e.f.NewVoter(ctx, [32]byte{}, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, p, err := e.f.Prepare(v, e.f.Selection(2, v.Style))
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := e.f.Prepare(v, e.f.Selection(3, v.Style))
	if err != nil {
		t.Fatal(err)
	}
	// A token that expired an hour ago, signed by the real key.
	past, _ := token.NewIssuer(token.IssuerConfig{Issuer: boxtest.IssuerID, Audience: boxtest.Audience, Now: func() time.Time { return time.Now().Add(-time.Hour) }}, e.f.TokenKey)
	expired, _, err := past.Issue(token.Grant{ElectionID: id, ContextHash: e.f.Box.View().Context.ExtendedHash, Pseudonym: v.Pseudonym, BallotStyle: v.Style, DeviceKey: v.Device.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	good := jsonBody(map[string]string{"entry": b64(raw)})
	audit := jsonBody(map[string]string{"audited": b64(p.Audit().Encode()), "ballot": b64(p.Ballot.Encode())})
	big := []byte(`{"entry":"` + strings.Repeat("A", 300<<10) + `"}`)
	// A trustee's mix whose header announces a payload beyond the type's
	// and the route's limits: refused from the header, before the rest is
	// read.
	hugeHeader := []byte{bulletin.EntryVersion}
	lid := e.f.Box.Log().ID()
	hugeHeader = append(hugeHeader, lid[:]...)
	hugeHeader = binary.BigEndian.AppendUint16(hugeHeader, uint16(bulletin.TypeMixOutput))
	hugeHeader = append(hugeHeader, e.f.Trustees[0].Public().(ed25519.PublicKey)...)
	hugeHeader = binary.BigEndian.AppendUint32(hugeHeader, 257<<20)
	hugeTrustee := []byte(`{"entry":"` + b64(append(hugeHeader, 0)) + strings.Repeat("A", 1<<20) + `"}`)
	zerosTrustee := []byte(`{"entry":"` + strings.Repeat("A", 65<<20) + `"}`)
	trusteeEntry := jsonBody(map[string]string{"entry": b64(raw)}) // a ballot is not a trustee entry
	login := jsonBody(map[string]string{"user": "admin", "password": "wrong password here", "totp": "123456"})
	type tc struct {
		name, method, path, auth, ctype string
		body                            []byte
		status                          int
		code                            string
	}
	ballots := "/elections/" + id + "/ballots"
	audits := "/elections/" + id + "/audits"
	trustee := "/elections/" + id + "/trustee/entries"
	identity := "/elections/" + id + "/identity/entries"
	actions := "/elections/" + id + "/actions/"
	cases := []tc{}
	// Every JSON-taking endpoint gets the generic bad bodies.
	type ep struct{ path, auth, field string }
	for _, x := range []ep{{ballots, v.Token, "entry"}, {audits, v.Token, "audited"}, {trustee, "", "entry"}, {identity, "", "entry"}, {"/officials/login", "", "user"}, {"/officials/accounts", e.session, "user"}, {"/elections", e.session, "manifest"}} {
		cases = append(cases,
			tc{"malformed json", "POST", x.path, x.auth, "application/json", []byte(`{"` + x.field + `": `), 400, "bad_json"},
			tc{"wrong type", "POST", x.path, x.auth, "application/json", []byte(`{"` + x.field + `": 17}`), 400, "bad_json"},
			tc{"unknown field", "POST", x.path, x.auth, "application/json", []byte(`{"` + x.field + `": "AA", "extra": 1}`), 400, "bad_json"},
			tc{"trailing data", "POST", x.path, x.auth, "application/json", []byte(`{"` + x.field + `": "AA"} {}`), 400, "bad_json"},
			tc{"array body", "POST", x.path, x.auth, "application/json", []byte(`[]`), 400, "bad_json"},
			tc{"wrong content type", "POST", x.path, x.auth, "text/plain", []byte(`{}`), 415, "unsupported_media_type"},
		)
		if x.path != "/officials/login" && x.path != "/officials/accounts" {
			cases = append(cases,
				tc{"bad base64", "POST", x.path, x.auth, "application/json", []byte(`{"` + x.field + `": "!!notbase64"}`), 400, "bad_base64"},
				tc{"padded base64", "POST", x.path, x.auth, "application/json", []byte(`{"` + x.field + `": "AAA="}`), 400, "bad_base64"},
				tc{"missing field", "POST", x.path, x.auth, "application/json", []byte(`{}`), 400, "bad_request"},
			)
		}
	}
	cases = append(cases,
		tc{"oversized ballot", "POST", ballots, v.Token, "application/json", big, 413, "too_large"},
		tc{"oversized audit", "POST", audits, v.Token, "application/json", big, 413, "too_large"},
		tc{"oversized identity entry", "POST", identity, "", "application/json", big, 413, "too_large"},
		tc{"oversized trustee entry", "POST", trustee, "", "application/json", hugeTrustee, 413, "too_large"},
		tc{"oversized body of zeros", "POST", trustee, "", "application/json", zerosTrustee, 400, "bad_entry"},
		tc{"wrong election ballot", "POST", "/elections/nope/ballots", v.Token, "application/json", good, 404, "unknown_election"},
		tc{"wrong election audit", "POST", "/elections/nope/audits", v.Token, "application/json", audit, 404, "unknown_election"},
		tc{"wrong election trustee", "POST", "/elections/nope/trustee/entries", "", "application/json", trusteeEntry, 404, "unknown_election"},
		tc{"wrong election info", "GET", "/elections/nope", "", "", nil, 404, "unknown_election"},
		tc{"wrong election turnout", "GET", "/elections/nope/turnout", "", "", nil, 404, "unknown_election"},
		tc{"wrong election action", "POST", "/elections/nope/actions/close", e.session, "", nil, 404, "unknown_election"},
		tc{"no token", "POST", ballots, "", "application/json", good, 401, "token_invalid"},
		tc{"garbage token", "POST", ballots, "not.a.jwt", "application/json", good, 401, "token_invalid"},
		tc{"expired token", "POST", ballots, expired, "application/json", good, 401, "token_expired"},
		tc{"expired token audit", "POST", audits, expired, "application/json", audit, 401, "token_expired"},
		tc{"not an entry", "POST", ballots, v.Token, "application/json", jsonBody(map[string]string{"entry": b64([]byte("hello"))}), 400, "bad_entry"},
		tc{"truncated entry", "POST", ballots, v.Token, "application/json", jsonBody(map[string]string{"entry": b64(raw[:len(raw)-1])}), 400, "bad_entry"},
		tc{"not an audit", "POST", audits, v.Token, "application/json", jsonBody(map[string]string{"audited": b64([]byte{1, 2, 3}), "ballot": b64(p.Ballot.Encode())}), 422, "audit_invalid"},
		tc{"audit without its ballot", "POST", audits, v.Token, "application/json", jsonBody(map[string]string{"audited": b64(p.Audit().Encode())}), 400, "bad_request"},
		tc{"audit of another ballot", "POST", audits, v.Token, "application/json", jsonBody(map[string]string{"audited": b64(p.Audit().Encode()), "ballot": b64(other.Ballot.Encode())}), 422, "audit_invalid"},
		tc{"bad audit code", "GET", audits + "/XYZ", "", "", nil, 400, "bad_request"},
		tc{"unknown audit", "GET", audits + "/" + strings.Repeat("A", 32), "", "", nil, 404, "not_found"},
		tc{"wrong election audit lookup", "GET", "/elections/nope/audits/" + p.Ballot.TrackingCode().String(), "", "", nil, 404, "unknown_election"},
		tc{"ballot to trustee route", "POST", trustee, "", "application/json", trusteeEntry, 400, "bad_entry"},
		tc{"ballot to identity route", "POST", identity, "", "application/json", trusteeEntry, 400, "bad_entry"},
		tc{"bad pseudonym", "GET", "/elections/" + id + "/voters/XYZ", "", "", nil, 400, "bad_request"},
		tc{"unknown pseudonym", "GET", "/elections/" + id + "/voters/" + strings.Repeat("0", 64), "", "", nil, 404, "not_found"},
		tc{"wrong login", "POST", "/officials/login", "", "application/json", login, 401, "login_failed"},
		tc{"empty login", "POST", "/officials/login", "", "application/json", []byte(`{"user":"","password":"","totp":""}`), 400, "bad_request"},
		tc{"no session", "POST", actions + "close", "", "", nil, 401, "session_invalid"},
		tc{"bad session", "POST", actions + "close", strings.Repeat("a", 64), "", nil, 401, "session_invalid"},
		tc{"observer may not act", "POST", actions + "close", e.observer, "", nil, 403, "forbidden"},
		tc{"observer may not create", "POST", "/elections", e.observer, "application/json", []byte(`{"manifest":"AA"}`), 403, "forbidden"},
		tc{"observer may not add accounts", "POST", "/officials/accounts", e.observer, "application/json", []byte(`{}`), 403, "forbidden"},
		tc{"unknown action", "POST", actions + "explode", e.session, "", nil, 404, "unknown_action"},
		tc{"out of order action", "POST", actions + "start-mixing", e.session, "", nil, 409, "wrong_phase"},
		tc{"out of order qualified", "POST", actions + "qualified", e.session, "", nil, 409, "wrong_phase"},
		tc{"bad manifest", "POST", "/elections", e.session, "application/json", jsonBody(map[string]string{"manifest": b64([]byte{1, 2})}), 422, "entry_invalid"},
		tc{"weak password", "POST", "/officials/accounts", e.session, "application/json", jsonBody(map[string]string{"user": "x", "password": "short", "role": "observer"}), 400, "bad_request"},
		tc{"bad role", "POST", "/officials/accounts", e.session, "application/json", jsonBody(map[string]string{"user": "x", "password": adminPassword, "role": "king"}), 400, "bad_request"},
		tc{"operations bad limit", "GET", "/officials/operations?limit=0", e.observer, "", nil, 400, "bad_request"},
		tc{"method not allowed", "DELETE", ballots, "", "", nil, 405, "method_not_allowed"},
		tc{"no route", "GET", "/nothing", "", "", nil, 404, "not_found"},
	)
	before := e.f.Box.Log().Size()
	for _, c := range cases {
		t.Run(c.name+" "+c.method+" "+c.path, func(t *testing.T) {
			st, out := e.do(t, c.method, c.path, c.auth, c.ctype, c.body)
			if st != c.status {
				t.Fatalf("status %d, want %d (%v)", st, c.status, out)
			}
			errObj, _ := out["error"].(map[string]any)
			if errObj == nil || errObj["code"] != c.code {
				t.Fatalf("error %v, want code %s", out, c.code)
			}
		})
	}
	if after := e.f.Box.Log().Size(); after != before || e.f.Box.PendingAudits() != 0 {
		t.Fatalf("bad input changed the board: %d → %d entries, %d audits pending", before, after, e.f.Box.PendingAudits())
	}
	// And the good request still works after all that.
	if st, out := e.do(t, "POST", ballots, v.Token, "application/json", good); st != 201 {
		t.Fatalf("good cast after bad input: %d %v", st, out)
	}
}

func TestOfficialFlow(t *testing.T) {
	e := newEnv(t)
	id := e.f.ElectionID
	// An audit pending at the close is published right before it.
	v, err := e.f.NewVoter(context.Background(), [32]byte{}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, pa, err := e.f.Prepare(v, e.f.Selection(5, v.Style))
	if err != nil {
		t.Fatal(err)
	}
	abody := jsonBody(map[string]string{"audited": b64(pa.Audit().Encode()), "ballot": b64(pa.Ballot.Encode())})
	if st, out := e.do(t, "POST", "/elections/"+id+"/audits", v.Token, "application/json", abody); st != http.StatusAccepted {
		t.Fatalf("audit: %d %v", st, out)
	}
	st, out := e.do(t, "POST", "/elections/"+id+"/actions/close", e.session, "", nil)
	if st != 201 {
		t.Fatalf("close: %d %v", st, out)
	}
	st, av := e.do(t, "GET", "/elections/"+id+"/audits/"+pa.Ballot.TrackingCode().String(), "", "", nil)
	if st != 200 || av["status"] != "published" || av["index"] != out["index"].(float64)-1 || av["checkpoint"] == "" || av["inclusion_proof"] == nil {
		t.Fatalf("audit after close: %d %v (close at %v)", st, av, out["index"])
	}
	st, out = e.do(t, "POST", "/elections/"+id+"/actions/close", e.session, "", nil)
	if st != 409 || out["error"].(map[string]any)["code"] != "wrong_phase" {
		t.Fatalf("second close: %d %v", st, out)
	}
	st, out = e.do(t, "POST", "/elections/"+id+"/actions/cleanse", e.session, "", nil)
	if st != 201 {
		t.Fatalf("cleanse: %d %v", st, out)
	}
	st, out = e.do(t, "GET", "/officials/operations?limit=20", e.observer, "", nil)
	if st != 200 {
		t.Fatalf("operations: %d %v", st, out)
	}
	ops := out["operations"].([]any)
	found := false
	for _, o := range ops {
		m := o.(map[string]any)
		if m["action"] == "action:close" && m["outcome"] == "ok" && m["user"] == "admin" {
			found = true
		}
	}
	if !found {
		t.Fatalf("close not in the operations log: %v", ops)
	}
	st, out = e.do(t, "GET", "/elections/"+id, "", "", nil)
	if st != 200 || out["phase"] != "closed" || out["joint_key"] == "" {
		t.Fatalf("info %d %v", st, out)
	}
	// Metrics and health.
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "evote_board_entries{election=\""+id+"\"}") || !strings.Contains(string(b), "evote_http_requests_total") {
		t.Fatalf("metrics:\n%s", b)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.srv.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, err, resp.StatusCode)
		}
		resp.Body.Close()
	}
}

// TestSessionsOverHTTP: an official lists the sessions (an admin sees
// everyone's, the caller's own marked current) and revokes one by its id.
func TestSessionsOverHTTP(t *testing.T) {
	e := newEnv(t)
	st, out := e.do(t, "GET", "/officials/sessions", e.session, "", nil)
	if st != 200 {
		t.Fatalf("sessions: %d %v", st, out)
	}
	var obsID string
	current := 0
	for _, x := range out["sessions"].([]any) {
		m := x.(map[string]any)
		if m["user"] == "observer" {
			obsID = m["id"].(string)
		}
		if m["current"] == true {
			current++
			if m["user"] != "admin" {
				t.Fatalf("current session %v", m)
			}
		}
		if _, ok := m["token"]; ok {
			t.Fatalf("a session's token is shown: %v", m)
		}
	}
	if obsID == "" || current != 1 {
		t.Fatalf("sessions %v", out)
	}
	if st, out := e.do(t, "DELETE", "/officials/sessions/"+obsID, e.observer, "", nil); st != 204 {
		t.Fatalf("revoke own session: %d %v", st, out)
	}
	if st, _ := e.do(t, "GET", "/officials/sessions", e.observer, "", nil); st != 401 {
		t.Fatalf("revoked session: %d", st)
	}
	if st, out := e.do(t, "DELETE", "/officials/sessions/"+obsID, e.session, "", nil); st != 404 {
		t.Fatalf("revoke a revoked session: %d %v", st, out)
	}
}

// TestLoginBudgetOverHTTP: an address over its login budget is answered
// 429 rate_limited with Retry-After; an official's client that presents
// the device token of an earlier login still signs in from there.
func TestLoginBudgetOverHTTP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	secret, _ := official.NewTOTPSecret()
	if _, err := e.offs.CreateAccount(ctx, "admin", "carol", adminPassword, official.RoleOfficial, secret); err != nil {
		t.Fatal(err)
	}
	login := func(user, code, device string) (*http.Response, map[string]any) {
		body := jsonBody(map[string]string{"user": user, "password": adminPassword, "totp": code, "device": device})
		resp, err := http.Post(e.srv.URL+"/api/v1/officials/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	code, _ := official.TOTPCode(secret, time.Now())
	resp, out := login("carol", code, "")
	device, _ := out["device"].(string)
	if resp.StatusCode != 200 || len(device) != 64 || out["failed_logins"] != float64(0) {
		t.Fatalf("first login: %d %v", resp.StatusCode, out)
	}
	for range 10 {
		login("mallory", "123456", "")
	}
	resp, out = login("mallory", "123456", "")
	if resp.StatusCode != 429 || out["error"].(map[string]any)["code"] != "rate_limited" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the budget: %d %v %v", resp.StatusCode, resp.Header, out)
	}
	code, _ = official.TOTPCode(secret, time.Now().Add(30*time.Second))
	if resp, out = login("carol", code, device); resp.StatusCode != 200 || out["device"] != nil {
		t.Fatalf("with the device token: %d %v", resp.StatusCode, out)
	}
}
