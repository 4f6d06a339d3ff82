package voterlist

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"evote/idp/registry"
	"evote/record"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func key(label string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("evote-test-key/" + label))
	return ed25519.NewKeyFromSeed(s[:])
}

func pub(label string) ed25519.PublicKey { return key(label).Public().(ed25519.PublicKey) }

type pseudonymVector struct {
	Key        string `json:"key"`
	ElectionID string `json:"election_id"`
	PIN        string `json:"pin"`
	Pseudonym  string `json:"pseudonym"`
}

// Vectors: spec/vectors/identity-pseudonym.json. Regenerate with
// EVOTE_WRITE_VECTORS=1 go test ./idp/voterlist -run TestPseudonymVectors.
func TestPseudonymVectors(t *testing.T) {
	var want []pseudonymVector
	for i, c := range []struct{ e, pin string }{{"kg-2026-parl", "21505199012345"}, {"kg-2026-parl", "21505199012346"}, {"kg-2027-pres", "21505199012345"}} {
		k := sha256.Sum256([]byte{byte(i)})
		p := Pseudonym(k[:], c.e, registry.MustParsePIN(c.pin))
		want = append(want, pseudonymVector{hex.EncodeToString(k[:]), c.e, c.pin, FormatPseudonym(p)})
	}
	path := filepath.Join("..", "..", "spec", "vectors", "identity-pseudonym.json")
	if os.Getenv("EVOTE_WRITE_VECTORS") == "1" {
		b, _ := json.MarshalIndent(want, "", "  ")
		os.WriteFile(path, append(b, '\n'), 0o644)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []pseudonymVector
	if err := json.Unmarshal(raw, &got); err != nil || len(got) != len(want) {
		t.Fatalf("vector file: %v, %d vectors", err, len(got))
	}
	for i, v := range got {
		k, _ := hex.DecodeString(v.Key)
		if p := FormatPseudonym(Pseudonym(k, v.ElectionID, registry.MustParsePIN(v.PIN))); p != v.Pseudonym || v != want[i] {
			t.Errorf("vector %d: got %s, want %s", i, p, v.Pseudonym)
		}
	}
	if got[0].Pseudonym == got[1].Pseudonym || got[0].Pseudonym == got[2].Pseudonym {
		t.Error("pseudonyms collide across PIN or election")
	}
}

func TestParseCSV(t *testing.T) {
	in := "pin,ballot_style,phone\n21505199012345,KG-ABR-01,+996700123456\n11203198500017,KG-ABR-02,\n"
	items, err := ParseCSV(strings.NewReader(in), now)
	if err != nil || len(items) != 2 || items[1].Phone != "" || items[0].BallotStyle != "KG-ABR-01" {
		t.Fatalf("ParseCSV = %+v, %v", items, err)
	}
	bad := map[string]string{
		"header":      "p,ballot_style,phone\n21505199012345,KG-ABR-01,\n",
		"bad pin":     "pin,ballot_style,phone\n21505199012399x,KG-ABR-01,\n",
		"bad style":   "pin,ballot_style,phone\n21505199012345,KG ABR,\n",
		"bad phone":   "pin,ballot_style,phone\n21505199012345,KG-ABR-01,0700123456\n",
		"duplicate":   "pin,ballot_style,phone\n21505199012345,KG-ABR-01,\n21505199012345,KG-ABR-02,\n",
		"columns":     "pin,ballot_style,phone\n21505199012345,KG-ABR-01\n",
		"empty":       "",
		"only header": "pin,ballot_style,phone\n",
		"quote":       "pin,ballot_style,phone\n\"21505199012345,KG-ABR-01,\n",
	}
	for name, s := range bad {
		_, err := ParseCSV(strings.NewReader(s), now)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		} else if strings.Contains(err.Error(), "2150519901") {
			t.Errorf("%s: error leaks a PIN: %v", name, err)
		}
	}
}

func TestFromRegister(t *testing.T) {
	sim, _ := registry.NewSimulated(registry.SimulatedConfig{Seed: "x", Constituencies: []string{"A", "B"}, PerConstituency: 10, ElectionDay: now})
	var people []registry.Citizen
	for _, p := range sim.People() {
		people = append(people, p.Citizen)
	}
	items := FromRegister(people, now)
	if len(items) != 12 { // 6 eligible of each 10
		t.Fatalf("FromRegister gave %d voters, want 12", len(items))
	}
	if err := CheckItems(items); err != nil {
		t.Fatal(err)
	}
}

func authority() *Authority {
	return &Authority{
		ElectionID: "kg-2026-parl", ContextHash: sha256.Sum256([]byte("ctx")),
		Stations: map[string]ed25519.PublicKey{"st-1": pub("st-1")},
		Polling:  map[string]ed25519.PublicKey{"po-1": pub("po-1")},
		List:     map[string]ed25519.PublicKey{"lo-1": pub("lo-1")},
	}
}

func TestVerifyLookupAndMark(t *testing.T) {
	a := authority()
	l := &LookupRequest{ElectionID: a.ElectionID, StationID: "st-1", OfficialID: "po-1", PIN: registry.MustParsePIN("21505199012345"), At: uint64(now.Unix())}
	l.Sign(key("st-1"), key("po-1"))
	if err := a.VerifyLookup(l, now); err != nil {
		t.Fatal(err)
	}
	l2 := *l
	l2.PIN = registry.MustParsePIN("21505199012346")
	if err := a.VerifyLookup(&l2, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("changed PIN: %v", err)
	}
	if err := a.VerifyLookup(l, now.Add(6*time.Minute)); !errors.Is(err, ErrStale) {
		t.Errorf("stale: %v", err)
	}
	l3 := *l
	l3.OfficialID = "po-2"
	if err := a.VerifyLookup(&l3, now); !errors.Is(err, ErrUnknownOfficial) {
		t.Errorf("unknown official: %v", err)
	}

	m := &record.InPersonMark{ElectionID: a.ElectionID, ContextHash: a.ContextHash, BallotStyle: "KG-ABR-01",
		StationID: "st-1", OfficialID: "po-1", MarkedAt: uint64(now.Unix())}
	copy(m.StationKey[:], pub("st-1"))
	copy(m.OfficialKey[:], pub("po-1"))
	m.Sign(key("st-1"), key("po-1"))
	if err := a.VerifyMark(m, now); err != nil {
		t.Fatal(err)
	}
	// An official signing with a key of their own making is refused even if the signature is valid.
	m2 := *m
	copy(m2.OfficialKey[:], pub("rogue"))
	m2.Sign(key("st-1"), key("rogue"))
	if err := a.VerifyMark(&m2, now); !errors.Is(err, ErrUnknownOfficial) {
		t.Errorf("rogue key: %v", err)
	}
	m3 := *m
	m3.Pseudonym[0] ^= 1
	if err := a.VerifyMark(&m3, now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered: %v", err)
	}
	m4 := *m
	m4.ContextHash[0] ^= 1
	if err := a.VerifyMark(&m4, now); !errors.Is(err, ErrWrongElection) {
		t.Errorf("other context: %v", err)
	}
}

func TestVerifyChange(t *testing.T) {
	a := authority()
	items := []Item{{Op: OpPhone, PIN: registry.MustParsePIN("21505199012345"), Phone: "+77011234567"}}
	r := &ChangeRequest{Items: items}
	r.Salt[0] = 9
	r.Statement = record.VoterListChange{ElectionID: a.ElectionID, ContextHash: a.ContextHash, Sequence: 2, Kind: record.ListContactUpdate,
		OfficialID: "lo-1", DetailsDigest: DetailsDigest(r.Salt, items), ChangedAt: uint64(now.Unix())}
	copy(r.Statement.OfficialKey[:], pub("lo-1"))
	r.Statement.Sign(key("lo-1"))
	if err := a.VerifyChange(r, now); err != nil {
		t.Fatal(err)
	}
	r2 := *r
	r2.Items = []Item{{Op: OpPhone, PIN: items[0].PIN, Phone: "+77019999999"}}
	if err := a.VerifyChange(&r2, now); !errors.Is(err, ErrDigest) {
		t.Errorf("changed details: %v", err)
	}
	r3 := *r
	r3.Salt[1] = 1
	if err := a.VerifyChange(&r3, now); !errors.Is(err, ErrDigest) {
		t.Errorf("changed salt: %v", err)
	}
	// A removal smuggled into a contact update.
	r4 := *r
	r4.Items = []Item{{Op: OpRemove, PIN: items[0].PIN}}
	r4.Statement.DetailsDigest = DetailsDigest(r4.Salt, r4.Items)
	r4.Statement.Sign(key("lo-1"))
	if err := a.VerifyChange(&r4, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("kind mismatch: %v", err)
	}
	// A polling official is not a list official.
	r5 := *r
	r5.Statement.OfficialID = "po-1"
	copy(r5.Statement.OfficialKey[:], pub("po-1"))
	r5.Statement.Sign(key("po-1"))
	if err := a.VerifyChange(&r5, now); !errors.Is(err, ErrUnknownOfficial) {
		t.Errorf("wrong role: %v", err)
	}
}

func TestValidPhone(t *testing.T) {
	for _, s := range []string{"+996700123456", "+77011234567", "+4915112345678"} {
		if !ValidPhone(s) {
			t.Errorf("ValidPhone(%q) = false", s)
		}
	}
	for _, s := range []string{"", "996700123456", "+0996700123", "+996 700", "+1234567", "+9967001234567890"} {
		if ValidPhone(s) {
			t.Errorf("ValidPhone(%q) = true", s)
		}
	}
}

func TestVerifyRegistration(t *testing.T) {
	a := authority()
	const listID = "lo-1"
	reg := func(mod func(r *record.PollingRegistration), signer string) *record.PollingRegistration {
		r := &record.PollingRegistration{ElectionID: a.ElectionID, ContextHash: a.ContextHash, OfficialID: listID, RegisteredAt: uint64(now.Unix()),
			Stations: []record.PollingKey{{ID: "st-1"}}, Officials: []record.PollingKey{{ID: "po-1"}}}
		copy(r.OfficialKey[:], pub(listID))
		copy(r.Stations[0].Key[:], pub("st-1"))
		copy(r.Officials[0].Key[:], pub("po-1"))
		if mod != nil {
			mod(r)
		}
		r.Sign(key(signer))
		return r
	}
	if err := a.VerifyRegistration(reg(nil, listID), now); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		r    *record.PollingRegistration
		want error
	}{
		"polling official registers": {reg(func(r *record.PollingRegistration) { r.OfficialID = "po-1"; copy(r.OfficialKey[:], pub("po-1")) }, "po-1"), ErrUnknownOfficial},
		"station not configured":     {reg(func(r *record.PollingRegistration) { r.Stations[0].ID = "st-9" }, listID), ErrUnknownOfficial},
		"station key made up":        {reg(func(r *record.PollingRegistration) { copy(r.Stations[0].Key[:], pub("rogue")) }, listID), ErrUnknownOfficial},
		"official key made up":       {reg(func(r *record.PollingRegistration) { copy(r.Officials[0].Key[:], pub("rogue")) }, listID), ErrUnknownOfficial},
		"signed by another key":      {reg(nil, "rogue"), ErrBadSignature},
		"other context":              {reg(func(r *record.PollingRegistration) { r.ContextHash[0] ^= 1 }, listID), ErrWrongElection},
		"stale":                      {reg(func(r *record.PollingRegistration) { r.RegisteredAt -= 600 }, listID), ErrStale},
	} {
		if err := a.VerifyRegistration(tc.r, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
}

// TestCheckCSV: every refused line is reported with its line number and
// reason (never its PIN), the valid ones counted by style, and a file with
// no problem is one ParseCSV accepts.
func TestCheckCSV(t *testing.T) {
	styles := func(s string) bool { return s == "KG-ABR-01" || s == "KG-ABR-02" }
	in := "pin,ballot_style,phone\n" +
		"21505199012345,KG-ABR-01,+996700123456\n" + // 2 ok
		"21505199012399x,KG-ABR-01,\n" + // 3 bad PIN
		"11203198500017,KG-ABR-02,\n" + // 4 ok
		"11203198500017,KG-ABR-01,\n" + // 5 duplicate of 4
		"21505199012345,KG-ABR-09,\n" + // 6 unknown style
		"21505199012345,KG ABR,\n" + // 7 malformed style
		"21505199012345,KG-ABR-01,0700\n" + // 8 bad phone
		"21505199012345,KG-ABR-01\n" + // 9 two columns
		"\"multi\nline\",KG-ABR-01,\n" + // 10-11 bad PIN, quoted over two lines
		"21505199012345,KG-ABR-01,\n" // 12 duplicate of 2
	rep, err := CheckCSV(strings.NewReader(in), now, styles)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{3: "malformed PIN", 5: "the voter of line 4 again", 6: "not one of the election's", 7: "malformed ballot style",
		8: "malformed phone", 9: "unreadable line", 10: "malformed PIN", 12: "the voter of line 2 again"}
	if rep.Lines != 10 || rep.Valid != 2 || rep.Counts["KG-ABR-01"] != 1 || rep.Counts["KG-ABR-02"] != 1 || len(rep.Problems) != len(want) {
		t.Fatalf("report %+v", rep)
	}
	for _, p := range rep.Problems {
		if !strings.Contains(p.Problem, want[p.Line]) || want[p.Line] == "" || p.Code == "" || (p.Code == "duplicate") != (p.Other != 0) {
			t.Errorf("line %d: %q, want %q", p.Line, p.Problem, want[p.Line])
		}
		if strings.Contains(p.Problem, "2150519901") || strings.Contains(p.Problem, "1120319850") {
			t.Errorf("line %d leaks a PIN: %q", p.Line, p.Problem)
		}
	}
	good := "pin,ballot_style,phone\n21505199012345,KG-ABR-01,+996700123456\n11203198500017,KG-ABR-02,\n"
	if rep, err := CheckCSV(strings.NewReader(good), now, styles); err != nil || len(rep.Problems) != 0 || rep.Valid != 2 {
		t.Fatalf("good file: %+v %v", rep, err)
	}
	if _, err := ParseCSV(strings.NewReader(good), now); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckCSV(strings.NewReader("p,ballot_style,phone\n"), now, styles); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad header: %v", err)
	}
}
