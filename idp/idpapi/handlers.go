package idpapi

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"evote/idp"
	"evote/idp/registry"
	"evote/idp/voterlist"
	"evote/record"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

var b64 = base64.RawURLEncoding.Strict()

type startReq struct {
	PIN            string `json:"pin"`
	DocumentNumber string `json:"document_number"`
	BirthDate      string `json:"birth_date"`
	Method         string `json:"method,omitempty"` // "sms" (default) or "totp"
}

type challengeResp struct {
	ChallengeID        string    `json:"challenge_id"`
	ExpiresAt          time.Time `json:"expires_at"`
	PhoneHint          string    `json:"phone_hint,omitempty"`
	ResendAfterSeconds int       `json:"resend_after_seconds"`
	Method             string    `json:"method"`
	// Unconfirmed: the answer does not say whether the details matched; if
	// they did, a code is on its way (spec/08-identity.md §8.11).
	Unconfirmed bool `json:"unconfirmed,omitempty"`
}

func toChallenge(ch *idp.Challenge) challengeResp {
	return challengeResp{ch.ID, ch.ExpiresAt.UTC(), ch.PhoneHint, int((ch.ResendAfter + time.Second - 1) / time.Second), ch.Method, ch.Unconfirmed}
}

func (s *Server) start(c *gin.Context) {
	var r startReq
	if !s.decode(c, maxAuthBody, &r) {
		return
	}
	ch, err := s.svc.Start(c.Request.Context(), c.ClientIP(), idp.StartRequest{PIN: r.PIN, DocumentNumber: r.DocumentNumber, BirthDate: r.BirthDate, Method: r.Method})
	if err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusOK, toChallenge(ch))
}

type resendReq struct {
	ChallengeID string `json:"challenge_id"`
}

func (s *Server) resend(c *gin.Context) {
	var r resendReq
	if !s.decode(c, maxAuthBody, &r) {
		return
	}
	ch, err := s.svc.Resend(c.Request.Context(), c.ClientIP(), r.ChallengeID)
	if err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusOK, toChallenge(ch))
}

type verifyReq struct {
	ChallengeID string `json:"challenge_id"`
	Code        string `json:"code"`
	DeviceKey   string `json:"device_key"` // base64url, no padding, 32 bytes
}

type verifyResp struct {
	Token       string    `json:"token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	Pseudonym   string    `json:"pseudonym"`
	BallotStyle string    `json:"ballot_style"`
	KeyID       string    `json:"key_id"`
}

func (s *Server) verify(c *gin.Context) {
	var r verifyReq
	if !s.decode(c, maxAuthBody, &r) {
		return
	}
	dk, err := b64.DecodeString(r.DeviceKey)
	if err != nil || len(dk) != 32 {
		s.fail(c, http.StatusBadRequest, "invalid_input", "device_key must be a base64url Ed25519 public key (32 bytes).", 0)
		return
	}
	cred, err := s.svc.Verify(c.Request.Context(), c.ClientIP(), idp.VerifyRequest{ChallengeID: r.ChallengeID, Code: r.Code, DeviceKey: dk})
	if err != nil {
		s.answerError(c, err)
		return
	}
	cl := cred.Claims
	c.JSON(http.StatusOK, verifyResp{cred.Token, "Bearer", cl.ExpiresAt.UTC(), cl.PseudonymHex(), cl.BallotStyle, cl.KeyID})
}

type jwk struct {
	Kid string `json:"kid"`
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// keys serves the identity service's public key set as a JWK Set (RFC 7517
// §5) with the issuer and audience; the same keys are on the board.
func (s *Server) keys(c *gin.Context) {
	set := s.issuer.KeySet()
	out := make([]jwk, 0, len(set))
	for kid, k := range set {
		out = append(out, jwk{Kid: kid, Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k), Alg: "EdDSA", Use: "sig"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kid < out[j].Kid })
	c.Header("Cache-Control", "public, max-age=60")
	c.JSON(http.StatusOK, gin.H{"issuer": s.issuer.Issuer(), "audience": s.issuer.Audience(), "current": s.issuer.CurrentKeyID(), "keys": out})
}

type lookupReq struct {
	ElectionID  string `json:"election_id"`
	StationID   string `json:"station_id"`
	OfficialID  string `json:"official_id"`
	PIN         string `json:"pin"`
	At          uint64 `json:"at"`
	StationSig  string `json:"station_sig"`  // base64url, 64 bytes
	OfficialSig string `json:"official_sig"` // base64url, 64 bytes
}

func decodeSig(s string, out *[64]byte) bool {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != 64 {
		return false
	}
	copy(out[:], b)
	return true
}

func (s *Server) lookup(c *gin.Context) {
	var r lookupReq
	if !s.decode(c, maxOfficialBody, &r) {
		return
	}
	pin, err := registry.ParsePIN(r.PIN, time.Now())
	l := &voterlist.LookupRequest{ElectionID: r.ElectionID, StationID: r.StationID, OfficialID: r.OfficialID, PIN: pin, At: r.At}
	if err != nil || !decodeSig(r.StationSig, &l.StationSig) || !decodeSig(r.OfficialSig, &l.OfficialSig) {
		s.fail(c, http.StatusBadRequest, "invalid_input", "Malformed PIN or signature.", 0)
		return
	}
	st, err := s.svc.LookupVoter(c.Request.Context(), c.ClientIP(), l)
	if err != nil {
		s.answerError(c, err)
		return
	}
	resp := gin.H{"pseudonym": hex.EncodeToString(st.Pseudonym[:]), "ballot_style": st.BallotStyle, "credentials_issued": st.CredentialsIssued}
	if !st.MarkedAt.IsZero() {
		resp["marked_at"] = st.MarkedAt
	}
	c.JSON(http.StatusOK, resp)
}

type markReq struct {
	Mark string `json:"mark"` // base64url of the canonical InPersonMark encoding
}

func (s *Server) mark(c *gin.Context) {
	var r markReq
	if !s.decode(c, maxOfficialBody, &r) {
		return
	}
	raw, err := b64.DecodeString(r.Mark)
	var m *record.InPersonMark
	if err == nil {
		m, err = record.DecodeInPersonMark(raw)
	}
	if err != nil {
		s.fail(c, http.StatusBadRequest, "invalid_input", "mark must be the base64url canonical encoding of an InPersonMark.", 0)
		return
	}
	if err := s.svc.MarkInPerson(c.Request.Context(), c.ClientIP(), m); err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"pseudonym": hex.EncodeToString(m.Pseudonym[:]), "status": "marked"})
}

type registrationReq struct {
	Registration string `json:"registration"` // base64url of the canonical PollingRegistration encoding
}

func (s *Server) registration(c *gin.Context) {
	var r registrationReq
	if !s.decode(c, maxOfficialBody, &r) {
		return
	}
	raw, err := b64.DecodeString(r.Registration)
	var reg *record.PollingRegistration
	if err == nil {
		reg, err = record.DecodePollingRegistration(raw)
	}
	if err != nil {
		s.fail(c, http.StatusBadRequest, "invalid_input", "registration must be the base64url canonical encoding of a PollingRegistration.", 0)
		return
	}
	if err := s.svc.RegisterPolling(c.Request.Context(), c.ClientIP(), reg); err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"stations": len(reg.Stations), "officials": len(reg.Officials)})
}

type listItem struct {
	Op          string `json:"op"` // "add", "remove", "phone"
	PIN         string `json:"pin"`
	BallotStyle string `json:"ballot_style,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

type listChangeReq struct {
	Statement string     `json:"statement"` // base64url of a VoterListChange encoding (counts empty)
	Salt      string     `json:"salt"`      // base64url, 32 bytes
	Items     []listItem `json:"items"`
}

var opByName = map[string]voterlist.Op{"add": voterlist.OpAdd, "remove": voterlist.OpRemove, "phone": voterlist.OpPhone}

func (s *Server) listChange(c *gin.Context) {
	var r listChangeReq
	if !s.decode(c, maxListBody, &r) {
		return
	}
	raw, err := b64.DecodeString(r.Statement)
	var st *record.VoterListChange
	if err == nil {
		st, err = record.DecodeVoterListChange(raw)
	}
	salt, serr := b64.DecodeString(r.Salt)
	if err != nil || serr != nil || len(salt) != 32 {
		s.fail(c, http.StatusBadRequest, "invalid_input", "statement must be a canonical VoterListChange and salt 32 bytes, both base64url.", 0)
		return
	}
	req := &voterlist.ChangeRequest{Statement: *st}
	copy(req.Salt[:], salt)
	now := time.Now()
	for i, it := range r.Items {
		op, ok := opByName[it.Op]
		pin, perr := registry.ParsePIN(it.PIN, now)
		if !ok || perr != nil {
			s.fail(c, http.StatusBadRequest, "invalid_input", "item "+strconv.Itoa(i)+": unknown op or malformed PIN.", 0)
			return
		}
		req.Items = append(req.Items, voterlist.Item{Op: op, PIN: pin, BallotStyle: it.BallotStyle, Phone: it.Phone})
	}
	entry, err := s.svc.ChangeVoterList(c.Request.Context(), c.ClientIP(), req)
	if err != nil {
		s.answerError(c, err)
		return
	}
	counts := map[string]uint32{}
	for _, sc := range entry.Counts {
		counts[sc.BallotStyle] = sc.Voters
	}
	c.JSON(http.StatusCreated, gin.H{"sequence": entry.Sequence, "added": entry.Added, "removed": entry.Removed, "updated": entry.Updated, "counts": counts})
}

func (s *Server) nextSequence(c *gin.Context) {
	n, err := s.svc.NextListSequence(c.Request.Context())
	if err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"sequence": n})
}

func bearerToken(c *gin.Context) string {
	t, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	return t
}

// totpEnroll takes no body: the bearer token is the whole request.
func (s *Server) totpEnroll(c *gin.Context) {
	e, err := s.svc.EnrollTOTP(c.Request.Context(), c.ClientIP(), bearerToken(c))
	if err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"secret": base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(e.Secret), "uri": e.URI})
}

func (s *Server) totpConfirm(c *gin.Context) {
	var r struct {
		Code string `json:"code"`
	}
	if !s.decode(c, maxAuthBody, &r) {
		return
	}
	if err := s.svc.ConfirmTOTP(c.Request.Context(), c.ClientIP(), bearerToken(c), r.Code); err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "active"})
}
