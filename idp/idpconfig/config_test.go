package idpconfig

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"evote/idp/devpeople"
)

const (
	pseudonymHex = "0101010101010101010101010101010101010101010101010101010101010101"
	seedHex      = "0202020202020202020202020202020202020202020202020202020202020202"
	ctxHex       = "0303030303030303030303030303030303030303030303030303030303030303"
	apiKey       = "sms-api-key-very-secret"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

func devEnv(t *testing.T) map[string]string {
	return map[string]string{
		"EVOTE_IDP_MODE": "development", "EVOTE_IDP_ELECTION_ID": "kg-2026-parl", "EVOTE_IDP_CONTEXT_HASH": ctxHex,
		"EVOTE_IDP_ELECTION_DAY": "2026-12-20", "EVOTE_IDP_PSEUDONYM_KEY": pseudonymHex, "EVOTE_IDP_SIGNING_KEYS": seedHex,
		"EVOTE_IDP_ISSUER": "https://id.test", "EVOTE_IDP_REGISTRY": "simulated", "EVOTE_IDP_SIM_CONSTITUENCIES": "KG-ABR-01,KG-ABR-02",
		"EVOTE_IDP_SMS": "log", "EVOTE_IDP_DB_DRIVER": "sqlite", "EVOTE_IDP_DB_DSN": "file:" + filepath.Join(t.TempDir(), "idp.db"),
	}
}

func getter(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

type nopBoard struct{}

func (nopBoard) Post(context.Context, uint16, []byte) (uint64, error) { return 1, nil }

func TestDevelopmentBuild(t *testing.T) {
	c, err := Load(getter(devEnv(t)))
	if err != nil {
		t.Fatal(err)
	}
	var sms bytes.Buffer
	rt, err := Build(context.Background(), c, nopBoard{}, nil, &sms)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, path := range []string{"/healthz", "/v1/keys"} {
		w := httptest.NewRecorder()
		rt.Handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != 200 {
			t.Errorf("GET %s: %d", path, w.Code)
		}
	}
}

func TestProductionRefusals(t *testing.T) {
	cases := map[string]func(m map[string]string){
		"simulated register": func(m map[string]string) { m["EVOTE_IDP_MODE"] = "production" },
		"no pseudonym key":   func(m map[string]string) { delete(m, "EVOTE_IDP_PSEUDONYM_KEY") },
		"no signing key":     func(m map[string]string) { delete(m, "EVOTE_IDP_SIGNING_KEYS") },
		"short key":          func(m map[string]string) { m["EVOTE_IDP_PSEUDONYM_KEY"] = "0101" },
		"log sms in production": func(m map[string]string) {
			m["EVOTE_IDP_MODE"] = "production"
			m["EVOTE_IDP_REGISTRY"] = "http"
			m["EVOTE_IDP_REGISTRY_URL"] = "https://tunduk.test/person"
		},
		"plain http register": func(m map[string]string) { m["EVOTE_IDP_REGISTRY"] = "http"; m["EVOTE_IDP_REGISTRY_URL"] = "http://x" },
		"bad duration":        func(m map[string]string) { m["EVOTE_IDP_TOKEN_TTL"] = "soon" },
		"bad official key":    func(m map[string]string) { m["EVOTE_IDP_STATIONS"] = "st-1=abcd" },
		"closes before opens": func(m map[string]string) {
			m["EVOTE_IDP_VOTING_OPENS"] = "2026-12-20T20:00:00Z"
			m["EVOTE_IDP_VOTING_CLOSES"] = "2026-12-20T08:00:00Z"
		},
	}
	for name, mod := range cases {
		m := devEnv(t)
		mod(m)
		if _, err := Load(getter(m)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "0101") {
			t.Errorf("%s: error echoes a secret: %v", name, err)
		}
	}
}

func TestSecretFilesAndRedaction(t *testing.T) {
	m := devEnv(t)
	delete(m, "EVOTE_IDP_PSEUDONYM_KEY")
	f := filepath.Join(t.TempDir(), "pk")
	os.WriteFile(f, []byte(pseudonymHex+"\n"), 0o600)
	m["EVOTE_IDP_PSEUDONYM_KEY_FILE"] = f
	m["EVOTE_IDP_SMS_API_KEY"] = apiKey
	c, err := Load(getter(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.PseudonymKey[31] != 1 {
		t.Error("key from file not read")
	}
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c)} {
		for _, secret := range []string{pseudonymHex, seedHex, apiKey, "idp.db"} {
			if strings.Contains(s, secret) {
				t.Errorf("printed config leaks a secret %q…", secret[:6])
			}
		}
	}
	m["EVOTE_IDP_PSEUDONYM_KEY"] = pseudonymHex
	if _, err := Load(getter(m)); err == nil {
		t.Error("both NAME and NAME_FILE accepted")
	}
}

// TestContextHashEncodings (issue 19, finding 1): the context hash is taken
// in hex or in the API's base64url (or base64: keytext, one encoding rule
// for every tool); anything else is refused.
func TestContextHashEncodings(t *testing.T) {
	want, _ := hex.DecodeString(ctxHex)
	for _, v := range []string{ctxHex, base64.RawURLEncoding.EncodeToString(want), base64.URLEncoding.EncodeToString(want), base64.StdEncoding.EncodeToString(want)} {
		m := devEnv(t)
		m["EVOTE_IDP_CONTEXT_HASH"] = v
		c, err := Load(getter(m))
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if !bytes.Equal(c.ContextHash[:], want) {
			t.Fatalf("%s: decoded %x", v, c.ContextHash)
		}
	}
	for _, v := range []string{ctxHex[:62], base64.RawURLEncoding.EncodeToString(want[:31]), "not a hash"} {
		m := devEnv(t)
		m["EVOTE_IDP_CONTEXT_HASH"] = v
		if _, err := Load(getter(m)); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

// TestDevelopmentPeoplePage: in development mode the page lists the
// simulated people and the last code texted to each (issue 19), the same
// code the log sender wrote; with a real SMS gateway it refuses with 403.
func TestDevelopmentPeoplePage(t *testing.T) {
	c, err := Load(getter(devEnv(t)))
	if err != nil {
		t.Fatal(err)
	}
	var sms bytes.Buffer
	rt, err := Build(context.Background(), c, nopBoard{}, nil, &sms)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	page := func(h http.Handler) (int, []devpeople.Person) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, devpeople.Path, nil))
		var body struct{ People []devpeople.Person }
		if w.Code == 200 {
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("page: %v: %s", err, w.Body)
			}
		}
		return w.Code, body.People
	}
	code, people := page(rt.Handler)
	if code != 200 || len(people) == 0 {
		t.Fatalf("page: %d, %d people", code, len(people))
	}
	var p devpeople.Person
	for _, q := range people {
		if q.Ineligible == "" {
			p = q
			break
		}
	}
	if p.LastSMS != "" {
		t.Fatalf("a code listed before any was sent: %+v", p)
	}
	// The service texts through rt.DevSMS (a voter not yet on a list
	// cannot start a sign-in here, so the test sends as the service does).
	if err := rt.DevSMS.Send(context.Background(), p.Phone, "Your code: 402817"); err != nil {
		t.Fatal(err)
	}
	_, people = page(rt.Handler)
	var got string
	for _, q := range people {
		if q.PIN == p.PIN {
			got = q.LastSMS
		}
	}
	if got != "Your code: 402817" || !strings.Contains(sms.String(), "402817") {
		t.Fatalf("page shows %q for %s; the log has %q", got, p.PIN, sms.String())
	}

	// With a real SMS gateway the page is refused.
	m := devEnv(t)
	m["EVOTE_IDP_SMS"], m["EVOTE_IDP_SMS_URL"], m["EVOTE_IDP_SMS_API_KEY"], m["EVOTE_IDP_SMS_SENDER_ID"] = "gateway", "https://sms.test/v1", apiKey, "SHAILOO"
	c2, err := Load(getter(m))
	if err != nil {
		t.Fatal(err)
	}
	rt2, err := Build(context.Background(), c2, nopBoard{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	if code, _ := page(rt2.Handler); code != http.StatusForbidden {
		t.Fatalf("page with an SMS gateway: %d, want 403", code)
	}
}
