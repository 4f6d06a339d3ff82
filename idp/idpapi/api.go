// Package idpapi is the HTTP interface of the identity service
// (spec/08-identity.md §8.10): gin handlers for voters' two-factor sign-in,
// the public key set, and polling-station and list officials' signed
// requests. Every handler has the same shape: decode strictly under a body
// size limit, call idp.Service, answer through one response helper. Errors
// are JSON {"error":{"code":"...","message":"..."}} with stable codes.
package idpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"evote/idp"
	"evote/idp/token"
)

// Body size limits.
const (
	maxAuthBody     = 4 << 10  // sign-in requests are tiny
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
	r.Use(gin.CustomRecovery(func(c *gin.Context, _ any) {
		s.fail(c, http.StatusInternalServerError, "internal", "internal error", 0)
	}), noStore)
	r.NoRoute(func(c *gin.Context) { s.fail(c, http.StatusNotFound, "not_found", "no such endpoint", 0) })
	r.HandleMethodNotAllowed = true
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed", 0)
	})

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
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	return r, nil
}

// noStore keeps answers (codes, tokens) out of caches.
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Next()
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code              string `json:"code"`
	Message           string `json:"message"`
	RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
	AttemptsLeft      *int   `json:"attempts_left,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

func (s *Server) fail(c *gin.Context, status int, code, msg string, retry time.Duration) {
	d := errorDetail{Code: code, Message: msg}
	if retry > 0 {
		secs := int((retry + time.Second - 1) / time.Second)
		d.RetryAfterSeconds = secs
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	c.AbortWithStatusJSON(status, errorBody{d})
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
	case errors.Is(err, idp.ErrConflict):
		out = m{409, "conflict", err.Error()}
	default:
		s.log.Error("internal error", "err", err, "path", c.FullPath())
		out = m{500, "internal", "Internal error."}
	}
	d := errorDetail{Code: out.code, Message: out.msg}
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
		secs := int((retry + time.Second - 1) / time.Second)
		d.RetryAfterSeconds = secs
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	c.AbortWithStatusJSON(out.status, errorBody{d})
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

// decode reads a JSON body of at most limit bytes into v, refusing unknown
// fields and trailing data.
func (s *Server) decode(c *gin.Context, limit int64, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(c, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("The request body exceeds %d bytes.", limit), 0)
			return false
		}
		s.fail(c, http.StatusBadRequest, "invalid_input", "The request body could not be read.", 0)
		return false
	}
	if err := strictUnmarshal(body, v); err != nil {
		s.fail(c, http.StatusBadRequest, "invalid_input", "The request body is not the expected JSON.", 0)
		return false
	}
	return true
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytesReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	var extra json.RawMessage
	if err := d.Decode(&extra); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}
