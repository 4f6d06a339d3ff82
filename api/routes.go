// Package api is evote's HTTP interface (gin), spec/10-api.md. One route
// table (Routes) lists every route under /api/v1 with its audience group
// (public, board, voter, trustee, identity, official); every handler has the
// same shape: decode and validate the request (internal/httpedge, shared
// with the identity service), call the domain (package ballotbox or
// official), answer through one response helper (respond.go: respondErr
// maps the domain's stable error codes to HTTP statuses). Errors are JSON
// with stable codes; bad input never changes anything.
//
// Outside /api/v1 the server answers /healthz, /readyz and /metrics, and
// serves the web client's static files when Server.Web is set.
package api

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/internal/httpedge"
	"evote/official"
)

// Server holds the dependencies of every route group. The zero value with
// Registry and Officials set is ready to use.
type Server struct {
	// Registry hosts the elections (voter, trustee, identity, official and
	// public election routes); nil serves only the board.
	Registry *ballotbox.Registry
	// Officials authenticates officials; nil disables the official group.
	Officials *official.Service
	// Web, if set, serves every path outside /api/v1 and the operations
	// endpoints (the voting page's static files).
	Web http.Handler
	// Ready, if set, is an extra readiness check (e.g. the store answers).
	Ready func() error
	// TrustedProxies lists the reverse proxies (addresses or CIDR ranges)
	// whose X-Forwarded-For gives the client address that officials'
	// logins are budgeted by; none by default (the peer's address).
	TrustedProxies []string
	// ClientHash is the SHA-256 of the voting page's WebAssembly module
	// this server serves, put in manifests composed by POST
	// /elections/manifest (zero: none).
	ClientHash [32]byte
	// Identity, if set, is the identity service's base URL: the voter-list
	// routes (POST /elections/{id}/voters/prepare and …/submit) reach its
	// list-change routes for a signed-in official.
	Identity *url.URL

	mu      sync.RWMutex
	boards  map[string]*board.Log // extra logs served by the board group
	met     *Metrics
	metOnce sync.Once
}

// NewServer returns a Server serving the given logs on the board group.
func NewServer(logs ...*board.Log) *Server {
	s := &Server{boards: make(map[string]*board.Log)}
	for _, l := range logs {
		s.AddBoard(l)
	}
	return s
}

// AddBoard serves one more log on the board group.
func (s *Server) AddBoard(l *board.Log) {
	id := l.ID()
	s.mu.Lock()
	if s.boards == nil {
		s.boards = make(map[string]*board.Log)
	}
	s.boards[hexLower(id[:])] = l
	s.mu.Unlock()
}

// board returns the log with that hex id, from the extra logs or the
// registry's elections.
func (s *Server) board(id string) (*board.Log, bool) {
	s.mu.RLock()
	l, ok := s.boards[id]
	s.mu.RUnlock()
	if ok {
		return l, true
	}
	for _, l := range s.registryLogs() {
		lid := l.ID()
		if hexLower(lid[:]) == id {
			return l, true
		}
	}
	return nil, false
}

// allBoards returns every served log by hex id.
func (s *Server) allBoards() map[string]*board.Log {
	out := map[string]*board.Log{}
	s.mu.RLock()
	for k, v := range s.boards {
		out[k] = v
	}
	s.mu.RUnlock()
	for _, l := range s.registryLogs() {
		id := l.ID()
		out[hexLower(id[:])] = l
	}
	return out
}

func (s *Server) registryLogs() []*board.Log {
	if s.Registry == nil {
		return nil
	}
	var out []*board.Log
	for _, id := range s.Registry.IDs() {
		if b, err := s.Registry.Get(id); err == nil {
			out = append(out, b.Log())
		}
	}
	return out
}

// Route is one line of the route table.
type Route struct {
	Group   string // public, board, voter, trustee, identity, official
	Method  string
	Path    string // gin syntax, relative to /api/v1
	Handler gin.HandlerFunc
}

// Body size limits (spec/10-api.md §10.7).
const (
	limitBallot   = 256 << 10
	limitIdentity = 256 << 10
	limitOfficial = 1 << 20
	limitLogin    = 4 << 10
	// limitTrustee admits the largest trustee entry the board takes, a
	// mix of 256 MiB (about 1.2 million rows of one ciphertext with its
	// proof), base64url in its JSON body: 12 + ⌈4·(135 + 256 MiB)/3⌉
	// bytes, about 341.3 MiB. (It was 64 MiB: mixes of more than about
	// 220,000 rows were refused.) Only a trustee's entry is read past its
	// header (§10.3), two large ones at a time.
	limitTrustee = 12 + (4*(bulletin.HeaderSize+64+256<<20)+2)/3
)

// Routes is the route table: every endpoint under /api/v1.
func (s *Server) Routes() []Route {
	rs := []Route{
		{"board", "GET", "/board", s.listBoards},
		{"board", "GET", "/board/:log/checkpoint", s.withLog(s.getCheckpoint)},
		{"board", "GET", "/board/:log/checkpoint/note", s.withLog(s.getCheckpointNote)},
		{"board", "GET", "/board/:log/entries", s.withLog(s.listEntries)},
		{"board", "GET", "/board/:log/entries/:hash", s.withLog(s.getEntry)},
		{"board", "GET", "/board/:log/proof/inclusion", s.withLog(s.inclusionProof)},
		{"board", "GET", "/board/:log/proof/consistency", s.withLog(s.consistencyProof)},
		{"board", "GET", "/board/:log/ballots/:code", s.withLog(s.getBallot)},
		{"board", "GET", "/board/:log/stream", s.withLog(s.stream)},
	}
	if s.Registry == nil {
		return rs
	}
	rs = append(rs,
		Route{"public", "GET", "/elections", s.listElections},
		Route{"public", "GET", "/elections/:id", s.withBox(s.getElection)},
		Route{"public", "GET", "/elections/:id/setup", s.withBox(s.getSetup)},
		Route{"public", "GET", "/elections/:id/checkpoint", s.withBox(s.getElectionCheckpoint)},
		Route{"public", "GET", "/elections/:id/turnout", s.withBox(s.getTurnout)},
		Route{"public", "GET", "/elections/:id/voters/:pseudonym", s.withBox(s.getVoter)},
		Route{"voter", "POST", "/elections/:id/ballots", s.withBox(s.castBallot)},
		Route{"voter", "POST", "/elections/:id/revote/rows", s.withBox(s.castRow)},
		Route{"voter", "POST", "/elections/:id/revote/marks", s.withBox(s.castMark)},
		Route{"public", "GET", "/elections/:id/revote/rows/:hash", s.withBox(s.getRow)},
		Route{"public", "GET", "/elections/:id/audits/:code", s.withBox(s.getAudit)},
		Route{"voter", "POST", "/elections/:id/audits", s.withBox(s.postAudit)},
		Route{"trustee", "POST", "/elections/:id/trustee/entries", s.withBox(s.postTrusteeEntry)},
		Route{"identity", "POST", "/elections/:id/identity/entries", s.withBox(s.postIdentityEntry)},
	)
	if s.Officials != nil {
		rs = append(rs,
			Route{"official", "POST", "/officials/login", s.login},
			Route{"official", "POST", "/officials/logout", s.official("read", s.logout)},
			Route{"official", "GET", "/officials/sessions", s.official("read", s.listSessions)},
			Route{"official", "DELETE", "/officials/sessions/:sid", s.official("read", s.revokeSession)},
			Route{"official", "POST", "/officials/accounts", s.official("manage", s.createAccount)},
			Route{"official", "GET", "/officials/operations", s.official("read", s.operations)},
			Route{"official", "POST", "/elections/manifest", s.official("run", s.composeManifest)},
			Route{"official", "POST", "/elections", s.official("run", s.createElection)},
			Route{"official", "GET", "/elections/:id/status", s.official("read", s.withBox(s.getStatus))},
			Route{"official", "POST", "/elections/:id/voters/check", s.official("run", s.withBox(s.checkVoters))},
			Route{"official", "POST", "/elections/:id/voters/prepare", s.official("run", s.withBox(s.prepareVoterList))},
			Route{"official", "POST", "/elections/:id/voters/submit", s.official("run", s.withBox(s.submitVoterList))},
			Route{"official", "POST", "/elections/:id/actions/:action", s.official("run", s.withBox(s.act))},
		)
	}
	return rs
}

// Handler returns the HTTP handler with every route mounted.
func (s *Server) Handler() http.Handler {
	met := s.Metrics()
	r := gin.New()
	if err := r.SetTrustedProxies(s.TrustedProxies); err != nil {
		// Handler cannot fail: a bad list trusts no proxy (cmd/evoted
		// checks the list before it starts).
		slog.Error("api: trusted proxies", "err", err)
		r.SetTrustedProxies(nil)
	}
	r.Use(httpedge.Middleware(nil), httpedge.Recovery())
	r.Use(met.middleware)
	r.Use(apiHeaders, compressJSON)
	groups := map[string]string{}
	for _, rt := range s.Routes() {
		groups[rt.Method+" /api/v1"+rt.Path] = rt.Group
	}
	r.Use(s.hygiene(groups))
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) {
		if s.Web != nil && !strings.HasPrefix(c.Request.URL.Path, "/api/") {
			s.Web.ServeHTTP(c.Writer, c.Request)
			return
		}
		httpedge.Fail(c, http.StatusNotFound, "not_found", "no such route")
	})
	r.NoMethod(httpedge.MethodNotAllowed)
	v1 := r.Group("/api/v1")
	for _, rt := range s.Routes() {
		v1.Handle(rt.Method, rt.Path, rt.Handler)
	}
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", s.metricsHandler())
	return r
}
