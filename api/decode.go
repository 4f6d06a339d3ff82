package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// decode reads a JSON body of at most limit bytes into v: the content type
// must be JSON, unknown fields, wrong types, duplicate documents and
// trailing data are refused. It answers the error itself and returns false.
func decode(c *gin.Context, limit int64, v any) bool {
	body, ok := readBody(c, limit)
	return ok && decodeJSON(c, body, v)
}

// readBody reads a body of at most limit bytes whose content type, if
// given, is JSON. It answers the error itself and returns false.
func readBody(c *gin.Context, limit int64) ([]byte, bool) {
	if !jsonContentType(c) {
		return nil, false
	}
	// Sized from Content-Length (bounded by the limit), so a ballot's few
	// kilobytes are read without regrowing the buffer.
	size := int64(512)
	if n := c.Request.ContentLength; n > 0 {
		size = min(n, limit) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body exceeds %d bytes", limit))
			return nil, false
		}
		fail(c, http.StatusBadRequest, "bad_json", "the body could not be read")
		return nil, false
	}
	return buf.Bytes(), true
}

// jsonContentType checks that the content type, if given, is JSON; it
// answers the error itself and returns false.
func jsonContentType(c *gin.Context) bool {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			fail(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
			return false
		}
	}
	return true
}

// decodeJSON decodes body into v as decode does. A body that is not
// valid UTF-8, or a string in it holding a NUL byte, is refused 400
// bad_request (hygiene.go).
func decodeJSON(c *gin.Context, body []byte, v any) bool {
	if !utf8.Valid(body) {
		json.Unmarshal(body, v) // best effort, for the operations log
		refuseText(c, "the body is not valid UTF-8", "the body is not valid UTF-8")
		return false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		fail(c, http.StatusBadRequest, "bad_json", "the body is not the expected JSON: "+err.Error())
		return false
	}
	if _, err := d.Token(); err != io.EOF {
		fail(c, http.StatusBadRequest, "bad_json", "trailing data after the JSON body")
		return false
	}
	return checkStrings(c, v)
}

// binaryBody reads a JSON body of one required base64url field, such as
// {"entry": …}, decoding it into a T as decode does, and returns the
// field's bytes. A body that is exactly {"<name>":"<base64url text>"}, as
// clients send it, is taken apart without the JSON decoder: text made of
// base64url characters has no escapes, so the result is the same, and a
// ballot's few kilobytes of base64 are not scanned twice.
func binaryBody[T any](c *gin.Context, limit int64, name string, field func(*T) string) ([]byte, bool) {
	body, ok := readBody(c, limit)
	if !ok {
		return nil, false
	}
	s, ok := simpleField(body, name)
	if !ok {
		var req T
		if !decodeJSON(c, body, &req) {
			return nil, false
		}
		s = field(&req)
	}
	return binary(c, name, s)
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

// binary decodes a required base64url (no padding) field.
func binary(c *gin.Context, field, s string) ([]byte, bool) {
	if s == "" {
		fail(c, http.StatusBadRequest, "bad_request", field+" is required")
		return nil, false
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		fail(c, http.StatusBadRequest, "bad_base64", field+" is not base64url without padding")
		return nil, false
	}
	return b, true
}
