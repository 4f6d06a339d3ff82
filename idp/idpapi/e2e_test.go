package idpapi

import (
	"context"
	"crypto/ed25519"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/registry/registrytest"
	"evote/idp/voterlist"
	"evote/record"
)

// TestSignInAndVote is the acceptance flow: register lookup, code sent to
// the register's phone, code verified, token issued, token accepted by the
// voting endpoint, and the credential on the board.
func TestSignInAndVote(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 0)
	device := newDevice(t)

	st, ch, _ := e.start("203.0.113.5", p, nil)
	if st != http.StatusOK {
		t.Fatalf("start: %d %v", st, ch)
	}
	if hint := ch["phone_hint"].(string); !strings.HasSuffix(p.Phone, hint[len(hint)-2:]) || strings.Contains(hint, p.Phone[4:10]) {
		t.Errorf("phone hint %q", hint)
	}
	if len(e.sms.Messages(p.Phone)) != 1 {
		t.Fatalf("code not sent to the phone on record")
	}
	st, body := e.verify("203.0.113.5", ch["challenge_id"].(string), e.lastCode(p.Phone), device)
	if st != http.StatusOK {
		t.Fatalf("verify: %d %v", st, body)
	}
	tok := body["token"].(string)
	if st, out := e.cast(tok, device); st != http.StatusAccepted || out["ballot_style"] != p.Constituency {
		t.Fatalf("ballot box refused the token: %d %v", st, out)
	}
	// A ballot signed by another device key is refused under this token.
	if st, _ := e.cast(tok, newDevice(t)); st != http.StatusUnauthorized {
		t.Errorf("ballot signed by a foreign device key: %d", st)
	}
	// The credential is on the board, binding pseudonym, style, device key and context.
	creds := e.board.ofType(0x0203)
	if len(creds) != 1 {
		t.Fatalf("%d CredentialIssued entries", len(creds))
	}
	ci, _ := record.DecodeCredentialIssued(creds[0])
	if hex.EncodeToString(ci.Pseudonym[:]) != body["pseudonym"] || ci.BallotStyle != p.Constituency || ci.ContextHash != contextHash ||
		hex.EncodeToString(ci.DeviceKey[:]) != hex.EncodeToString(device.Public().(ed25519.PublicKey)) {
		t.Errorf("credential entry %+v does not match the token", ci)
	}
	if ks := e.board.ofType(0x0003); len(ks) != 1 {
		t.Errorf("%d key set entries", len(ks))
	} else if set, _ := record.DecodeIdentityKeySet(ks[0]); set.Keys[0].KeyID != body["key_id"] {
		t.Errorf("key set %v does not hold the signing kid", set.Keys)
	}
	if lc := e.board.ofType(0x0202); len(lc) != 1 {
		t.Errorf("%d list change entries", len(lc))
	}
	// The voter is told by SMS that a credential was issued in their name.
	if last := e.sms.Last(p.Phone).Text; !strings.Contains(last, "credential was issued in your name") {
		t.Errorf("no credential notice, last SMS %q", last)
	}
	// The same device key cannot be bound twice.
	st, ch2, _ := e.start("203.0.113.5", p, nil)
	if st != 200 {
		t.Fatal(st)
	}
	if st, body := e.verify("203.0.113.5", ch2["challenge_id"].(string), e.lastCode(p.Phone), device); st != http.StatusConflict || errCode(body) != "device_key_bound" {
		t.Errorf("rebinding device key: %d %v", st, body)
	}
	// The code was not spent on the refused key: it still works with a fresh one.
	if st, body := e.verify("203.0.113.5", ch2["challenge_id"].(string), e.lastCode(p.Phone), newDevice(t)); st != http.StatusOK {
		t.Errorf("code after a refused device key: %d %v", st, body)
	}
	// The voter cannot type in a phone number of their own.
	if st, body, _ := e.start("203.0.113.5", p, func(m map[string]string) { m["phone"] = "+996555000000" }); st != 400 || errCode(body) != "bad_json" {
		t.Errorf("phone in request: %d %v", st, body)
	}
	// An expired token is refused by the ballot box.
	e.clock.add(16 * time.Minute)
	if st, _ := e.cast(tok, device); st != http.StatusUnauthorized {
		t.Errorf("expired token accepted: %d", st)
	}
}

func TestIdentityFailures(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 1)
	n := 0
	next := func() string { n++; return fmt.Sprintf("203.0.113.%d", 100+n) }
	generic := func(name string, st int, body map[string]any) map[string]any {
		t.Helper()
		if st != 401 || errCode(body) != "identity_not_confirmed" {
			t.Errorf("%s: %d %v", name, st, body)
		}
		return body
	}
	// Unknown person: a well-formed PIN nobody has.
	unknown := *p
	unknown.PIN = registry.MustParsePIN("2" + p.PIN.Digits()[1:9] + "99999")
	st, b1, _ := e.start(next(), &unknown, nil)
	generic("unknown person", st, b1)
	st, b2, _ := e.start(next(), p, func(m map[string]string) { m["document_number"] = "ID0000001" })
	generic("wrong document", st, b2)
	if !reflect.DeepEqual(b1, b2) {
		t.Errorf("unknown PIN and wrong document answer differently: %v vs %v", b1, b2)
	}
	// Wrong date of birth: one that contradicts the PIN is a typing error…
	st, b, _ := e.start(next(), p, func(m map[string]string) { m["birth_date"] = "1950-01-01" })
	if st != 400 || errCode(b) != "invalid_input" {
		t.Errorf("birth date against PIN: %d %v", st, b)
	}
	// …and one that the register holds differently (a corrected record) is a mismatch.
	typed := *e.person(nil, 2)
	corrected := typed
	corrected.BirthDate = corrected.BirthDate.AddDate(0, 0, 3)
	e.sim.Add(corrected)
	st, b3, _ := e.start(next(), &typed, nil)
	generic("wrong date of birth", st, b3)
	if !reflect.DeepEqual(b1, b3) {
		t.Errorf("birth date mismatch answers differently")
	}
	// Ineligible, each reason.
	for reason, want := range map[error]string{registry.ErrNotCitizen: "not_citizen", registry.ErrUnderAge: "under_age", registry.ErrRightsSuspended: "rights_suspended"} {
		st, b, _ := e.start(next(), e.person(reason, 0), nil)
		if st != 403 || errCode(b) != "not_eligible" || b["error"].(map[string]any)["reason"] != want {
			t.Errorf("%v: %d %v", reason, st, b)
		}
	}
	st, b4, _ := e.start(next(), e.person(registry.ErrDeceased, 0), nil)
	generic("deceased", st, b4)
	if !reflect.DeepEqual(b1, b4) {
		t.Errorf("deceased answers differently from unknown")
	}
	// Malformed input: details the voter typed wrong are invalid_input,
	// a body that is not the expected JSON is the edge's bad_json.
	for name, c := range map[string]struct {
		mod  func(map[string]string)
		code string
	}{
		"short pin":  {func(m map[string]string) { m["pin"] = "123" }, "invalid_input"},
		"bad doc":    {func(m map[string]string) { m["document_number"] = "12" }, "invalid_input"},
		"bad date":   {func(m map[string]string) { m["birth_date"] = "15.05.1990" }, "invalid_input"},
		"extra json": {func(m map[string]string) { m["name"] = "x" }, "bad_json"},
		"nul byte":   {func(m map[string]string) { m["document_number"] = "ID\x001234567" }, "bad_request"},
	} {
		if st, b, _ := e.start(next(), p, c.mod); st != 400 || errCode(b) != c.code {
			t.Errorf("%s: %d %v, want 400 %s", name, st, b, c.code)
		}
	}
	if st, b, _ := do(t, e.api, "POST", "/v1/auth/start", next(), strings.Repeat("x", 5000), nil); st != 413 || errCode(b) != "too_large" {
		t.Errorf("oversized body: %d %v", st, b)
	}
	// A voter removed from the list.
	removed := e.person(nil, 3)
	e.listChange("list-official-1", record.ListRemoved, []voterlist.Item{{Op: voterlist.OpRemove, PIN: removed.PIN}}, 201)
	if st, b, _ := e.start("203.0.113.21", removed, nil); st != 403 || errCode(b) != "not_on_voter_list" {
		t.Errorf("removed voter: %d %v", st, b)
	}
}

func TestCodeFailures(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 0)
	client := "203.0.113.30"
	scenario := 0
	begin := func() string {
		scenario++
		// A person per scenario: each start texts a code, and a PIN gets
		// 5 at once (§8.11).
		p = e.person(nil, scenario)
		client = fmt.Sprintf("203.0.113.%d", 30+scenario)
		t.Helper()
		st, ch, _ := e.start(client, p, nil)
		if st != 200 {
			t.Fatalf("start: %d %v", st, ch)
		}
		return ch["challenge_id"].(string)
	}
	wrong := func(c string) string {
		if c[0] == '9' {
			return "0" + c[1:]
		}
		return string(c[0]+1) + c[1:]
	}
	// Wrong code, then the right one works.
	id := begin()
	code := e.lastCode(p.Phone)
	st, b := e.verify(client, id, wrong(code), newDevice(t))
	if st != 401 || errCode(b) != "wrong_code" || b["error"].(map[string]any)["attempts_left"] != float64(4) {
		t.Errorf("wrong code: %d %v", st, b)
	}
	if st, b := e.verify(client, id, code, newDevice(t)); st != 200 {
		t.Fatalf("right code after a wrong one: %d %v", st, b)
	}
	// Reused code.
	if st, b := e.verify(client, id, code, newDevice(t)); st != 409 || errCode(b) != "code_used" {
		t.Errorf("reused code: %d %v", st, b)
	}
	// Expired code.
	id = begin()
	code = e.lastCode(p.Phone)
	e.clock.add(5*time.Minute + time.Second)
	if st, b := e.verify(client, id, code, newDevice(t)); st != 401 || errCode(b) != "code_expired" {
		t.Errorf("expired code: %d %v", st, b)
	}
	// Resend is throttled, and a resent code replaces the old one.
	id = begin()
	old := e.lastCode(p.Phone)
	if st, b, h := do(t, e.api, "POST", "/v1/auth/resend", client, map[string]string{"challenge_id": id}, nil); st != 429 || errCode(b) != "resend_throttled" || h.Get("Retry-After") == "" {
		t.Errorf("immediate resend: %d %v", st, b)
	}
	e.clock.add(61 * time.Second)
	if st, b, _ := do(t, e.api, "POST", "/v1/auth/resend", client, map[string]string{"challenge_id": id}, nil); st != 200 {
		t.Fatalf("resend: %d %v", st, b)
	}
	fresh := e.lastCode(p.Phone)
	if fresh != old {
		if st, _ := e.verify(client, id, old, newDevice(t)); st != 401 {
			t.Errorf("old code after resend: %d", st)
		}
	}
	// Too many wrong codes lock the challenge.
	id = begin()
	code = e.lastCode(p.Phone)
	for i := 0; i < 4; i++ {
		e.verify(client, id, wrong(code), newDevice(t))
	}
	if st, b := e.verify(client, id, wrong(code), newDevice(t)); st != 401 || errCode(b) != "challenge_locked" {
		t.Errorf("5th wrong code: %d %v", st, b)
	}
	if st, b := e.verify(client, id, code, newDevice(t)); st != 401 || errCode(b) != "challenge_locked" {
		t.Errorf("right code after lockout: %d %v", st, b)
	}
	if st, b := e.verify(client, "no-such-challenge", code, newDevice(t)); st != 404 || errCode(b) != "unknown_challenge" {
		t.Errorf("unknown challenge: %d %v", st, b)
	}
	// A small-order device key is refused before the code is spent.
	id = begin()
	st, b, _ = do(t, e.api, "POST", "/v1/auth/verify", client, map[string]string{"challenge_id": id, "code": e.lastCode(p.Phone), "device_key": strings.Repeat("A", 43)}, nil)
	if st != 400 {
		t.Errorf("small-order device key: %d %v", st, b)
	}
}

// TestAbuse: an attacker hammering a victim's PIN from one address gets 5
// answers that say the details do not match, then only unconfirmed ones,
// and is slowed only by its address's rate limit; nothing it does refuses
// the victim, who signs in at once from home (the red-team suite,
// redteam_test.go, runs the attacks at scale).
func TestAbuse(t *testing.T) {
	e := newEnv(t)
	victim := e.person(nil, 0)
	attacker := "198.51.100.66"
	badDoc := func(m map[string]string) { m["document_number"] = "AC9999999" }
	var codes []string
	for i := 0; i < 40; i++ {
		st, b, h := e.start(attacker, victim, badDoc)
		switch {
		case st == 200 && b["unconfirmed"] == true && b["phone_hint"] == nil:
			codes = append(codes, "unconfirmed")
		case st == 429 && errCode(b) == "rate_limited" && h.Get("Retry-After") == "1":
			codes = append(codes, "rate_limited")
			e.clock.add(time.Second)
		default:
			codes = append(codes, fmt.Sprintf("%d %s", st, errCode(b)))
		}
	}
	t.Logf("attacker saw %v", codes)
	for i, c := range codes {
		want := "identity_not_confirmed"
		if i >= 5 {
			want = "unconfirmed"
		}
		if c != "rate_limited" && !strings.HasSuffix(c, want) {
			t.Fatalf("answer %d: %s, want %s", i+1, c, want)
		}
	}
	// The victim, from home, signs in at the first try: the answer is
	// unconfirmed, and the code comes.
	home := "203.0.113.99"
	n := len(e.sms.Messages(victim.Phone))
	st, b, _ := e.start(home, victim, nil)
	if st != 200 || b["unconfirmed"] != true {
		t.Fatalf("victim: %d %v", st, b)
	}
	device := newDevice(t)
	st, b = e.verify(home, b["challenge_id"].(string), e.awaitCode(victim.Phone, n), device)
	if st != 200 {
		t.Fatalf("victim's verify: %d %v", st, b)
	}
	if st, _ := e.cast(b["token"].(string), device); st != 202 {
		t.Errorf("victim could not vote: %d", st)
	}
	// Per-client rate limit: a burst beyond 10 requests is refused.
	flood := "198.51.100.77"
	var last int
	for i := 0; i < 11; i++ {
		last, _, _ = do(t, e.api, "POST", "/v1/auth/start", flood, map[string]string{"pin": "1"}, nil)
	}
	if last != 429 {
		t.Errorf("11th request in a burst: %d", last)
	}
	// The access log recorded who (an opaque subject), when and the outcome.
	ev, err := e.store.AccessLog(context.Background(), 0, 1000)
	if err != nil || len(ev) < 10 {
		t.Fatalf("access log: %d events, %v", len(ev), err)
	}
	seen := map[string]bool{}
	for _, x := range ev {
		seen[x.Outcome] = true
		if strings.Contains(x.Subject, victim.PIN.Digits()) {
			t.Error("access log subject holds a PIN")
		}
	}
	for _, o := range []string{"mismatch", "mismatch_unconfirmed", "rate_limited", "code_sent_unconfirmed", "token_issued"} {
		if !seen[o] {
			t.Errorf("access log lacks outcome %q", o)
		}
	}
	// Retention: purging after the retention period empties it.
	e.clock.add(91 * 24 * time.Hour)
	if n, err := e.svc.PurgeAccessLog(context.Background()); err != nil || int(n) != len(ev) {
		t.Errorf("purge removed %d of %d: %v", n, len(ev), err)
	}
}

func TestRegistryTrouble(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 0)
	client := "203.0.113.40"
	check503 := func(name string) {
		t.Helper()
		start := time.Now()
		st, b, h := e.start(client, p, nil)
		if st != 503 || errCode(b) != "registry_unavailable" || h.Get("Retry-After") == "" {
			t.Errorf("%s: %d %v", name, st, b)
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("%s: answer took %v", name, el)
		}
	}
	e.fake.SetMode(registrytest.Slow, time.Second)
	check503("slow register")
	e.fake.SetMode(registrytest.Malformed, 0)
	check503("malformed answer")
	e.fake.SetMode(registrytest.WrongPerson, 0)
	check503("answer about another person")
	if len(e.sms.Messages(p.Phone)) != 0 {
		t.Fatal("a code was sent although the register failed")
	}
	e.fake.SetMode(registrytest.ServerError, 0)
	check503("register down")
	// The breaker is open now: the register is not even asked.
	before := e.fake.Requests()
	check503("circuit open")
	if e.fake.Requests() != before {
		t.Errorf("open circuit still queried the register")
	}
	// Nothing was counted against the voter or the client.
	e.fake.SetMode(registrytest.Normal, 0)
	e.clock.add(31 * time.Second)
	device := newDevice(t)
	tok, _ := e.signIn(client, p, device)
	if st, _ := e.cast(tok, device); st != 202 {
		t.Errorf("after outage: %d", st)
	}
}

func TestInPersonMark(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := e.person(nil, 0)
	device := newDevice(t)
	_, cred := e.signIn("203.0.113.50", p, device)

	// The station looks the voter up (signed) to learn the pseudonym.
	l := &voterlist.LookupRequest{ElectionID: electionID, StationID: "station-istanbul", OfficialID: "poll-official-1", PIN: p.PIN, At: uint64(e.clock.now().Unix())}
	l.Sign(e.keys["station-istanbul"], e.keys["poll-official-1"])
	lookup := map[string]any{"election_id": l.ElectionID, "station_id": l.StationID, "official_id": l.OfficialID, "pin": p.PIN.Digits(), "at": l.At,
		"station_sig": b64.EncodeToString(l.StationSig[:]), "official_sig": b64.EncodeToString(l.OfficialSig[:])}
	st, info, _ := do(t, e.api, "POST", "/v1/officials/lookup", "192.0.2.50", lookup, nil)
	if st != 200 || info["pseudonym"] != cred["pseudonym"] || info["credentials_issued"] != float64(1) {
		t.Fatalf("lookup: %d %v", st, info)
	}
	lookup["at"] = l.At + 1 // not what was signed
	if st, b, _ := do(t, e.api, "POST", "/v1/officials/lookup", "192.0.2.50", lookup, nil); st != 403 || errCode(b) != "official_refused" {
		t.Errorf("tampered lookup: %d %v", st, b)
	}

	m := &record.InPersonMark{ElectionID: electionID, ContextHash: contextHash, BallotStyle: info["ballot_style"].(string),
		StationID: "station-istanbul", OfficialID: "poll-official-1", MarkedAt: uint64(e.clock.now().Unix())}
	ps, _ := hex.DecodeString(info["pseudonym"].(string))
	copy(m.Pseudonym[:], ps)
	copy(m.StationKey[:], e.keys["station-istanbul"].Public().(ed25519.PublicKey))
	copy(m.OfficialKey[:], e.keys["poll-official-1"].Public().(ed25519.PublicKey))
	// A mark signed by an unregistered official key is refused.
	rogue := *m
	copy(rogue.OfficialKey[:], testKey("rogue").Public().(ed25519.PublicKey))
	rogue.Sign(e.keys["station-istanbul"], testKey("rogue"))
	if st, b, _ := do(t, e.api, "POST", "/v1/officials/marks", "192.0.2.50", map[string]string{"mark": b64.EncodeToString(rogue.Encode())}, nil); st != 403 {
		t.Errorf("rogue mark: %d %v", st, b)
	}
	m.Sign(e.keys["station-istanbul"], e.keys["poll-official-1"])
	if st, b, _ := do(t, e.api, "POST", "/v1/officials/marks", "192.0.2.50", map[string]string{"mark": b64.EncodeToString(m.Encode())}, nil); st != 201 {
		t.Fatalf("mark: %d %v", st, b)
	}
	if st, b, _ := do(t, e.api, "POST", "/v1/officials/marks", "192.0.2.50", map[string]string{"mark": b64.EncodeToString(m.Encode())}, nil); st != 409 {
		t.Errorf("second mark: %d %v", st, b)
	}
	// The mark is on the board while voting is open, and the voter was told.
	marks := e.board.ofType(0x0204)
	if len(marks) != 1 {
		t.Fatalf("%d marks on the board", len(marks))
	}
	if last := e.sms.Last(p.Phone).Text; !strings.Contains(last, "voted in person at polling station station-istanbul") {
		t.Errorf("no in-person notice, last SMS %q", last)
	}
	// The voter can no longer sign in online…
	if st, b, _ := e.start("203.0.113.50", p, nil); st != 403 || errCode(b) != "voted_in_person" {
		t.Errorf("sign-in after in-person vote: %d %v", st, b)
	}
	// …and cleansing sees the pseudonym whose online ballots it must cancel.
	cancelled, err := e.svc.CancelledPseudonyms(ctx)
	if err != nil || len(cancelled) != 1 || hex.EncodeToString(cancelled[0][:]) != cred["pseudonym"] {
		t.Errorf("cancelled pseudonyms %x, %v; want %s", cancelled, err, cred["pseudonym"])
	}
}

func TestListChangesAndConsularPhone(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 4)
	// A consul records a new phone number for a voter abroad.
	out := e.listChange("consul-istanbul", record.ListContactUpdate, []voterlist.Item{{Op: voterlist.OpPhone, PIN: p.PIN, Phone: "+905321234567"}}, 201)
	if out["updated"] != float64(1) || out["sequence"] != float64(2) {
		t.Errorf("contact update: %v", out)
	}
	entries := e.board.ofType(0x0202)
	c, _ := record.DecodeVoterListChange(entries[len(entries)-1])
	if c.Updated != 1 || c.OfficialID != "consul-istanbul" || len(c.Counts) != 3 || c.Counts[0].Voters != 12 {
		t.Errorf("list change entry %+v", c)
	}
	first, _ := record.DecodeVoterListChange(entries[0])
	if first.Added != 36 { // 12 eligible in each of 3 constituencies
		t.Errorf("initial list added %d", first.Added)
	}
	// The code now goes to the recorded number, not the register's.
	device := newDevice(t)
	st, ch, _ := e.start("203.0.113.60", p, nil)
	if st != 200 || len(e.sms.Messages(p.Phone)) != 0 {
		t.Fatalf("start: %d, %d messages to the old number", st, len(e.sms.Messages(p.Phone)))
	}
	if st, _ := e.verify("203.0.113.60", ch["challenge_id"].(string), e.lastCode("+905321234567"), device); st != 200 {
		t.Errorf("verify with code sent to the consular number: %d", st)
	}
	// The credential notice goes to both numbers: a consul who redirected a
	// voter's codes to a phone of their own is seen on the register's number.
	for _, ph := range []string{p.Phone, "+905321234567"} {
		if !strings.Contains(e.sms.Last(ph).Text, "credential was issued in your name") {
			t.Errorf("no credential notice to %s…", ph[:4])
		}
	}
	// A change signed by a polling official (not a list official) is refused,
	// and so is a replayed sequence number.
	e.listChange("poll-official-1", record.ListAdded, []voterlist.Item{{Op: voterlist.OpAdd, PIN: e.person(registry.ErrUnderAge, 0).PIN, BallotStyle: "KG-ABR-01"}}, 403)
}

func TestBoardDownQueuesCredential(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 5)
	e.board.setDown(true)
	st, ch, _ := e.start("203.0.113.70", p, nil)
	if st != 200 {
		t.Fatal(st)
	}
	st, b := e.verify("203.0.113.70", ch["challenge_id"].(string), e.lastCode(p.Phone), newDevice(t))
	if st != 503 || errCode(b) != "board_unavailable" {
		t.Fatalf("board down: %d %v", st, b)
	}
	if n := len(e.board.ofType(0x0203)); n != 0 {
		t.Fatalf("%d credentials posted while down", n)
	}
	e.board.setDown(false)
	if n, err := e.svc.FlushBoard(context.Background()); err != nil || n != 1 {
		t.Fatalf("flush posted %d: %v", n, err)
	}
	if n := len(e.board.ofType(0x0203)); n != 1 {
		t.Errorf("queued credential not posted: %d", n)
	}
}

// TestAuthenticatorApp: a voter who signed in by SMS enrols an
// authenticator app; later sign-ins use its codes and no SMS is sent.
func TestAuthenticatorApp(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 6)
	client := "203.0.113.80"
	tok, _ := e.signIn(client, p, newDevice(t))
	bearer := map[string]string{"Authorization": "Bearer " + tok}

	// Without a token no enrolment.
	if st, b, _ := do(t, e.api, "POST", "/v1/auth/totp/enroll", client, nil, map[string]string{"Authorization": "Bearer x.y.z"}); st != 401 {
		t.Fatalf("enrol without token: %d %v", st, b)
	}
	st, enr, _ := do(t, e.api, "POST", "/v1/auth/totp/enroll", client, nil, bearer)
	if st != 200 || !strings.HasPrefix(enr["uri"].(string), "otpauth://totp/") {
		t.Fatalf("enrol: %d %v", st, enr)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enr["secret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	app := &otp.TOTP{Secret: secret}
	codeNow := func() string { return app.CodeAt(app.Step(e.clock.now())) }

	// Before confirmation, method totp falls back to SMS.
	st, ch, _ := e.start(client, p, func(m map[string]string) { m["method"] = "totp" })
	if st != 200 || ch["method"] != "sms" {
		t.Fatalf("unconfirmed enrolment: %d %v", st, ch)
	}
	if st, b, _ := do(t, e.api, "POST", "/v1/auth/totp/confirm", client, map[string]string{"code": "000000"}, bearer); st != 401 || errCode(b) != "wrong_code" {
		t.Errorf("confirm with a wrong code: %d %v", st, b)
	}
	if st, b, _ := do(t, e.api, "POST", "/v1/auth/totp/confirm", client, map[string]string{"code": codeNow()}, bearer); st != 200 {
		t.Fatalf("confirm: %d %v", st, b)
	}

	// Sign in with the app: no SMS is sent.
	e.clock.add(30 * time.Second) // a fresh time step
	before := len(e.sms.Messages(p.Phone))
	st, ch, _ = e.start(client, p, func(m map[string]string) { m["method"] = "totp" })
	if st != 200 || ch["method"] != "totp" {
		t.Fatalf("totp start: %d %v", st, ch)
	}
	if len(e.sms.Messages(p.Phone)) != before {
		t.Error("an SMS code was sent for an authenticator-app sign-in")
	}
	if st, b, _ := do(t, e.api, "POST", "/v1/auth/resend", client, map[string]string{"challenge_id": ch["challenge_id"].(string)}, nil); st != 400 {
		t.Errorf("resend of a totp challenge: %d %v", st, b)
	}
	code := codeNow()
	device := newDevice(t)
	st, body := e.verify(client, ch["challenge_id"].(string), code, device)
	if st != 200 {
		t.Fatalf("totp verify: %d %v", st, body)
	}
	if st, _ := e.cast(body["token"].(string), device); st != 202 {
		t.Errorf("ballot under a totp-issued token: %d", st)
	}
	// The same app code cannot be used twice.
	_, ch2, _ := e.start(client, p, func(m map[string]string) { m["method"] = "totp" })
	if st, b := e.verify(client, ch2["challenge_id"].(string), code, newDevice(t)); st != 401 || errCode(b) != "wrong_code" {
		t.Errorf("replayed app code: %d %v", st, b)
	}
	// The SMS code of another challenge is no good for a totp challenge.
	if st, _ := e.verify(client, ch2["challenge_id"].(string), e.lastCode(p.Phone), newDevice(t)); st != 401 {
		t.Errorf("sms code on a totp challenge: %d", st)
	}
	// The credential notice still goes out by SMS.
	if last := e.sms.Last(p.Phone).Text; !strings.Contains(last, "credential was issued") {
		t.Errorf("no credential notice: %q", last)
	}
}

// TestCSVImport: an election official imports voters from a CSV file; the
// change is posted with per-constituency counts and the imported voter can
// sign in.
func TestCSVImport(t *testing.T) {
	e := newEnv(t)
	// A citizen who turned 18 after the list was built from the register.
	late := registry.SimPerson{Citizen: e.person(nil, 7).Citizen, DocumentNumber: "ID7654321"}
	late.PIN = registry.MustParsePIN("1" + late.BirthDate.Format("02012006") + "54321")
	e.sim.Add(late)
	csv := "pin,ballot_style,phone\n" + late.PIN.Digits() + ",KG-ABR-03,\n"
	items, err := voterlist.ParseCSV(strings.NewReader(csv), e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	out := e.listChange("list-official-1", record.ListImported, items, 201)
	if out["added"] != float64(1) || out["counts"].(map[string]any)["KG-ABR-03"] != float64(13) {
		t.Fatalf("import: %v", out)
	}
	device := newDevice(t)
	tok, cred := e.signIn("203.0.113.90", &late, device)
	if cred["ballot_style"] != "KG-ABR-03" {
		t.Errorf("imported voter's ballot style %v", cred["ballot_style"])
	}
	if st, _ := e.cast(tok, device); st != 202 {
		t.Errorf("imported voter could not vote: %d", st)
	}
	// Importing the same voter again is refused whole.
	e.listChange("list-official-1", record.ListImported, items, 409)
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	if st, b, _ := do(t, e.api, "GET", "/v1/nope", "203.0.113.1", nil, nil); st != 404 || errCode(b) != "not_found" {
		t.Errorf("unknown path: %d %v", st, b)
	}
	if st, b, _ := do(t, e.api, "GET", "/v1/auth/start", "203.0.113.1", nil, nil); st != 405 || errCode(b) != "method_not_allowed" {
		t.Errorf("wrong method: %d %v", st, b)
	}
	if st, b, _ := do(t, e.api, "POST", "/v1/auth/start", "203.0.113.1", `{"pin":"1"} {"pin":"2"}`, nil); st != 400 {
		t.Errorf("trailing JSON: %d %v", st, b)
	}
	if st, _, h := do(t, e.api, "GET", "/healthz", "203.0.113.1", nil, nil); st != 200 || h.Get("Cache-Control") != "no-store" {
		t.Errorf("healthz: %d, Cache-Control %q", st, h.Get("Cache-Control"))
	}
}

// TestRemovingACredentialedVoter (issue 14): a list official cannot remove
// a voter who holds a credential (409 conflict): the board refuses a list
// that counts fewer voters of a style than hold its credentials (spec
// §8.8.4), which would block the service's outbox.
func TestRemovingACredentialedVoter(t *testing.T) {
	e := newEnv(t)
	p := e.person(nil, 0)
	client := "203.0.113.90"
	st, ch, _ := e.start(client, p, nil)
	if st != 200 {
		t.Fatalf("start: %d %v", st, ch)
	}
	if st, b := e.verify(client, ch["challenge_id"].(string), e.lastCode(p.Phone), newDevice(t)); st != 200 {
		t.Fatalf("verify: %d %v", st, b)
	}
	out := e.listChange("list-official-1", record.ListRemoved, []voterlist.Item{{Op: voterlist.OpRemove, PIN: p.PIN}}, 409)
	if errCode(out) != "conflict" {
		t.Errorf("removal of a credentialed voter: %v", out)
	}
	e.listChange("list-official-1", record.ListRemoved, []voterlist.Item{{Op: voterlist.OpRemove, PIN: e.person(nil, 1).PIN}}, 201)
}
