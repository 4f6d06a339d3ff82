package api

import (
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"evote/internal/httpedge"
)

// Input hygiene (spec/10-api.md §10.7). Text that reaches a store must be
// valid UTF-8 without NUL bytes: PostgreSQL's text holds neither (it
// answered 500 where SQLite answered 401 or 404), and a name that differs
// from another only by an invalid byte deceives whoever reads the log. So
// every path and query is checked here first, and every JSON string by
// httpedge.Decode, with one answer on both stores, 400 bad_request; an
// attempt on an officials' route is written to the operations log, its
// text escaped.

// hygiene refuses a path or query with a NUL byte or invalid UTF-8
// before the route's handler runs; on an officials' route it writes the
// attempt to the operations log.
func (s *Server) hygiene(groups map[string]string) gin.HandlerFunc {
	return func(c *gin.Context) {
		path, query := c.Request.URL.Path, c.Request.URL.RawQuery
		ok := httpedge.CleanText(path)
		if ok && query != "" {
			vals, err := url.ParseQuery(query)
			ok = err == nil
			for k, vs := range vals {
				ok = ok && httpedge.CleanText(k)
				for _, v := range vs {
					ok = ok && httpedge.CleanText(v)
				}
			}
		}
		if ok {
			c.Next()
			return
		}
		httpedge.RefuseText(c, "the path or query holds a NUL byte or invalid UTF-8", c.Request.Method+" "+path+"?"+query)
		if groups[c.Request.Method+" "+c.FullPath()] == "official" {
			s.recordBadInput(c, "")
		}
	}
}

// recordBadInput writes a refused input on an officials' route to the
// operations log: under the session's user if the request carries a valid
// one, else under claimed (a login's user name) within the address's
// login budget.
func (s *Server) recordBadInput(c *gin.Context, claimed string) {
	detail, _ := httpedge.BadInput(c)
	ctx := c.Request.Context()
	action := strings.TrimPrefix(c.FullPath(), "/api/v1")
	if sess, err := s.Officials.Authenticate(ctx, httpedge.Bearer(c)); err == nil {
		s.Officials.Record(ctx, sess.User, "bad-input "+action, c.Param("id"), "bad_request", detail)
		return
	}
	s.Officials.RecordRefused(ctx, c.ClientIP(), claimed, "bad-input "+action, c.Param("id"), "bad_request", detail)
}
