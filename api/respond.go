package api

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
	"evote/official"
)

// ErrorBody is every error answer: {"error": {"code": …, "message": …}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail names the error with a stable code and a human message.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func fail(c *gin.Context, status int, code, msg string) {
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
}

func badRequest(c *gin.Context, format string, args ...any) {
	fail(c, http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...))
}

func notFound(c *gin.Context, format string, args ...any) {
	fail(c, http.StatusNotFound, "not_found", fmt.Sprintf(format, args...))
}

// internal answers 500 for a server fault and logs err with the request's
// method and route: a store or proof failure must leave a trace.
func internal(c *gin.Context, err error) {
	slog.Error("api: server fault", "method", c.Request.Method, "route", c.FullPath(), "path", c.Request.URL.Path, "err", err)
	fail(c, http.StatusInternalServerError, "internal", "internal error")
}

// immutable marks an answer that can never change (a full page of
// durable entries, a proof between fixed sizes).
func immutable(c *gin.Context, etag string) {
	c.Header("Cache-Control", "public, max-age=31536000, immutable")
	c.Header("ETag", `"`+etag+`"`)
}

// fresh marks an answer that changes as the log grows.
func fresh(c *gin.Context) { c.Header("Cache-Control", "no-cache") }

// notModified answers 304 when the client's ETag matches.
func notModified(c *gin.Context, etag string) bool {
	// A compressed answer carried the ETag weak (compressJSON).
	if inm := c.GetHeader("If-None-Match"); inm == `"`+etag+`"` || inm == `W/"`+etag+`"` {
		immutable(c, etag)
		c.Status(http.StatusNotModified)
		c.Abort()
		return true
	}
	return false
}

func hexLower(b []byte) string { return hex.EncodeToString(b) }

// parseHash32 accepts exactly 64 lowercase hex digits.
func parseHash32(s string) ([32]byte, bool) {
	var h [32]byte
	if len(s) != 64 {
		return h, false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return h, false
		}
	}
	hex.Decode(h[:], []byte(s))
	return h, true
}

// parseUint accepts a canonical decimal (no sign, no leading zero).
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 63)
	return v, err == nil
}

// respondErr answers a domain error with its stable code and status
// (ballotbox.Code, official errors); server faults are logged, not shown.
func respondErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, official.ErrLogin):
		fail(c, http.StatusUnauthorized, "login_failed", "wrong user, password or code")
		return
	case errors.Is(err, official.ErrRateLimited):
		retryAfter(c, official.RetryAfter(err))
		fail(c, http.StatusTooManyRequests, "rate_limited", "too many login attempts from this address; retry later")
		return
	case errors.Is(err, official.ErrBusy):
		retryAfter(c, official.RetryAfter(err))
		fail(c, http.StatusServiceUnavailable, "unavailable", "too many logins being checked; retry in a few seconds")
		return
	case errors.Is(err, official.ErrSession):
		fail(c, http.StatusUnauthorized, "session_invalid", "sign in again")
		return
	case errors.Is(err, official.ErrNotFound):
		fail(c, http.StatusNotFound, "not_found", "no such session")
		return
	case errors.Is(err, official.ErrForbidden):
		fail(c, http.StatusForbidden, "forbidden", "your role does not allow this")
		return
	case errors.Is(err, official.ErrExists):
		fail(c, http.StatusConflict, "account_exists", "account exists")
		return
	case errors.Is(err, official.ErrInvalid):
		fail(c, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	code, status := ballotbox.Code(err)
	if status >= 500 {
		slog.Error("api: server fault", "method", c.Request.Method, "route", c.FullPath(), "path", c.Request.URL.Path, "err", err)
		fail(c, status, code, http.StatusText(status))
		return
	}
	fail(c, status, code, err.Error())
}

// retryAfter sets the Retry-After header (RFC 9110 §10.2.3) in whole
// seconds, at least one.
func retryAfter(c *gin.Context, d time.Duration) {
	c.Header("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}

// created answers 201 (or 200 for a replayed request) with v.
func created(c *gin.Context, replayed bool, v any) {
	c.Header("Cache-Control", "no-store")
	if replayed {
		c.JSON(http.StatusOK, v)
		return
	}
	c.JSON(http.StatusCreated, v)
}

// b64 is the API's binary encoding: base64url without padding, strict.
var b64 = base64.RawURLEncoding.Strict()

func b64s(b []byte) string { return b64.EncodeToString(b) }
