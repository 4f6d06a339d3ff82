package api

import (
	"github.com/gin-gonic/gin"

	"evote/internal/httpedge"
)

// Request decoding is internal/httpedge's (strict JSON under a limit,
// input hygiene); what is the API's own is the fast path for a body of
// one base64url field.

// binaryBody reads a JSON body of one required base64url field, such as
// {"entry": …}, decoding it into a T as decode does, and returns the
// field's bytes. A body that is exactly {"<name>":"<base64url text>"}, as
// clients send it, is taken apart without the JSON decoder: text made of
// base64url characters has no escapes, so the result is the same, and a
// ballot's few kilobytes of base64 are not scanned twice.
func binaryBody[T any](c *gin.Context, limit int64, name string, field func(*T) string) ([]byte, bool) {
	body, ok := httpedge.ReadBody(c, limit)
	if !ok {
		return nil, false
	}
	s, ok := simpleField(body, name)
	if !ok {
		var req T
		if !httpedge.DecodeJSON(c, body, &req) {
			return nil, false
		}
		s = field(&req)
	}
	return httpedge.Binary(c, name, s)
}

// simpleField returns the text of a body that is exactly
// {"<name>":"<text>"} with text made of base64url characters only.
func simpleField(body []byte, name string) (string, bool) {
	pre := len(name) + 5 // {"name":"
	if len(body) < pre+2 || string(body[:2]) != `{"` || string(body[2:2+len(name)]) != name ||
		string(body[2+len(name):pre]) != `":"` || string(body[len(body)-2:]) != `"}` {
		return "", false
	}
	text := body[pre : len(body)-2]
	for _, ch := range text {
		if !('A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_') {
			return "", false
		}
	}
	return string(text), true
}
