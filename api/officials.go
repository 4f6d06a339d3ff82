package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
	"evote/internal/httpedge"
	"evote/official"
)

// official authenticates the session and checks the role may do op
// before h; it records refusals in the operations log.
func (s *Server) official(op string, h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, err := s.Officials.Authenticate(c.Request.Context(), httpedge.Bearer(c))
		if err != nil {
			respondErr(c, err)
			return
		}
		if !sess.Role.Allowed(op) {
			s.Officials.Record(c.Request.Context(), sess.User, c.FullPath(), c.Param("id"), "forbidden", "")
			respondErr(c, official.ErrForbidden)
			return
		}
		c.Set("session", sess)
		h(c)
		if detail, bad := httpedge.BadInput(c); bad {
			s.Officials.Record(c.Request.Context(), sess.User, "bad-input "+strings.TrimPrefix(c.FullPath(), "/api/v1"), c.Param("id"), "bad_request", detail)
		}
	}
}

func sessionOf(c *gin.Context) *official.Session { return c.MustGet("session").(*official.Session) }

// LoginRequest is POST /officials/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
	// Device is the device token an earlier login gave this client: an
	// attempt under it is not held to its address's budget (§10.5).
	Device string `json:"device,omitempty"`
}

// LoginResponse carries the session token, a new device token if the
// request had no valid one, and the notice of failed attempts on the
// account since the previous login.
type LoginResponse struct {
	Token        string `json:"token"`
	ExpiresAt    int64  `json:"expires_at"`
	Role         string `json:"role"`
	Device       string `json:"device,omitempty"`
	FailedLogins int    `json:"failed_logins"`
	LastFailedAt int64  `json:"last_failed_at,omitempty"`
}

func (s *Server) login(c *gin.Context) {
	var req LoginRequest
	if !httpedge.Decode(c, limitLogin, &req) {
		if _, bad := httpedge.BadInput(c); bad {
			s.recordBadInput(c, req.User)
		}
		return
	}
	if req.User == "" || req.Password == "" || req.TOTP == "" || len(req.User) > 64 || len(req.Password) > official.MaxPassword || len(req.TOTP) > 16 || len(req.Device) > 64 {
		httpedge.BadRequest(c, "user, password and totp are required")
		return
	}
	r, err := s.Officials.Login(c.Request.Context(), official.Attempt{Client: c.ClientIP(), Device: req.Device, User: req.User, Password: req.Password, Code: req.TOTP})
	if err != nil {
		respondErr(c, err)
		return
	}
	out := LoginResponse{Token: r.Token, ExpiresAt: r.Session.Expires.Unix(), Role: string(r.Session.Role), Device: r.Device, FailedLogins: r.Notice.Failed}
	if !r.Notice.Last.IsZero() {
		out.LastFailedAt = r.Notice.Last.Unix()
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (s *Server) logout(c *gin.Context) {
	if err := s.Officials.Logout(c.Request.Context(), httpedge.Bearer(c)); err != nil {
		respondErr(c, err)
		return
	}
	s.Officials.Record(c.Request.Context(), sessionOf(c).User, "logout", "", "ok", "")
	c.Status(http.StatusNoContent)
}

// SessionView is one session in GET /officials/sessions; the token is
// never shown again.
type SessionView struct {
	ID        string `json:"id"`
	User      string `json:"user"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt int64  `json:"expires_at"`
	Current   bool   `json:"current"`
}

func (s *Server) listSessions(c *gin.Context) {
	me := sessionOf(c)
	ss, err := s.Officials.Sessions(c.Request.Context(), me)
	if err != nil {
		respondErr(c, err)
		return
	}
	out := make([]SessionView, len(ss))
	for i, x := range ss {
		out[i] = SessionView{ID: x.ID, User: x.User, CreatedAt: x.Created.Unix(), ExpiresAt: x.Expires.Unix(), Current: x.ID == me.ID}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

func (s *Server) revokeSession(c *gin.Context) {
	if err := s.Officials.Revoke(c.Request.Context(), sessionOf(c), c.Param("sid")); err != nil {
		respondErr(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// AccountRequest is POST /officials/accounts.
type AccountRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

// AccountResponse shows the new account's TOTP secret once.
type AccountResponse struct {
	User       string `json:"user"`
	Role       string `json:"role"`
	TOTPSecret string `json:"totp_secret"`
	TOTPURI    string `json:"totp_uri"`
}

func (s *Server) createAccount(c *gin.Context) {
	var req AccountRequest
	if !httpedge.Decode(c, limitOfficial, &req) {
		return
	}
	acc, err := s.Officials.CreateAccount(c.Request.Context(), sessionOf(c).User, req.User, req.Password, official.Role(req.Role), "")
	if err != nil {
		respondErr(c, err)
		return
	}
	created(c, false, AccountResponse{User: acc.User, Role: string(acc.Role), TOTPSecret: acc.TOTPSecret, TOTPURI: acc.TOTPURI})
}

func (s *Server) operations(c *gin.Context) {
	limit := uint64(100)
	if v, ok := c.GetQuery("limit"); ok {
		if limit, ok = httpedge.ParseUint(v); !ok || limit == 0 || limit > 1000 {
			httpedge.BadRequest(c, "limit must be between 1 and 1000")
			return
		}
	}
	ops, err := s.Officials.Operations(c.Request.Context(), int(limit))
	if err != nil {
		respondErr(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"operations": ops})
}

// CreateElectionRequest is POST /elections.
type CreateElectionRequest struct {
	Manifest string `json:"manifest"`
}

func (s *Server) createElection(c *gin.Context) {
	var req CreateElectionRequest
	if !httpedge.Decode(c, limitOfficial, &req) {
		return
	}
	raw, ok := httpedge.Binary(c, "manifest", req.Manifest)
	if !ok {
		return
	}
	user := sessionOf(c).User
	b, err := s.Registry.Create(c.Request.Context(), raw)
	if err != nil {
		code := ballotbox.Code(err)
		s.Officials.Record(c.Request.Context(), user, "create-election", "", code, err.Error())
		respondErr(c, err)
		return
	}
	info := electionInfo(b)
	s.Officials.Record(c.Request.Context(), user, "create-election", info.ElectionID, "ok", "")
	created(c, false, info)
}

func (s *Server) act(c *gin.Context) {
	user := sessionOf(c).User
	action := c.Param("action")
	// The action is recorded before it runs, so nothing happens
	// unrecorded; the outcome follows.
	if err := s.Officials.Record(c.Request.Context(), user, "action:"+action, c.Param("id"), "requested", ""); err != nil {
		respondErr(c, err)
		return
	}
	p, err := boxOf(c).Act(c.Request.Context(), action, user)
	if err != nil {
		code := ballotbox.Code(err)
		s.Officials.Record(c.Request.Context(), user, "action:"+action, c.Param("id"), code, err.Error())
		respondErr(c, err)
		return
	}
	s.Officials.Record(c.Request.Context(), user, "action:"+action, c.Param("id"), "ok", "index "+itoa(p.Index))
	created(c, false, PostedView{Index: p.Index, EntryHash: b64s(p.EntryHash[:])})
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
