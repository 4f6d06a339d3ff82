package idpapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"evote/api"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
	"evote/client"
	"evote/election"
	"evote/idp"
	"evote/idp/idpstore"
	"evote/idp/registry"
	"evote/idp/registry/registrytest"
	"evote/idp/token"
	"evote/idp/voterlist"
	"evote/internal/cpustat"
	"evote/record"
	"evote/store"
	"evote/store/postgres"
	"evote/store/postgres/pgtest"
	"evote/store/sqlite"
)

// signInProfile, when set, receives the CPU profile of
// BenchmarkSignInScale's timed part (one file per store, suffixed).
var signInProfile = flag.String("signinprofile", "", "write a CPU profile of BenchmarkSignInScale's timed part to this file")

// signInVoters is how many simulated voters sign in concurrently.
const signInVoters = 256

// signInComponents are the parts of a sign-in BenchmarkSignInScale
// reports CPU for; a profile sample counts for the innermost function on
// its stack that one of them claims (cpustat.Attribute), in this order.
var signInComponents = []cpustat.Component{
	{Name: "register_sim", Label: "server=register"},
	{Name: "sms_sim", Label: "server=sms"},
	{Name: "register_lookup", Prefixes: []string{"evote/idp/registry."}},
	{Name: "code", Prefixes: []string{"evote/idp/otp."}},
	{Name: "token_sign", Prefixes: []string{"evote/idp/token."}},
	{Name: "idp_store", Prefixes: []string{"evote/idp/idpstore."}},
	{Name: "entry_sign", Label: "server=idp", Prefixes: []string{"evote/bulletin"}},
	{Name: "entry_post", Prefixes: []string{"evote/client."}},
	{Name: "idp_service", Prefixes: []string{"evote/idp."}},
	{Name: "box_rules", Label: "server=box", Prefixes: []string{"evote/ballotbox.", "evote/election."}},
	{Name: "box_log_store", Label: "server=box", Prefixes: []string{"evote/bulletin", "evote/store"}},
	{Name: "box_http", Label: "server=box", Prefixes: []string{"evote/api."}},
	// What no part above claims: each server's HTTP and JSON plumbing.
	{Name: "idp_http", Label: "server=idp", Prefixes: []string{""}, Fallback: true},
	{Name: "box_http", Label: "server=box", Prefixes: []string{""}, Fallback: true},
}

// signInServers attributes the profile by server (the goroutines of each
// are labelled): the identity service, the ballot box, and the simulated
// register and SMS gateway, which stand for systems of others.
var signInServers = []cpustat.Component{
	{Name: "idp", Label: "server=idp"},
	{Name: "box", Label: "server=box"},
	{Name: "register_sim", Label: "server=register"},
	{Name: "sms_sim", Label: "server=sms"},
}

// startLabelled starts an HTTP server whose goroutines (its accept loop,
// and the connections' and handlers' goroutines it starts, and theirs)
// carry the pprof label server=name.
func startLabelled(name string, h http.Handler) *httptest.Server {
	s := httptest.NewUnstartedServer(h)
	pprof.Do(context.Background(), pprof.Labels("server", name), func(context.Context) { s.Start() })
	return s
}

// BenchmarkSignInScale measures whole sign-ins at a peak: signInVoters
// concurrent voters, each a distinct person of a simulated population
// register from a distinct client address (X-Forwarded-For from a trusted
// proxy, as behind a load balancer), so that the budgets and backoffs of
// spec §8.11 apply as they would to real voters. A sign-in is: first
// factor (register lookup over HTTP, the PIN's budgets, a code texted to
// the simulated SMS gateway), the code read from the gateway, second
// factor with a fresh device key (code check, token signed, credential
// stored and its entry signed and posted over HTTP to the ballot box,
// which checks it against the election rules and appends it to its log).
// Both services share one store kind: SQLite files, or PostgreSQL (fresh
// schemas). The voters run in a child process (TestSignInLoadGenerator),
// so this process's CPU is the servers'. Reported: sign-ins/s, p50/p99 of
// a whole sign-in, CPU per sign-in of this process (srv_SM) and of the
// PostgreSQL backends serving it (pg_SM), and, from a CPU profile of the
// timed part, this process's CPU per sign-in by server (srv_idp_SM,
// srv_box_SM, and srv_runtime_SM for the garbage collector and what no
// server's goroutines ran; the simulated register's and SMS gateway's
// are the register_sim and sms_sim components) and by component
// (<component>_SM, signInComponents), all as ratios to a scalar
// multiplication measured in the same run. Run with e.g.
//
//	go test -run '^$' -bench BenchmarkSignInScale -benchtime 4000x ./idp/idpapi
func BenchmarkSignInScale(b *testing.B) {
	for _, sk := range []string{"sqlite", "postgres"} {
		b.Run(sk, func(b *testing.B) { benchSignInScale(b, sk) })
	}
}

func benchSignInScale(b *testing.B, kind string) {
	gin.SetMode(gin.ReleaseMode)
	ctx := context.Background()
	dir := b.TempDir()
	var boxStore store.Store
	var idStore *idpstore.Store
	var err error
	if kind == "sqlite" {
		if boxStore, err = sqlite.Open(ctx, filepath.Join(dir, "board.db")); err == nil {
			idStore, err = idpstore.Open(ctx, "sqlite", "file:"+filepath.Join(dir, "idp.db"))
		}
	} else {
		if boxStore, err = postgres.Open(ctx, pgtest.Schema(b)); err == nil {
			idStore, err = idpstore.Open(ctx, "pgx", pgtest.Schema(b))
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	defer boxStore.Close()
	defer idStore.Close()

	// The ballot box, its election through key generation, over HTTP.
	f, err := boxtest.New(ctx, boxtest.Options{ElectionID: "signin-bench", Dir: dir, Store: boxStore, Witnesses: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Registry.Close()
	if err := f.Keygen(ctx); err != nil {
		b.Fatal(err)
	}
	boxSrv := api.NewServer()
	boxSrv.Registry = f.Registry
	boxHTTP := startLabelled("box", boxSrv.Handler())
	defer boxHTTP.Close()
	view := f.Box.View()
	var styles []string
	for _, s := range view.Manifest.BallotStyles {
		styles = append(styles, s.ID)
	}

	// The population register (simulated, over HTTP) and the SMS gateway.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	perStyle := (b.N/len(styles)+1)*10/6 + 10 // 6 in 10 simulated people are eligible
	sim, err := registry.NewSimulated(registry.SimulatedConfig{Seed: "signin-bench", Constituencies: styles, PerConstituency: perStyle, ElectionDay: day})
	if err != nil {
		b.Fatal(err)
	}
	regSim := registrytest.New(sim)
	defer regSim.Close()
	regHTTP := startLabelled("register", regSim.Handler())
	defer regHTTP.Close()
	reg, err := registry.NewHTTP(registry.HTTPConfig{Endpoint: regHTTP.URL, ClientID: "KG/GOV/70000001/evote", AllowHTTP: true})
	if err != nil {
		b.Fatal(err)
	}
	inbox := &smsInbox{last: map[string]string{}}
	inboxHTTP := startLabelled("sms", inbox)
	defer inboxHTTP.Close()

	// The identity service, posting to the box over HTTP, behind a trusted
	// proxy (loopback) that names each voter's address.
	iss, err := token.NewIssuer(token.IssuerConfig{Issuer: boxtest.IssuerID, Audience: boxtest.Audience, TTL: 30 * time.Minute}, f.TokenKey)
	if err != nil {
		b.Fatal(err)
	}
	pk := func(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }
	auth := &voterlist.Authority{ElectionID: f.ElectionID, ContextHash: view.Context.ExtendedHash,
		List: map[string]ed25519.PublicKey{"list-official-1": pk(f.List)}}
	pkey := make([]byte, voterlist.PseudonymKeySize)
	rand.Read(pkey)
	warnings := &warnLines{}
	logger := slog.New(slog.NewJSONHandler(warnings, &slog.HandlerOptions{Level: slog.LevelInfo}))
	idBoard := &client.IdentityBoard{C: client.NewPooled(boxHTTP.URL, idp.PostConcurrency), ElectionID: f.ElectionID, Log: f.Box.Log().ID(), Key: f.Identity}
	svc, err := idp.New(ctx, idp.Config{ElectionID: f.ElectionID, ContextHash: view.Context.ExtendedHash, ElectionDay: day, PseudonymKey: pkey,
		Registry: reg, Sender: inbox, Store: idStore, Board: idBoard, Issuer: iss, Authority: auth, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(svc, iss, Options{Logger: logger, TrustedProxies: []string{"127.0.0.1"}})
	if err != nil {
		b.Fatal(err)
	}
	idHTTP := startLabelled("idp", h)
	defer idHTTP.Close()

	// The voter list from the register, then voting opens.
	var people []*registry.SimPerson
	var citizens []registry.Citizen
	for _, p := range sim.People() {
		if p.Reason == nil {
			people = append(people, p)
			citizens = append(citizens, p.Citizen)
		}
	}
	if len(people) < b.N {
		b.Fatalf("%d eligible people for %d sign-ins", len(people), b.N)
	}
	if err := submitList(ctx, client.New(idHTTP.URL), f, view.Context.ExtendedHash, voterlist.FromRegister(citizens, day)); err != nil {
		b.Fatal(err)
	}
	if _, err := f.Box.Act(ctx, ballotbox.ActionOpen, "official-1"); err != nil {
		b.Fatal(err)
	}

	// The voters' load, written for the child process.
	spec := signInSpec{IdpURL: idHTTP.URL, InboxURL: inboxHTTP.URL}
	for _, p := range people[:b.N] {
		spec.Voters = append(spec.Voters, signInVoter{PIN: p.PIN.Digits(), Document: p.DocumentNumber, BirthDate: p.BirthDate.Format(time.DateOnly), Phone: p.Phone})
	}
	load := filepath.Join(dir, "signin.json")
	raw, _ := json.Marshal(spec)
	if err := os.WriteFile(load, raw, 0o600); err != nil {
		b.Fatal(err)
	}
	size0 := f.Box.View().Size
	sm0 := cpustat.ScalarMult()
	var prof bytes.Buffer
	if err := pprof.StartCPUProfile(&prof); err != nil {
		b.Fatal(err)
	}
	pg0 := cpustat.PostgresBackends()
	b.ResetTimer()
	cpu0 := cpustat.Process()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignInLoadGenerator$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EVOTE_SIGNIN_LOAD="+load)
	out, err := cmd.CombinedOutput()
	cpu := cpustat.Process() - cpu0
	pg1 := cpustat.PostgresBackends()
	b.StopTimer()
	pprof.StopCPUProfile()
	if err != nil {
		b.Fatalf("load generator: %v\n%s", err, out)
	}
	var res signInResult
	if raw, err := os.ReadFile(load + ".out"); err != nil || json.Unmarshal(raw, &res) != nil {
		b.Fatalf("load generator's result: %v", err)
	}
	if res.Failures > 0 {
		b.Fatalf("%d of %d sign-ins failed, first: %s\nwarnings and errors logged:\n%s", res.Failures, b.N, res.First, warnings)
	}
	// Every credential is on the board, and the outbox is empty.
	if got := f.Box.View().Size - size0; got != uint64(b.N) {
		b.Fatalf("%d entries posted to the board during the run, want %d credentials", got, b.N)
	}
	if pending, err := idStore.Pending(ctx, 1); err != nil || len(pending) > 0 {
		b.Fatalf("outbox not empty after the run: %d, %v", len(pending), err)
	}
	if *signInProfile != "" {
		if err := os.WriteFile(*signInProfile+"."+kind, prof.Bytes(), 0o600); err != nil {
			b.Fatal(err)
		}
	}

	n := float64(b.N)
	sm := float64((sm0 + cpustat.ScalarMult()) / 2)
	lat := res.Latencies
	slices.Sort(lat)
	b.ReportMetric(n/res.Seconds, "signins/s")
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99_ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/n, "srv_cpu_ms/signin")
	b.ReportMetric(float64(cpu)/n/sm, "srv_SM/signin")
	if kind == "postgres" {
		if pg0 == nil || pg1 == nil {
			b.Log("PostgreSQL's backends not found in /proc: its CPU is not reported")
		} else {
			pg := cpustat.Since(pg0, pg1)
			b.ReportMetric(float64(pg.Microseconds())/1000/n, "pg_cpu_ms/signin")
			b.ReportMetric(float64(pg)/n/sm, "pg_SM/signin")
		}
	}
	b.ReportMetric(res.CPU*1000/n, "loadgen_cpu_ms/signin")
	byComp, err := cpustat.Attribute(prof.Bytes(), signInComponents, "runtime_other")
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for c := range byComp {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		b.ReportMetric(float64(byComp[c])/n/sm, c+"_SM/signin")
	}
	byServer, err := cpustat.Attribute(prof.Bytes(), signInServers, "runtime")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []string{"idp", "box", "runtime"} {
		b.ReportMetric(float64(byServer[c])/n/sm, "srv_"+c+"_SM/signin")
	}
	b.Logf("SM = %v; profile covers %v of %v CPU", time.Duration(sm), sumDurations(byComp), cpu)
}

func sumDurations(m map[string]time.Duration) time.Duration {
	var s time.Duration
	for _, d := range m {
		s += d
	}
	return s
}

// submitList posts the voter list, signed by the fixture's list official,
// through the identity service's API, which posts its entry to the board.
func submitList(ctx context.Context, idc *client.Client, f *boxtest.Fixture, ext [32]byte, items []voterlist.Item) error {
	seq, err := idc.NextListSequence(ctx)
	if err != nil {
		return err
	}
	var salt [32]byte
	rand.Read(salt[:])
	st := record.VoterListChange{ElectionID: f.ElectionID, ContextHash: ext, Sequence: seq, Kind: record.ListBuilt,
		OfficialID: "list-official-1", DetailsDigest: voterlist.DetailsDigest(salt, items), ChangedAt: uint64(time.Now().Unix())}
	copy(st.OfficialKey[:], f.List.Public().(ed25519.PublicKey))
	st.Sign(f.List)
	wire := make([]client.ListItem, len(items))
	for i, it := range items {
		wire[i] = client.ListItem{Op: "add", PIN: it.PIN.Digits(), BallotStyle: it.BallotStyle, Phone: it.Phone}
	}
	if err := idc.ChangeVoterList(ctx, st.Encode(), salt, wire); err != nil {
		return err
	}
	var listed bool
	f.Box.WithState(func(s *election.State) { listed = s.VoterListCommitment() != [32]byte{} })
	if !listed {
		return fmt.Errorf("the voter list is not on the board")
	}
	return nil
}

// warnLines keeps the lines of a JSON log at level WARN or ERROR (the
// service logs at INFO, as in production; the rest is dropped).
type warnLines struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnLines) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"level":"WARN"`)) || bytes.Contains(p, []byte(`"level":"ERROR"`)) {
		w.mu.Lock()
		if len(w.lines) < 20 {
			w.lines = append(w.lines, string(p))
		}
		w.mu.Unlock()
	}
	return len(p), nil
}

func (w *warnLines) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "")
}

// smsInbox is the simulated SMS gateway: it keeps the last text sent to
// each phone and serves it at GET /?phone=…, where the voters' process
// reads its code, as a voter reads their phone.
type smsInbox struct {
	mu   sync.Mutex
	last map[string]string
}

// Send implements otp.Sender.
func (s *smsInbox) Send(_ context.Context, phone, text string) error {
	s.mu.Lock()
	s.last[phone] = text
	s.mu.Unlock()
	return nil
}

func (s *smsInbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	text := s.last[r.URL.Query().Get("phone")]
	s.mu.Unlock()
	io.WriteString(w, text)
}

// signInSpec is what BenchmarkSignInScale hands its load generator.
type signInSpec struct {
	IdpURL, InboxURL string
	Voters           []signInVoter
}

type signInVoter struct {
	PIN, Document, BirthDate, Phone string
}

// signInResult is the load generator's answer: each sign-in's latency
// (ns), how many failed and the first failure, wall and CPU seconds.
type signInResult struct {
	Latencies []int64
	Failures  int
	First     string
	Seconds   float64
	CPU       float64
}

var codeInText = regexp.MustCompile(`code is (\d{6})\.`)

// TestSignInLoadGenerator is BenchmarkSignInScale's load generator, run
// in a child process (it does nothing unless EVOTE_SIGNIN_LOAD names a
// signInSpec file): signInVoters concurrent voters, each signing in once
// from an address of its own.
func TestSignInLoadGenerator(t *testing.T) {
	path := os.Getenv("EVOTE_SIGNIN_LOAD")
	if path == "" {
		t.Skip("BenchmarkSignInScale's load generator")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var spec signInSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	n := len(spec.Voters)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: signInVoters, MaxConnsPerHost: signInVoters}, Timeout: 2 * time.Minute}
	res := signInResult{Latencies: make([]int64, n)}
	var mu sync.Mutex
	fail := func(i int, what string) {
		mu.Lock()
		defer mu.Unlock()
		if res.Failures == 0 {
			res.First = fmt.Sprintf("voter %d: %s", i, what)
		}
		res.Failures++
	}
	post := func(url, addr string, body any, out any) (int, error) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", url, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", addr)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return resp.StatusCode, fmt.Errorf("%d %s", resp.StatusCode, rb)
		}
		return resp.StatusCode, json.Unmarshal(rb, out)
	}
	signIn := func(i int) error {
		v := spec.Voters[i]
		addr := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		var ch struct {
			ChallengeID string `json:"challenge_id"`
		}
		if _, err := post(spec.IdpURL+"/v1/auth/start", addr, map[string]string{"pin": v.PIN, "document_number": v.Document, "birth_date": v.BirthDate, "lang": "en"}, &ch); err != nil {
			return fmt.Errorf("start: %w", err)
		}
		resp, err := hc.Get(spec.InboxURL + "/?phone=" + url.QueryEscape(v.Phone))
		if err != nil {
			return err
		}
		text, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := codeInText.FindSubmatch(text)
		if m == nil {
			return fmt.Errorf("no code in the text %q", text)
		}
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		var tok struct {
			Token string `json:"token"`
		}
		if _, err := post(spec.IdpURL+"/v1/auth/verify", addr, map[string]string{"challenge_id": ch.ChallengeID, "code": string(m[1]), "device_key": base64.RawURLEncoding.EncodeToString(pub)}, &tok); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if tok.Token == "" {
			return fmt.Errorf("verify: no token")
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpustat.Process()
	start := time.Now()
	for range signInVoters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := signIn(i); err != nil {
					fail(i, err.Error())
				}
				res.Latencies[i] = int64(time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.CPU = (cpustat.Process() - cpu0).Seconds()
	out, _ := json.Marshal(res)
	if err := os.WriteFile(path+".out", out, 0o600); err != nil {
		t.Fatal(err)
	}
}
