// Package httpedge is the HTTP edge shared by evote's services, the API
// (package api, spec/10-api.md) and the identity service (package
// idp/idpapi, spec/08-identity.md §8.10): strict JSON decoding under a
// size limit, input hygiene, the error body and its vocabulary of codes,
// the server-error helper that logs, bearer and parameter parsing, and the
// request id. The services choose HTTP statuses here and in their own
// handlers; their domains (ballotbox, official, idp) answer sentinel
// errors that the handlers map to a status and a stable code.
//
// Every handler has the same shape: decode (Decode, or ReadBody then
// DecodeJSON), call the domain, answer through Fail or ServerError. A
// helper that answers an error aborts the request and returns false.
package httpedge

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// The edge's error codes: how a request is malformed, whatever the
// service. A domain's codes (ballot_invalid, wrong_code, …) are the
// services' own.
const (
	// CodeBadJSON: the body is not the expected JSON (malformed, an
	// unknown field, a wrong type, trailing data) or could not be read.
	CodeBadJSON = "bad_json"
	// CodeBadBase64: a binary field is not base64url without padding.
	CodeBadBase64 = "bad_base64"
	// CodeBadRequest: a value is not in the expected form (a parameter,
	// a field's content, text with a NUL byte or invalid UTF-8).
	CodeBadRequest = "bad_request"
	// CodeTooLarge: the body exceeds the route's limit (413).
	CodeTooLarge = "too_large"
	// CodeUnsupportedMediaType: the body's content type is not JSON (415).
	CodeUnsupportedMediaType = "unsupported_media_type"
	// CodeNotFound: no such route or resource (404).
	CodeNotFound = "not_found"
	// CodeMethodNotAllowed: the route does not take this method (405).
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeInternal: a server fault, logged, never detailed (500).
	CodeInternal = "internal"
)

// Body is every error answer: {"error": {"code": …, "message": …}}.
type Body struct {
	Error Detail `json:"error"`
}

// Detail names the error with a stable code and a human message; the
// identity service adds when to retry, the attempts left and a reason.
type Detail struct {
	Code              string `json:"code"`
	Message           string `json:"message"`
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
	AttemptsLeft      *int   `json:"attempts_left,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

// Fail answers status with the error code and message, uncached, and
// aborts the request.
func Fail(c *gin.Context, status int, code, msg string) {
	FailDetail(c, status, Detail{Code: code, Message: msg})
}

// FailDetail answers status with d, uncached, and aborts the request; a
// positive d.RetryAfterSeconds is also sent as Retry-After.
func FailDetail(c *gin.Context, status int, d Detail) {
	if d.RetryAfterSeconds > 0 {
		c.Header("Retry-After", strconv.Itoa(d.RetryAfterSeconds))
	}
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, Body{Error: d})
}

// BadRequest answers 400 bad_request with the formatted message.
func BadRequest(c *gin.Context, format string, args ...any) {
	Fail(c, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf(format, args...))
}

// NotFound answers 404 not_found with the formatted message.
func NotFound(c *gin.Context, format string, args ...any) {
	Fail(c, http.StatusNotFound, CodeNotFound, fmt.Sprintf(format, args...))
}

// MethodNotAllowed answers 405 method_not_allowed; for gin's NoMethod.
func MethodNotAllowed(c *gin.Context) {
	Fail(c, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "method not allowed")
}

// RetrySeconds is d in whole seconds, rounded up, at least one: the
// Retry-After header's unit (RFC 9110 §10.2.3).
func RetrySeconds(d time.Duration) int { return max(1, int((d+time.Second-1)/time.Second)) }

// SetRetryAfter sets the Retry-After header to d (RetrySeconds).
func SetRetryAfter(c *gin.Context, d time.Duration) {
	c.Header("Retry-After", strconv.Itoa(RetrySeconds(d)))
}

// Context keys set by Middleware.
const (
	requestIDKey = "httpedge.request_id"
	loggerKey    = "httpedge.logger"
	badInputKey  = "httpedge.bad_input"
)

// RequestIDHeader carries the request id, both ways.
const RequestIDHeader = "X-Request-Id"

// Middleware gives every request a request id and the service's logger:
// the id is the request's X-Request-Id if it is 1 to 64 characters of
// [A-Za-z0-9._-] (a reverse proxy's, so that both logs can be joined),
// else 16 random bytes in hex; it is sent back in X-Request-Id. Faults
// (ServerError) are logged to log, or if it is nil to slog.Default() at
// the time.
func Middleware(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(RequestIDHeader)
		if !validRequestID(id) {
			var b [16]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(requestIDKey, id)
		if log != nil {
			c.Set(loggerKey, log)
		}
		c.Header(RequestIDHeader, id)
		c.Next()
	}
}

// Recovery answers a panic 500 through ServerError (which logs its value
// and the request); mount it after Middleware.
func Recovery() gin.HandlerFunc {
	return gin.CustomRecovery(func(c *gin.Context, v any) {
		ServerError(c, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
	})
}

func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
			return false
		}
	}
	return true
}

// RequestID returns the request's id (Middleware), or "".
func RequestID(c *gin.Context) string { return c.GetString(requestIDKey) }

// ServerError answers 500 internal for a server fault and logs err with
// the request's method, route, path and id, so that a store or proof
// failure leaves a trace while the caller learns nothing of it.
func ServerError(c *gin.Context, err error) {
	LogFault(c, err)
	Fail(c, http.StatusInternalServerError, CodeInternal, "internal error")
}

// LogFault logs err as a server fault of the request, for a handler that
// answers a fault itself (a 503 with its own code).
func LogFault(c *gin.Context, err error) {
	log, _ := c.Value(loggerKey).(*slog.Logger)
	if log == nil {
		log = slog.Default()
	}
	log.Error("server fault", "method", c.Request.Method, "route", c.FullPath(), "path", c.Request.URL.Path,
		"request_id", RequestID(c), "err", err)
}
