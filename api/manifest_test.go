package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"evote/api"
	"evote/ballot"
	"evote/ballotbox/boxtest"
	"evote/record"
	"evote/trustee"
)

// trusteeText is what `evote trustee init` prints for a new key pair.
func trusteeText(t *testing.T) string {
	t.Helper()
	k, err := trustee.GenerateKeys(nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, hp := k.SigningPublic(), k.HPKEPublic()
	return fmt.Sprintf("signing key:  %s\nhpke key:     %s\nGive these two public keys to the election officials for the manifest.\n", hex.EncodeToString(sp[:]), hex.EncodeToString(hp[:]))
}

func tx(s string) api.TextForm {
	return api.TextForm{Ky: s + " (ky)", Ru: s + " (ru)", Uz: s + " (uz)", En: s}
}

// consoleForm is a complete election form: one constituency, a single
// choice contest and a k-of-n question, three trustees.
func consoleForm(t *testing.T, e *env, id string) api.ManifestForm {
	now := uint64(time.Now().Unix())
	return api.ManifestForm{
		ElectionID: id, Title: tx("Council election"), AuthorityName: tx("Central commission"), AuthorityHelp: tx("Call 1234"),
		Emblem:         base64.RawURLEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)),
		Constituencies: []api.NamedForm{{ID: "north", Name: tx("North")}},
		Contests: []api.ContestForm{
			{ID: "council", Title: tx("Council"), Kind: "single", Candidates: []api.NamedForm{{ID: "a", Name: tx("Aibek")}, {ID: "b", Name: tx("Bermet")}}},
			{ID: "budget", Title: tx("Budget"), Kind: "multi", MaxSelections: 2, Candidates: []api.NamedForm{{ID: "x", Name: tx("Roads")}, {ID: "y", Name: tx("Schools")}, {ID: "z", Name: tx("Parks")}}},
		},
		BallotStyles: []api.StyleForm{{ID: "north", Constituency: "north", Contests: []string{"council", "budget"}}},
		VotingStart:  now, VotingEnd: now + 86400, Revote: "last", MinAnonymity: 3, Threshold: 2,
		Trustees:    []api.TrusteeForm{{Name: "T1", PublicKeys: trusteeText(t)}, {Name: "T2", PublicKeys: trusteeText(t)}, {Name: "T3", PublicKeys: trusteeText(t)}},
		IdentityKey: hex.EncodeToString(e.f.Identity.Public().(ed25519.PublicKey)),
	}
}

// TestComposeManifest: the console's form becomes the canonical manifest
// with the server's anchors, through ballot.Manifest.Validate, and POST
// /elections takes it as it would the CLI's file; a missing translation,
// a malformed trustee key file and an observer are refused.
func TestComposeManifest(t *testing.T) {
	e := newEnv(t)
	f := consoleForm(t, e, "console-1")
	st, out := e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(f))
	if st != 200 {
		t.Fatalf("compose: %d %v", st, out)
	}
	raw, err := base64.RawURLEncoding.DecodeString(out["manifest"].(string))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ballot.DecodeManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Fingerprint().Hex() != out["fingerprint_hex"] || m.Fingerprint().String() != out["fingerprint"] {
		t.Fatalf("fingerprint %v, manifest's %s", out, m.Fingerprint())
	}
	if m.Board.Origin != "evote.test/board/console-1" || len(m.Board.Witnesses) != 1 || m.Board.Quorum != 1 || m.Mixes != 3 ||
		m.Contests[0].MaxSelections != 1 || m.Revote != ballot.LastBallotCounts || m.Authority.EmblemType() != "image/svg+xml" {
		t.Fatalf("manifest %+v", m)
	}
	st, out = e.do(t, "POST", "/elections", e.session, "application/json", jsonBody(map[string]string{"manifest": b64(raw)}))
	if st != 201 || out["election_id"] != "console-1" {
		t.Fatalf("create: %d %v", st, out)
	}
	st, out = e.do(t, "GET", "/elections/console-1/status", e.observer, "", nil)
	if st != 200 || out["phase"] != "setup" || len(out["trustees"].([]any)) != 3 || out["mixable"] != 1.0 || out["decryptable"] != 2.0 ||
		out["ballot"].(map[string]any)["fingerprint"] != m.Fingerprint().String() {
		t.Fatalf("status: %d %v", st, out)
	}

	bad := consoleForm(t, e, "console-2")
	bad.Contests[1].Candidates[2].Name.Uz = " "
	bad.Title.Ky = ""
	st, out = e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(bad))
	msg, _ := out["error"].(map[string]any)["message"].(string)
	if st != 422 || out["error"].(map[string]any)["code"] != "entry_invalid" || !strings.Contains(msg, "title (ky)") || !strings.Contains(msg, "contest budget candidate z (uz)") {
		t.Fatalf("missing translation: %d %v", st, out)
	}
	bad = consoleForm(t, e, "console-2")
	bad.Trustees[1].PublicKeys = "signing key: 00\nhpke key: 11"
	if st, out = e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(bad)); st != 422 || !strings.Contains(fmt.Sprint(out), "trustee 2") {
		t.Fatalf("bad trustee keys: %d %v", st, out)
	}
	bad = consoleForm(t, e, "console-2")
	bad.Threshold = 4
	if st, out = e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(bad)); st != 422 || out["error"].(map[string]any)["code"] != "entry_invalid" {
		t.Fatalf("threshold above trustees: %d %v", st, out)
	}
	bad = consoleForm(t, e, "console-2")
	bad.Witnesses = []string{"nobody"}
	if st, out = e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(bad)); st != 422 || !strings.Contains(fmt.Sprint(out), "nobody") {
		t.Fatalf("unknown witness: %d %v", st, out)
	}
	if st, out = e.do(t, "POST", "/elections/manifest", e.observer, "application/json", jsonBody(consoleForm(t, e, "console-2"))); st != 403 {
		t.Fatalf("observer composes: %d %v", st, out)
	}
	if st, _ = e.do(t, "GET", "/elections/console-1/status", "", "", nil); st != 401 {
		t.Fatalf("status without a session: %d", st)
	}
}

// TestStatusActions: the status enables exactly the actions Act would
// take now; an enabled one succeeds, a disabled one is refused with the
// code the status gave.
func TestStatusActions(t *testing.T) {
	e := newEnv(t)
	id := e.f.ElectionID
	ready := func() map[string]map[string]any {
		st, out := e.do(t, "GET", "/elections/"+id+"/status", e.session, "", nil)
		if st != 200 {
			t.Fatalf("status: %d %v", st, out)
		}
		m := map[string]map[string]any{}
		for _, a := range out["actions"].([]any) {
			a := a.(map[string]any)
			m[a["action"].(string)] = a
		}
		return m
	}
	st, out := e.do(t, "GET", "/elections/"+id+"/status", e.observer, "", nil)
	if st != 200 || len(out["trustees"].([]any)) != 3 {
		t.Fatalf("status: %d %v", st, out)
	}
	for _, x := range out["trustees"].([]any) {
		x := x.(map[string]any)
		if x["commitments"] != true || x["shares"] != true || x["qualified"] != true || x["contests_mixed"] != 0.0 {
			t.Fatalf("trustee progress after key generation: %v", x)
		}
	}
	acts := ready()
	if acts["close"]["ready"] != true || acts["open"]["ready"] != false || acts["open"]["code"] != "wrong_phase" || acts["tally"]["ready"] != false {
		t.Fatalf("actions while open: %v", acts)
	}
	st, out = e.do(t, "POST", "/elections/"+id+"/actions/open", e.session, "", nil)
	if st != 409 || out["error"].(map[string]any)["code"] != acts["open"]["code"] {
		t.Fatalf("open while open: %d %v", st, out)
	}
	if st, out = e.do(t, "POST", "/elections/"+id+"/actions/close", e.observer, "", nil); st != 403 {
		t.Fatalf("observer closes: %d %v", st, out)
	}
	if st, out = e.do(t, "POST", "/elections/"+id+"/actions/close", e.session, "", nil); st != 201 {
		t.Fatalf("close: %d %v", st, out)
	}
	acts = ready()
	if acts["close"]["ready"] != false || acts["cleanse"]["ready"] != true || acts["start-mixing"]["ready"] != false {
		t.Fatalf("actions once closed: %v", acts)
	}
}

// TestCheckVoters: the voter list is checked line by line against the
// election's ballot styles before anything is signed; an observer may not.
func TestCheckVoters(t *testing.T) {
	e := newEnv(t)
	id := e.f.ElectionID
	style := e.f.Box.View().Manifest.BallotStyles[0].ID
	csv := "pin,ballot_style,phone\n21505199012345," + style + ",+996700123456\n21505199012345," + style + ",\n11203198500017,nowhere,\n"
	st, out := e.do(t, "POST", "/elections/"+id+"/voters/check", e.session, "application/json", jsonBody(map[string]string{"csv": csv}))
	if st != 200 || out["lines"] != 3.0 || out["valid"] != 1.0 || out["counts"].(map[string]any)[style] != 1.0 {
		t.Fatalf("check: %d %v", st, out)
	}
	ps := out["problems"].([]any)
	if len(ps) != 2 || ps[0].(map[string]any)["line"] != 3.0 || ps[1].(map[string]any)["line"] != 4.0 || strings.Contains(fmt.Sprint(ps), "21505199012345") {
		t.Fatalf("problems %v", ps)
	}
	if st, out = e.do(t, "POST", "/elections/"+id+"/voters/check", e.session, "application/json", jsonBody(map[string]string{"csv": "a,b\n"})); st != 400 {
		t.Fatalf("bad header: %d %v", st, out)
	}
	if st, _ = e.do(t, "POST", "/elections/"+id+"/voters/check", e.observer, "application/json", jsonBody(map[string]string{"csv": csv})); st != 403 {
		t.Fatalf("observer: %d", st)
	}
}

// TestStatusResult: once tallied, the status carries the result as on the
// board, and every trustee's mixes and shares.
func TestStatusResult(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 4 {
		v, err := e.f.NewVoter(ctx, [32]byte{}, "")
		if err != nil {
			t.Fatal(err)
		}
		raw, _, err := e.f.Prepare(v, e.f.Selection(i, v.Style))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.f.Box.Cast(ctx, v.Token, raw); err != nil {
			t.Fatal(err)
		}
	}
	res, _, err := e.f.Tally(ctx, boxtest.Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	var got api.ElectionStatus
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/elections/"+e.f.ElectionID+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+e.observer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Phase != "tallied" || len(got.Result) != len(res.Contests) || got.Ballots != 4 {
		t.Fatalf("status %+v", got)
	}
	for i, c := range res.Contests {
		if g := got.Result[i]; g.ContestID != c.ContestID || g.Ballots != c.Ballots || fmt.Sprint(g.Counts) != fmt.Sprint(c.Counts) {
			t.Fatalf("contest %d: %+v, board %+v", i, g, c)
		}
	}
	for _, x := range got.Trustees {
		if x.Decrypted == 0 && x.Mixed == 0 {
			t.Fatalf("trustee %d shows no part in the tally: %+v", x.Index, x)
		}
	}
	for _, a := range got.Actions {
		if a.Ready {
			t.Fatalf("%s ready after the tally", a.Action)
		}
	}
}

// TestVoterListSignRefusals: the voter-list signing routes need an
// identity service, a well-formed request and an official who may run the
// election; they answer precisely when the identity service is down or the
// statement is not one. (The whole path, signed in a browser and recorded
// by a real identity service, is web/console's TestConsoleEndToEnd.)
func TestVoterListSignRefusals(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	downURL, _ := url.Parse(down.URL)
	down.Close()
	e := newEnvWith(t, envOptions{server: func(s *api.Server) { s.Identity = downURL }})
	id := e.f.ElectionID
	style := e.f.Box.View().Manifest.BallotStyles[0].ID
	csv := "pin,ballot_style,phone\n21505199012345," + style + ",+996700123456\n2150519901234x," + style + ",\n"
	listKey := ed25519.NewKeyFromSeed(make([]byte, 32))
	key := hex.EncodeToString(listKey.Public().(ed25519.PublicKey))
	prep := func(tok string, body map[string]string) (int, map[string]any) {
		return e.do(t, "POST", "/elections/"+id+"/voters/prepare", tok, "application/json", jsonBody(body))
	}
	code := func(out map[string]any) any { return out["error"].(map[string]any)["code"] }
	good := map[string]string{"csv": csv, "official_id": "list-official-1", "official_key": key, "kind": "build"}
	bare := newEnv(t)
	if st, out := bare.do(t, "POST", "/elections/"+id+"/voters/prepare", bare.session, "application/json", jsonBody(good)); st != 503 || code(out) != "identity_unconfigured" {
		t.Fatalf("no identity service: %d %v", st, out)
	}
	for name, mod := range map[string]func(map[string]string){
		"kind":        func(m map[string]string) { m["kind"] = "remove" },
		"short key":   func(m map[string]string) { m["official_key"] = "abcd" },
		"not a point": func(m map[string]string) { m["official_key"] = strings.Repeat("00", 32) },
		"official id": func(m map[string]string) { m["official_id"] = "" },
		"only bad":    func(m map[string]string) { m["csv"] = "pin,ballot_style,phone\n2150519901234x," + style + ",\n" },
		"unreadable": func(m map[string]string) {
			m["csv"] = "pin,ballot_style,phone\n21505199012345," + style + ",,\n11203198500017," + style + ",\n"
		},
		"wrong header": func(m map[string]string) { m["csv"] = "a,b\n" },
	} {
		body := map[string]string{}
		for k, v := range good {
			body[k] = v
		}
		mod(body)
		if st, out := prep(e.session, body); st != 400 || code(out) != "bad_request" {
			t.Fatalf("%s: %d %v", name, st, out)
		}
	}
	if st, _ := prep(e.observer, good); st != 403 {
		t.Fatalf("observer: %d", st)
	}
	if st, out := prep(e.session, good); st != 502 || code(out) != "identity_unavailable" {
		t.Fatalf("identity service down: %d %v", st, out)
	}
	submit := func(body any) (int, map[string]any) {
		return e.do(t, "POST", "/elections/"+id+"/voters/submit", e.session, "application/json", jsonBody(body))
	}
	if st, out := submit(map[string]any{"statement": "AAAA", "salt": "", "items": []any{}}); st != 400 || code(out) != "bad_request" {
		t.Fatalf("not a statement: %d %v", st, out)
	}
	other := record.VoterListChange{ElectionID: "another-election", Sequence: 1, Kind: record.ListBuilt, OfficialID: "list-official-1"}
	copy(other.OfficialKey[:], listKey.Public().(ed25519.PublicKey))
	if st, out := submit(map[string]any{"statement": base64.RawURLEncoding.EncodeToString(other.Encode()), "salt": "", "items": []any{}}); st != 400 || !strings.Contains(fmt.Sprint(out), "another election") {
		t.Fatalf("another election's statement: %d %v", st, out)
	}
	other.ElectionID = id
	if st, out := submit(map[string]any{"statement": base64.RawURLEncoding.EncodeToString(other.Encode()), "salt": "", "items": []any{}}); st != 502 || code(out) != "identity_unavailable" {
		t.Fatalf("identity service down: %d %v", st, out)
	}
	// The relayed change is in the operations log, requested then failed.
	st, out := e.do(t, "GET", "/officials/operations?limit=50", e.observer, "", nil)
	var got []string
	for _, o := range out["operations"].([]any) {
		if m := o.(map[string]any); m["action"] == "voter-list" {
			got = append(got, fmt.Sprint(m["outcome"], " ", m["detail"]))
		}
	}
	if want := "list official list-official-1, sequence 1, kind 1"; st != 200 || len(got) != 2 || !slices.Contains(got, "requested "+want) || !slices.Contains(got, "identity_unavailable "+want) {
		t.Fatalf("operations log: %d %q", st, got)
	}
}

// TestComposeCoercionManifest: the form takes the deniable re-voting
// option of spec §15.1 into a format-4 manifest, refuses it with one
// ballot only, out-of-bounds numbers, numbers without the mode and an
// unknown mode; POST /elections refuses the composed manifest with
// coercion_unsupported (422), since this server has no identity service
// credential source (spec §15.16.2), and creates nothing.
func TestComposeCoercionManifest(t *testing.T) {
	e := newEnv(t)
	f := consoleForm(t, e, "coerce-1")
	f.Coercion, f.SlotSeconds, f.SlotRows, f.MaxBallots = "deniable-revoting", 60, 128, 8
	st, out := e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(f))
	if st != 200 {
		t.Fatalf("compose: %d %v", st, out)
	}
	raw, err := base64.RawURLEncoding.DecodeString(out["manifest"].(string))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ballot.DecodeManifest(raw)
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != 4 || m.Coercion != (ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: 128, MaxBallots: 8}) {
		t.Fatalf("format %d, coercion %+v", raw[0], m.Coercion)
	}
	for name, c := range map[string]struct {
		mut  func(f *api.ManifestForm)
		want string
	}{
		"one ballot only":  {func(f *api.ManifestForm) { f.Revote = "single" }, "needs revote policy 1"},
		"slot of 5 s":      {func(f *api.ManifestForm) { f.SlotSeconds = 5 }, "slot seconds 5 outside 10..3600"},
		"no rows":          {func(f *api.ManifestForm) { f.SlotRows = 0 }, "slot rows 0 outside 1..1048576"},
		"300 rows a voter": {func(f *api.ManifestForm) { f.MaxBallots = 300 }, "max_ballots 300 outside 2..64"},
		"65 rows a voter":  {func(f *api.ManifestForm) { f.MaxBallots = 65 }, "max_ballots 65 outside 2..64"},
		"1 row a voter":    {func(f *api.ManifestForm) { f.MaxBallots = 1 }, "max ballots 1 outside 2..64"},
		"numbers, no mode": {func(f *api.ManifestForm) { f.Coercion = "none" }, "go only with coercion deniable-revoting"},
		"unknown mode":     {func(f *api.ManifestForm) { f.Coercion = "invisible" }, `not "invisible"`},
	} {
		bad := f
		c.mut(&bad)
		st, out := e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(bad))
		if st != 422 || out["error"].(map[string]any)["code"] != "entry_invalid" || !strings.Contains(fmt.Sprint(out), c.want) {
			t.Errorf("%s: %d %v, want %q", name, st, out, c.want)
		}
	}
	st, out = e.do(t, "POST", "/elections", e.session, "application/json", jsonBody(map[string]string{"manifest": b64(raw)}))
	if st != 422 || out["error"].(map[string]any)["code"] != "coercion_unsupported" || !strings.Contains(fmt.Sprint(out), "deniable-revoting") {
		t.Fatalf("create: %d %v", st, out)
	}
	if st, out = e.do(t, "GET", "/elections/coerce-1/status", e.observer, "", nil); st != 404 {
		t.Fatalf("a refused election exists: %d %v", st, out)
	}
	// The same form without the option creates the election.
	f = consoleForm(t, e, "coerce-1")
	if st, out = e.do(t, "POST", "/elections/manifest", e.session, "application/json", jsonBody(f)); st != 200 {
		t.Fatalf("compose plain: %d %v", st, out)
	}
	raw, _ = base64.RawURLEncoding.DecodeString(out["manifest"].(string))
	if st, out = e.do(t, "POST", "/elections", e.session, "application/json", jsonBody(map[string]string{"manifest": b64(raw)})); st != 201 || raw[0] != 3 {
		t.Fatalf("create plain: %d %v (format %d)", st, out, raw[0])
	}
}
