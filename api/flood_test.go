package api_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"evote/api"
	"evote/bulletin"
	"evote/internal/loadtest"
	"evote/official"
)

// The targets of issue 16 under a flood: the box's resident memory, and
// public reads answered meanwhile, every one with 200. Their latency is
// logged, not asserted: on a shared machine it measures the load as much
// as the server (117–124 ms p99 were seen at load 18–25), and the project
// has no timed tests.
const (
	maxFloodRSS     = 500 << 20
	floodReadGap    = 10 * time.Millisecond
	floodRSSSamples = 5 * time.Millisecond
)

// floodResult is what a flood test reports and asserts on.
type floodResult struct {
	base, peak uint64
	reads      loadtest.Latencies
	statuses   map[int]int
}

func (r floodResult) String() string {
	return fmt.Sprintf("RSS %s at start, peak %s; %v; answers %v", loadtest.MiB(r.base), loadtest.MiB(r.peak), r.reads, r.statuses)
}

func (r floodResult) check(t *testing.T) {
	t.Helper()
	t.Log(r)
	if r.peak > maxFloodRSS {
		t.Errorf("peak RSS %s, want under %s", loadtest.MiB(r.peak), loadtest.MiB(maxFloodRSS))
	}
	if r.reads.N == 0 || r.reads.Failed > 0 {
		t.Errorf("public reads during the flood: %v, want all answered with 200", r.reads)
	}
}

// flood has a child process run plan against the server while a reader
// GETs readURL; it returns the peak resident size of this process (the
// server's), the read latencies and the answers' statuses.
func flood(t *testing.T, readURL string, plan loadtest.Plan) floodResult {
	t.Helper()
	s, err := loadtest.Start(floodRSSSamples)
	if err != nil {
		t.Skip(err) // no /proc: not Linux
	}
	rd := loadtest.StartReader(readURL, floodReadGap)
	statuses, err := loadtest.Spawn(plan)
	reads := rd.Stop()
	peak := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return floodResult{base: s.Base, peak: peak, reads: reads, statuses: statuses}
}

// TestMain runs the flood of a child process (loadtest.Spawn), or the
// tests.
func TestMain(m *testing.M) {
	if p, ok := loadtest.ChildPlan(); ok {
		p.Run(floodRequests(p))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// floodRequests makes the requests of a plan's kind.
func floodRequests(p *loadtest.Plan) func(worker int) *http.Request {
	switch p.Kind {
	case "login":
		return func(w int) *http.Request {
			user := "admin"
			if w%2 == 1 {
				user = "ghost-" + randomDigits(6)
			}
			body, _ := json.Marshal(map[string]string{"user": user, "password": "not the password " + randomDigits(4), "totp": randomDigits(6)})
			req, _ := http.NewRequest("POST", p.URL, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			var a [3]byte
			rand.Read(a[:])
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", a[0], a[1], a[2]))
			return req
		}
	case "trustee-entry":
		log, _ := hex.DecodeString(p.Params["log"])
		author, _ := hex.DecodeString(p.Params["author"])
		typ, _ := strconv.Atoi(p.Params["type"])
		n, _ := strconv.Atoi(p.Params["payload"])
		return func(int) *http.Request {
			body, size := entryBody(bulletin.LogID(log), bulletin.Type(typ), [32]byte(author), n)
			req, _ := http.NewRequest("POST", p.URL, body)
			req.ContentLength = size
			req.Header.Set("Content-Type", "application/json")
			return req
		}
	}
	panic("unknown flood " + p.Kind)
}

func randomDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		b[i] = '0' + byte(d.Int64())
	}
	return string(b)
}

// TestLoginFlood (issue 16, finding 1): strangers flood POST
// /officials/login (unknown users and a real one, wrong passwords and
// codes) with the production password hashing cost (64 MiB). Before the
// fix every attempt hashed, with no bound: 16 concurrent attempts took the
// process over 1 GiB and public reads to hundreds of milliseconds. The box
// must stay under 500 MB and answer every public read meanwhile, and the
// real official must still sign in afterwards. (The reads' latency is
// logged: 100 ms at p99 was the target on a quiet machine.)
func TestLoginFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test")
	}
	// The server sits behind a proxy on loopback that it trusts: each
	// attempt comes from its own address (X-Forwarded-For), as from a
	// botnet, so that the per-address budgets do not simply stop them all.
	e := newEnvWith(t, envOptions{argon2: official.DefaultArgon2, server: func(s *api.Server) { s.TrustedProxies = []string{"127.0.0.1"} }})
	read := e.srv.URL + "/api/v1/elections/" + e.f.ElectionID + "/checkpoint"
	r := flood(t, read, loadtest.Plan{Kind: "login", URL: e.srv.URL + "/api/v1/officials/login", Workers: 16, Count: 20000, Duration: 3 * time.Second})
	r.check(t)
	// The next step's code (the setup used the current one).
	code, _ := official.TOTPCode(e.secret, time.Now().Add(30*time.Second))
	st, out := e.do(t, "POST", "/officials/login", "", "application/json", jsonBody(map[string]string{"user": "admin", "password": adminPassword, "totp": code}))
	if st != http.StatusOK {
		t.Fatalf("the official's login after the flood: %d %v", st, out)
	}
	if n, _ := out["failed_logins"].(float64); n < 1 {
		t.Fatalf("the official is not told of the failed attempts: %v", out)
	}
}
