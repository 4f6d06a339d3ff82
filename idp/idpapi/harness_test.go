package idpapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"evote/crypto/sig"
	"evote/idp"
	"evote/idp/idpstore"
	"evote/idp/otp"
	"evote/idp/registry"
	"evote/idp/registry/registrytest"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/internal/loadtest"
	"evote/record"
	"evote/tally/revote"
)

func TestMain(m *testing.M) {
	if p, ok := loadtest.ChildPlan(); ok { // a flood child (flood_test.go)
		p.Run(floodRequests(p))
		os.Exit(0)
	}
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const electionID = "kg-2026-parl"

var (
	electionDay = time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
	startTime   = time.Date(2026, 12, 20, 8, 0, 0, 0, time.UTC)
	contextHash = sha256.Sum256([]byte("evote test election context"))
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// recBoard is an in-memory bulletin board that decodes every entry with the
// record decoders (so a malformed payload fails the test) and can be taken
// down.
type recBoard struct {
	t       testing.TB
	mu      sync.Mutex
	entries []boardEntry
	down    bool
	closed  bool // the board holds the election's close entry
}

type boardEntry struct {
	Type    uint16
	Payload []byte
}

func (b *recBoard) Post(_ context.Context, typ uint16, payload []byte) (uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return 0, errors.New("board down")
	}
	var err error
	switch typ {
	case 0x0003:
		_, err = record.DecodeIdentityKeySet(payload)
	case 0x0202:
		_, err = record.DecodeVoterListChange(payload)
	case 0x0203:
		_, err = record.DecodeCredentialIssued(payload)
	case 0x0204:
		var m *record.InPersonMark
		if m, err = record.DecodeInPersonMark(payload); err == nil {
			err = m.VerifySignatures()
		}
	case 0x0205:
		var r *record.PollingRegistration
		if r, err = record.DecodePollingRegistration(payload); err == nil {
			err = r.VerifySignature()
		}
	case 0x0609:
		_, err = revote.DecodeRoll(payload)
	default:
		err = fmt.Errorf("unexpected entry type 0x%04x", typ)
	}
	if err != nil {
		b.t.Errorf("board refused entry 0x%04x: %v", typ, err)
		return 0, err
	}
	b.entries = append(b.entries, boardEntry{typ, append([]byte(nil), payload...)})
	return uint64(len(b.entries) - 1), nil
}

func (b *recBoard) setDown(d bool) { b.mu.Lock(); b.down = d; b.mu.Unlock() }

func (b *recBoard) setClosed(c bool) { b.mu.Lock(); b.closed = c; b.mu.Unlock() }

// VotingClosed implements idp.VotingState.
func (b *recBoard) VotingClosed(context.Context) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down {
		return false, errors.New("board down")
	}
	return b.closed, nil
}

func (b *recBoard) ofType(typ uint16) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out [][]byte
	for _, e := range b.entries {
		if e.Type == typ {
			out = append(out, e.Payload)
		}
	}
	return out
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type env struct {
	t      testing.TB
	clock  *clock
	sim    *registry.Simulated
	fake   *registrytest.Server
	store  *idpstore.Store
	board  *recBoard
	sms    *otp.Recorder
	issuer *token.Issuer
	svc    *idp.Service
	api    http.Handler
	box    http.Handler
	logs   *syncBuffer
	keys   map[string]ed25519.PrivateKey
}

func testKey(label string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("evote-test-key/" + label))
	return ed25519.NewKeyFromSeed(s[:])
}

// newEnv builds the test world; mods change the service's configuration.
// Unconfirmed answers are held 1 ms instead of 1 s, so the many of the
// red-team suite run fast (TestRedTeamUnconfirmedTiming checks the floor).
func newEnv(t testing.TB, mods ...func(*idp.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, clock: &clock{t: startTime}, board: &recBoard{t: t}, sms: &otp.Recorder{}, logs: &syncBuffer{}, keys: map[string]ed25519.PrivateKey{}}
	for _, k := range []string{"station-bishkek-1", "station-istanbul", "poll-official-1", "list-official-1", "consul-istanbul"} {
		e.keys[k] = testKey(k)
	}
	var err error
	e.sim, err = registry.NewSimulated(registry.SimulatedConfig{Seed: "e2e", Constituencies: []string{"KG-ABR-01", "KG-ABR-02", "KG-ABR-03"}, PerConstituency: 20, ElectionDay: electionDay})
	if err != nil {
		t.Fatal(err)
	}
	e.fake = registrytest.New(e.sim)
	t.Cleanup(e.fake.Close)
	reg, err := registry.NewHTTP(registry.HTTPConfig{Endpoint: e.fake.URL, ClientID: "KG/GOV/70000001/evote", AllowHTTP: true,
		Timeout: 60 * time.Millisecond, MaxAttempts: 2, BackoffBase: time.Millisecond, BreakerThreshold: 3, BreakerCooldown: 30 * time.Second, Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	e.store, err = idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(t.TempDir(), "idp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	e.issuer, err = token.NewIssuer(token.IssuerConfig{Issuer: "https://id.shailoo.test", Audience: "evote-ballot-box", TTL: 15 * time.Minute, Now: e.clock.now}, testKey("idp-signing-1"))
	if err != nil {
		t.Fatal(err)
	}
	pk := func(l string) ed25519.PublicKey { return e.keys[l].Public().(ed25519.PublicKey) }
	auth := &voterlist.Authority{ElectionID: electionID, ContextHash: contextHash,
		Stations: map[string]ed25519.PublicKey{"station-bishkek-1": pk("station-bishkek-1"), "station-istanbul": pk("station-istanbul")},
		Polling:  map[string]ed25519.PublicKey{"poll-official-1": pk("poll-official-1")},
		List:     map[string]ed25519.PublicKey{"list-official-1": pk("list-official-1"), "consul-istanbul": pk("consul-istanbul")}}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pkey := sha256.Sum256([]byte("test pseudonym key"))
	cfg := idp.Config{
		ElectionID: electionID, ContextHash: contextHash, ElectionDay: electionDay, PseudonymKey: pkey[:],
		Registry: reg, RegistryTimeout: 150 * time.Millisecond, Sender: e.sms, Store: e.store, Board: e.board,
		Issuer: e.issuer, Authority: auth, Logger: logger, Now: e.clock.now, TOTPKey: testKey("totp-seal").Seed(),
		Abuse: idp.AbuseConfig{UnconfirmedFloor: time.Millisecond},
	}
	for _, m := range mods {
		m(&cfg)
	}
	e.svc, err = idp.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.api, err = New(e.svc, e.issuer, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.box = e.ballotBox()
	// The initial voter list: every eligible person of the register, signed
	// by a list official and submitted through the API.
	var people []registry.Citizen
	for _, p := range e.sim.People() {
		people = append(people, p.Citizen)
	}
	e.listChange("list-official-1", record.ListBuilt, voterlist.FromRegister(people, electionDay), http.StatusCreated)
	// The list official registers the Istanbul station and its official on
	// the board (station-bishkek-1 stays configured but unregistered).
	e.register("list-official-1", []string{"station-istanbul"}, []string{"poll-official-1"}, http.StatusCreated)
	// Registered last, so it runs first at cleanup, while the store is open.
	t.Cleanup(e.checkNoLeaks)
	return e
}

// do sends a JSON request to h as client (an IP address) and decodes the
// JSON answer.
func do(t testing.TB, h http.Handler, method, path, client string, body any, header map[string]string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = client + ":40000"
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var out map[string]any
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %q", method, path, w.Body.String())
		}
	}
	return w.Code, out, w.Header()
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (e *env) start(client string, p *registry.SimPerson, mod func(map[string]string)) (int, map[string]any, http.Header) {
	req := map[string]string{"pin": p.PIN.Digits(), "document_number": p.DocumentNumber, "birth_date": p.BirthDate.Format(time.DateOnly)}
	if mod != nil {
		mod(req)
	}
	return do(e.t, e.api, "POST", "/v1/auth/start", client, req, nil)
}

var codeRe = regexp.MustCompile(`code is (\d{6})\.`)

// lastCode returns the code in the last code SMS sent to phone.
func (e *env) lastCode(phone string) string {
	e.t.Helper()
	msgs := e.sms.Messages(phone)
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := codeRe.FindStringSubmatch(msgs[i].Text); m != nil {
			return m[1]
		}
	}
	e.t.Fatalf("no code sent to the phone on record")
	return ""
}

func newDevice(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func devicePub(k ed25519.PrivateKey) string {
	return base64.RawURLEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}

func (e *env) verify(client, challenge, code string, device ed25519.PrivateKey) (int, map[string]any) {
	st, body, _ := do(e.t, e.api, "POST", "/v1/auth/verify", client, map[string]string{"challenge_id": challenge, "code": code, "device_key": devicePub(device)}, nil)
	return st, body
}

// signIn runs both factors for p from client and returns the token.
func (e *env) signIn(client string, p *registry.SimPerson, device ed25519.PrivateKey) (string, map[string]any) {
	e.t.Helper()
	st, body, _ := e.start(client, p, nil)
	if st != http.StatusOK {
		e.t.Fatalf("start: %d %v", st, body)
	}
	st, body = e.verify(client, body["challenge_id"].(string), e.lastCode(p.Phone), device)
	if st != http.StatusOK {
		e.t.Fatalf("verify: %d %v", st, body)
	}
	return body["token"].(string), body
}

// ballotBox is a minimal stand-in for the voting endpoint: it accepts a
// ballot only under a voting token that idp/token verifies (with the key set
// fetched from the identity service's /v1/keys), and only if the ballot is
// signed by the device key the token binds. The real ballot box will do the
// same checks.
func (e *env) ballotBox() http.Handler {
	st, keysDoc, _ := do(e.t, e.api, "GET", "/v1/keys", "127.0.0.1", nil, nil)
	if st != 200 {
		e.t.Fatalf("GET /v1/keys: %d", st)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, k := range keysDoc["keys"].([]any) {
		m := k.(map[string]any)
		x, err := base64.RawURLEncoding.DecodeString(m["x"].(string))
		if err != nil || m["kty"] != "OKP" || m["crv"] != "Ed25519" {
			e.t.Fatalf("bad JWK %v", m)
		}
		keys[m["kid"].(string)] = x
	}
	ver, err := token.NewVerifier(token.VerifierConfig{Keys: keys, Issuer: keysDoc["issuer"].(string), Audience: "evote-ballot-box", ElectionID: electionID, Now: e.clock.now})
	if err != nil {
		e.t.Fatal(err)
	}
	r := gin.New()
	r.POST("/v1/ballots", func(c *gin.Context) {
		tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok {
			c.JSON(401, gin.H{"error": gin.H{"code": "no_token"}})
			return
		}
		claims, err := ver.Verify(tok)
		if err != nil {
			c.JSON(401, gin.H{"error": gin.H{"code": "invalid_token"}})
			return
		}
		var b struct{ Ballot, Signature string }
		if c.BindJSON(&b) != nil {
			return
		}
		ballot, err1 := base64.RawURLEncoding.DecodeString(b.Ballot)
		sg, err2 := base64.RawURLEncoding.DecodeString(b.Signature)
		if err1 != nil || err2 != nil || sig.Verify(claims.DeviceKey, ballot, sg) != nil {
			c.JSON(401, gin.H{"error": gin.H{"code": "bad_ballot_signature"}})
			return
		}
		c.JSON(202, gin.H{"pseudonym": claims.PseudonymHex(), "ballot_style": claims.BallotStyle})
	})
	return r
}

func (e *env) cast(tok string, device ed25519.PrivateKey) (int, map[string]any) {
	ballot := []byte("encrypted ballot bytes")
	body := map[string]string{"Ballot": base64.RawURLEncoding.EncodeToString(ballot), "Signature": base64.RawURLEncoding.EncodeToString(ed25519.Sign(device, ballot))}
	st, out, _ := do(e.t, e.box, "POST", "/v1/ballots", "198.51.100.1", body, map[string]string{"Authorization": "Bearer " + tok})
	return st, out
}

// listChange signs and submits a voter-list change as official.
func (e *env) listChange(official string, kind uint8, items []voterlist.Item, want int) map[string]any {
	e.t.Helper()
	_, next, _ := do(e.t, e.api, "GET", "/v1/officials/list-changes/next", "192.0.2.10", nil, nil)
	var salt [32]byte
	rand.Read(salt[:])
	st := record.VoterListChange{ElectionID: electionID, ContextHash: contextHash, Sequence: uint64(next["sequence"].(float64)), Kind: kind,
		OfficialID: official, DetailsDigest: voterlist.DetailsDigest(salt, items), ChangedAt: uint64(e.clock.now().Unix())}
	copy(st.OfficialKey[:], e.keys[official].Public().(ed25519.PublicKey))
	st.Sign(e.keys[official])
	var wire []map[string]string
	names := map[voterlist.Op]string{voterlist.OpAdd: "add", voterlist.OpRemove: "remove", voterlist.OpPhone: "phone"}
	for _, it := range items {
		wire = append(wire, map[string]string{"op": names[it.Op], "pin": it.PIN.Digits(), "ballot_style": it.BallotStyle, "phone": it.Phone})
	}
	body := struct {
		Statement string              `json:"statement"`
		Salt      string              `json:"salt"`
		Items     []map[string]string `json:"items"`
	}{base64.RawURLEncoding.EncodeToString(st.Encode()), base64.RawURLEncoding.EncodeToString(salt[:]), wire}
	code, out, _ := do(e.t, e.api, "POST", "/v1/officials/list-changes", "192.0.2.10", body, nil)
	if code != want {
		e.t.Fatalf("list change: %d %v, want %d", code, out, want)
	}
	return out
}

// register signs and submits, as the list official, a registration of the
// named stations and polling officials with their keys.
func (e *env) register(official string, stations, officials []string, want int) map[string]any {
	e.t.Helper()
	r := &record.PollingRegistration{ElectionID: electionID, ContextHash: contextHash, OfficialID: official, RegisteredAt: uint64(e.clock.now().Unix())}
	copy(r.OfficialKey[:], e.keys[official].Public().(ed25519.PublicKey))
	for _, l := range []struct {
		ids []string
		dst *[]record.PollingKey
	}{{stations, &r.Stations}, {officials, &r.Officials}} {
		for _, id := range l.ids {
			k := record.PollingKey{ID: id}
			copy(k.Key[:], e.keys[id].Public().(ed25519.PublicKey))
			*l.dst = append(*l.dst, k)
		}
	}
	r.Sign(e.keys[official])
	code, out, _ := do(e.t, e.api, "POST", "/v1/officials/registrations", "192.0.2.10", map[string]string{"registration": b64.EncodeToString(r.Encode())}, nil)
	if code != want {
		e.t.Fatalf("registration: %d %v, want %d", code, out, want)
	}
	return out
}

// person returns the i-th synthetic person with the given reason (nil for
// eligible).
func (e *env) person(reason error, i int) *registry.SimPerson {
	for _, p := range e.sim.People() {
		if p.Reason == reason {
			if i == 0 {
				return p
			}
			i--
		}
	}
	e.t.Fatalf("no person %d with reason %v", i, reason)
	return nil
}
