// Package api is evote's HTTP interface (gin). One route table lists every
// group under /api/v1; each group lives in its own file and every handler
// has the same shape: parse and validate the request, call the domain
// package, answer through the helpers in respond.go. The answers are the
// documented JSON of spec/07-bulletin.md §7.9.
//
// For now only the public, read-only bulletin-board group exists
// (board.go); the voter, trustee and official groups are added to Groups
// by their owners.
package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"evote/bulletin"
)

// Server holds the dependencies of every route group.
type Server struct {
	// Boards are the election logs served by the board group, keyed by
	// their hex log id.
	Boards map[string]*bulletin.Log
}

// NewServer returns a Server serving the given logs.
func NewServer(logs ...*bulletin.Log) *Server {
	s := &Server{Boards: make(map[string]*bulletin.Log)}
	for _, l := range logs {
		s.AddBoard(l)
	}
	return s
}

// AddBoard serves one more election log.
func (s *Server) AddBoard(l *bulletin.Log) {
	id := l.ID()
	s.Boards[hexLower(id[:])] = l
}

// Group is one route group mounted under /api/v1.
type Group struct {
	Prefix   string
	Register func(*gin.RouterGroup)
}

// Groups is the route table. Append a group per audience:
// {"/voter", s.voterRoutes}, {"/trustee", …}, {"/official", …}.
func (s *Server) Groups() []Group {
	return []Group{
		{Prefix: "/board", Register: s.boardRoutes},
	}
}

// Handler returns the HTTP handler with every group mounted.
func (s *Server) Handler() http.Handler {
	r := gin.New()
	r.Use(gin.Recovery())
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "not_found", "no such route") })
	r.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed") })
	v1 := r.Group("/api/v1")
	for _, g := range s.Groups() {
		g.Register(v1.Group(g.Prefix))
	}
	return r
}
