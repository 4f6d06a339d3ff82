package api

import (
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
	"evote/internal/httpedge"
	"evote/official"
)

// ErrorBody is every error answer: {"error": {"code": …, "message": …}}
// (httpedge.Body, shared with the identity service).
type ErrorBody = httpedge.Body

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

// respondErr answers a domain error with its stable code and status
// (ballotbox.Code, official errors); server faults are logged, not shown.
func respondErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, official.ErrLogin):
		httpedge.Fail(c, http.StatusUnauthorized, "login_failed", "wrong user, password or code")
		return
	case errors.Is(err, official.ErrRateLimited):
		httpedge.SetRetryAfter(c, official.RetryAfter(err))
		httpedge.Fail(c, http.StatusTooManyRequests, "rate_limited", "too many login attempts from this address; retry later")
		return
	case errors.Is(err, official.ErrBusy):
		httpedge.SetRetryAfter(c, official.RetryAfter(err))
		httpedge.Fail(c, http.StatusServiceUnavailable, "unavailable", "too many logins being checked; retry in a few seconds")
		return
	case errors.Is(err, official.ErrSession):
		httpedge.Fail(c, http.StatusUnauthorized, "session_invalid", "sign in again")
		return
	case errors.Is(err, official.ErrNotFound):
		httpedge.Fail(c, http.StatusNotFound, "not_found", "no such session")
		return
	case errors.Is(err, official.ErrForbidden):
		httpedge.Fail(c, http.StatusForbidden, "forbidden", "your role does not allow this")
		return
	case errors.Is(err, official.ErrExists):
		httpedge.Fail(c, http.StatusConflict, "account_exists", "account exists")
		return
	case errors.Is(err, official.ErrInvalid):
		httpedge.Fail(c, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	code := ballotbox.Code(err)
	status := codeStatus[code]
	if status == 0 || status >= 500 {
		httpedge.LogFault(c, err)
		status = max(status, http.StatusInternalServerError)
		httpedge.Fail(c, status, code, http.StatusText(status))
		return
	}
	httpedge.Fail(c, status, code, err.Error())
}

// codeStatus is the HTTP status of each of ballotbox's error codes
// (spec/10-api.md §10.8): the domain names what went wrong, the API
// chooses how HTTP says it.
var codeStatus = map[string]int{
	"unknown_election":     http.StatusNotFound,
	"election_exists":      http.StatusConflict,
	"token_expired":        http.StatusUnauthorized,
	"token_invalid":        http.StatusUnauthorized,
	"wrong_device_key":     http.StatusForbidden,
	"not_open":             http.StatusConflict,
	"no_credential":        http.StatusConflict,
	"duplicate_ciphertext": http.StatusConflict,
	"duplicate_ballot":     http.StatusConflict,
	"voted_in_person":      http.StatusConflict,
	"one_ballot_only":      http.StatusConflict,
	"revote_limit":         http.StatusConflict,
	"mark_invalid":         http.StatusUnprocessableEntity,
	"cast_in_progress":     http.StatusConflict,
	"ballot_invalid":       http.StatusUnprocessableEntity,
	"audit_invalid":        http.StatusUnprocessableEntity,
	"wrong_author":         http.StatusForbidden,
	"wrong_phase":          http.StatusConflict,
	"not_ready":            http.StatusConflict,
	"duplicate_entry":      http.StatusConflict,
	"identity_mismatch":    http.StatusUnprocessableEntity,
	"anchors_mismatch":     http.StatusUnprocessableEntity,
	"coercion_unsupported": http.StatusUnprocessableEntity,
	"unknown_action":       http.StatusNotFound,
	"not_found":            http.StatusNotFound,
	"too_many_audits":      http.StatusTooManyRequests,
	"too_many_refusals":    http.StatusTooManyRequests,
	"wrong_log":            http.StatusBadRequest,
	"too_large":            http.StatusRequestEntityTooLarge,
	"bad_signature":        http.StatusBadRequest,
	"bad_entry":            http.StatusBadRequest,
	"entry_invalid":        http.StatusUnprocessableEntity,
	"unavailable":          http.StatusServiceUnavailable,
	"internal":             http.StatusInternalServerError,
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

// b64s encodes b in the API's binary encoding, base64url without padding.
func b64s(b []byte) string { return httpedge.B64.EncodeToString(b) }
