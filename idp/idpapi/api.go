// Package idpapi is the HTTP interface of the identity service
// (spec/08-identity.md §8.10): gin handlers for voters' two-factor sign-in,
// the public key set, and polling-station and list officials' signed
// requests. Every handler has the same shape: decode strictly under a body
// size limit, call idp.Service, answer through one response helper. Errors
// are JSON {"error":{"code":"...","message":"..."}} with stable codes.
package idpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"evote/idp"
	"evote/idp/token"
	"evote/internal/httpedge"
)

// Body size limits.
const (
	maxAuthBody     = 4 << 10  // sign-in requests are tiny
	maxBoxBody      = 1 << 20  // a box credential request: up to 4,096 items
	maxOfficialBody = 64 << 10 // a mark, a lookup or a polling registration
	maxListBody     = 64 << 20 // a whole voter-list import
)

// Options configure the HTTP interface.
type Options struct {
	// TrustedProxies lists the reverse proxies whose X-Forwarded-For is
	// believed for the client address used in rate limits; none by default.
	TrustedProxies []string
	Logger         *slog.Logger
}

// Server serves the identity service's HTTP API.
type Server struct {
	svc    *idp.Service
	issuer *token.Issuer
	log    *slog.Logger
}

// New returns the gin engine with every route.
func New(svc *idp.Service, issuer *token.Issuer, opt Options) (*gin.Engine, error) {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Server{svc: svc, issuer: issuer, log: opt.Logger.With("component", "idpapi")}
	r := gin.New()
	if err := r.SetTrustedProxies(opt.TrustedProxies); err != nil {
		return nil, fmt.Errorf("idpapi: trusted proxies: %w", err)
	}
	r.Use(httpedge.Middleware(s.log), httpedge.Recovery(), noStore)
	r.NoRoute(func(c *gin.Context) { httpedge.NotFound(c, "no such endpoint") })
	r.HandleMethodNotAllowed = true
	r.NoMethod(httpedge.MethodNotAllowed)

	v1 := r.Group("/v1")
	v1.POST("/auth/start", s.start)
	v1.POST("/auth/resend", s.resend)
	v1.POST("/auth/verify", s.verify)
	v1.POST("/auth/totp/enroll", s.totpEnroll)
	v1.POST("/auth/totp/confirm", s.totpConfirm)
	v1.GET("/keys", s.keys)
	v1.POST("/officials/lookup", s.lookup)
	v1.POST("/officials/marks", s.mark)
	v1.POST("/officials/registrations", s.registration)
	v1.POST("/officials/list-changes", s.listChange)
	v1.GET("/officials/list-changes/next", s.nextSequence)
	v1.POST("/revote/box-credentials", s.boxCredentials)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	return r, nil
}

// noStore keeps answers (codes, tokens) out of caches.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Next()
}

// answerError maps a service error to its status, stable code and a message
// that helps a real voter without telling a stranger whether a PIN exists.
func (s *Server) answerError(c *gin.Context, err error) {
	retry := idp.RetryAfter(err)
	var de *idp.DetailError
	hasDetail := errors.As(err, &de)
	type m struct {
		status int
		code   string
		msg    string
	}
	var out m
	switch {
	case errors.Is(err, idp.ErrInvalidInput):
		out = m{400, "invalid_input", "The request is not well formed."}
		if hasDetail {
			out.msg = userMessage(de)
		}
	case errors.Is(err, idp.ErrNotConfirmed):
		out = m{401, "identity_not_confirmed", "We could not confirm your identity with these details. Check your PIN, document number and date of birth, and try again."}
	case errors.Is(err, idp.ErrIneligible):
		out = m{403, "not_eligible", "The population register does not allow you to vote in this election. Contact your consulate if you think this is wrong."}
	case errors.Is(err, idp.ErrNotOnList):
		out = m{403, "not_on_voter_list", "You are not on the voter list for online voting in this election. Contact your consulate."}
	case errors.Is(err, idp.ErrVotedInPerson):
		out = m{403, "voted_in_person", "You are recorded as having voted in person; you cannot vote online. If this is wrong, call the election commission."}
	case errors.Is(err, idp.ErrTryLater):
		out = m{429, "try_later", "Too many codes were sent for these details recently. Wait and try again."}
	case errors.Is(err, idp.ErrClientLocked):
		out = m{429, "client_locked", "Too many failed attempts from your connection. Wait and try again."}
	case errors.Is(err, idp.ErrRateLimited):
		out = m{429, "rate_limited", "Too many requests. Slow down."}
	case errors.Is(err, idp.ErrRegistryUnavailable):
		out = m{503, "registry_unavailable", "The population register is not answering. Nothing was lost; please try again shortly."}
	case errors.Is(err, idp.ErrSendFailed):
		out = m{503, "sms_unavailable", "We could not send the code. Please try again shortly."}
		if hasDetail && de.Reason == "no_phone" {
			out = m{422, "no_phone_on_record", "No phone number is on record for you. Contact your consulate."}
		}
	case errors.Is(err, idp.ErrUnknownChallenge):
		out = m{404, "unknown_challenge", "This sign-in attempt is not known. Start again."}
	case errors.Is(err, idp.ErrWrongCode):
		out = m{401, "wrong_code", "The code is wrong."}
	case errors.Is(err, idp.ErrCodeExpired):
		out = m{401, "code_expired", "The code has expired. Ask for a new one."}
	case errors.Is(err, idp.ErrCodeUsed):
		out = m{409, "code_used", "This code was already used. Start again."}
	case errors.Is(err, idp.ErrChallengeLocked):
		out = m{401, "challenge_locked", "Too many wrong codes. Start again."}
	case errors.Is(err, idp.ErrResendThrottled):
		out = m{429, "resend_throttled", "Wait before asking for another code."}
	case errors.Is(err, idp.ErrDeviceKeyBound):
		out = m{409, "device_key_bound", "This device key was already used. Generate a new one."}
	case errors.Is(err, idp.ErrBoardUnavailable):
		out = m{503, "board_unavailable", "The bulletin board is not answering. Please sign in again shortly."}
	case errors.Is(err, idp.ErrOfficial):
		out = m{403, "official_refused", "The official request was refused: " + err.Error()}
	case errors.Is(err, idp.ErrTOTPDisabled):
		out = m{404, "totp_disabled", "Authenticator apps are not enabled."}
	case errors.Is(err, idp.ErrVotingClosed):
		out = m{403, "voting_closed", "Voting is not open."}
	case errors.Is(err, idp.ErrNotADummy):
		out = m{422, "not_a_dummy", "The identifier is not a dummy identifier of that ballot style."}
	case errors.Is(err, idp.ErrBoxRequest):
		out = m{403, "box_request_refused", "The ballot box request was refused: " + err.Error()}
	case errors.Is(err, idp.ErrConflict):
		out = m{409, "conflict", err.Error()}
	default:
		httpedge.ServerError(c, err)
		return
	}
	d := httpedge.Detail{Code: out.code, Message: out.msg}
	if hasDetail {
		if errors.Is(err, idp.ErrWrongCode) {
			left := de.AttemptsLeft
			d.AttemptsLeft = &left
		}
		if errors.Is(err, idp.ErrIneligible) {
			d.Reason = de.Reason
		}
	}
	if retry > 0 {
		d.RetryAfterSeconds = httpedge.RetrySeconds(retry)
	}
	httpedge.FailDetail(c, out.status, d)
}

func userMessage(de *idp.DetailError) string {
	switch de.Reason {
	case "pin_format":
		return "The PIN is 14 digits: 1 or 2, your date of birth as DDMMYYYY, then 5 digits."
	case "document_format":
		return "The document number is 2 letters and 7 digits, e.g. ID1234567."
	case "birth_date_format":
		return "The date of birth is written YYYY-MM-DD."
	case "birth_date_pin":
		return "The date of birth does not match the one in your PIN."
	case "device_key":
		return "The device key is not a valid Ed25519 public key."
	case "method":
		return "The method is sms or totp."
	case "totp_no_resend":
		return "An authenticator-app sign-in has no code to resend; start again to get an SMS."
	case "unconfirmed_no_resend":
		return "This sign-in cannot be resent; start again to get a new code."
	}
	return "The request is not well formed."
}
