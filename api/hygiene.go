package api

import (
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
)

// Input hygiene (spec/10-api.md §10.7). Text that reaches a store must be
// valid UTF-8 without NUL bytes: PostgreSQL's text holds neither (it
// answered 500 where SQLite answered 401 or 404), and a name that differs
// from another only by an invalid byte deceives whoever reads the log. So
// every path, query and JSON string is checked first, with one answer on
// both stores, 400 bad_request; an attempt on an officials' route is
// written to the operations log, its text escaped.

// badInputKey marks, on the request, why its input was refused.
const badInputKey = "evote.bad_input"

// cleanText reports whether s is valid UTF-8 without NUL bytes.
func cleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// refuseText answers 400 for unclean input and notes why on the request
// (detail, for the operations log, may name the value; msg, for the
// caller, does not).
func refuseText(c *gin.Context, msg, detail string) {
	c.Set(badInputKey, detail)
	badRequest(c, "%s", msg)
}

// badInput returns why the request's input was refused as unclean.
func badInput(c *gin.Context) (string, bool) {
	v, ok := c.Get(badInputKey)
	s, _ := v.(string)
	return s, ok
}

// hygiene refuses a path or query with a NUL byte or invalid UTF-8
// before the route's handler runs; on an officials' route it writes the
// attempt to the operations log.
func (s *Server) hygiene(groups map[string]string) gin.HandlerFunc {
	return func(c *gin.Context) {
		path, query := c.Request.URL.Path, c.Request.URL.RawQuery
		ok := cleanText(path)
		if ok && query != "" {
			vals, err := url.ParseQuery(query)
			ok = err == nil
			for k, vs := range vals {
				ok = ok && cleanText(k)
				for _, v := range vs {
					ok = ok && cleanText(v)
				}
			}
		}
		if ok {
			c.Next()
			return
		}
		refuseText(c, "the path or query holds a NUL byte or invalid UTF-8", c.Request.Method+" "+path+"?"+query)
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
	detail, _ := badInput(c)
	ctx := c.Request.Context()
	action := strings.TrimPrefix(c.FullPath(), "/api/v1")
	if sess, err := s.Officials.Authenticate(ctx, ballotbox.BearerToken(c.GetHeader("Authorization"))); err == nil {
		s.Officials.Record(ctx, sess.User, "bad-input "+action, c.Param("id"), "bad_request", detail)
		return
	}
	s.Officials.RecordRefused(ctx, c.ClientIP(), claimed, "bad-input "+action, c.Param("id"), "bad_request", detail)
}

// secretFields are JSON fields whose values never go to the log.
var secretFields = map[string]bool{"password": true, "totp": true, "device": true}

// uncleanString returns the JSON name and value of the first string in v
// (structs, pointers, slices, maps) holding a NUL byte or invalid UTF-8.
func uncleanString(v reflect.Value, name string) (string, string, bool) {
	switch v.Kind() {
	case reflect.String:
		if !cleanText(v.String()) {
			return name, v.String(), true
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return uncleanString(v.Elem(), name)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if n == "" {
				n = f.Name
			}
			if fn, fv, bad := uncleanString(v.Field(i), n); bad {
				return fn, fv, true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if fn, fv, bad := uncleanString(v.Index(i), name); bad {
				return fn, fv, true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if fn, fv, bad := uncleanString(it.Key(), name); bad {
				return fn, fv, true
			}
			if fn, fv, bad := uncleanString(it.Value(), name); bad {
				return fn, fv, true
			}
		}
	}
	return "", "", false
}

// checkStrings refuses a decoded body with an unclean string.
func checkStrings(c *gin.Context, v any) bool {
	name, val, bad := uncleanString(reflect.ValueOf(v), "body")
	if !bad {
		return true
	}
	detail := name + " holds a NUL byte or invalid UTF-8"
	if !secretFields[name] {
		detail += ": " + val
	}
	refuseText(c, name+" holds a NUL byte or invalid UTF-8", detail)
	return false
}
