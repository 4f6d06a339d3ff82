package idpapi

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"evote/idp"
	"evote/idp/registry"
	"evote/idp/voterlist"
	"evote/internal/httpedge"
	"evote/internal/memrelease"
	"evote/record"
)

var b64 = httpedge.B64

type startReq struct {
	PIN            string `json:"pin"`
	DocumentNumber string `json:"document_number"`
	BirthDate      string `json:"birth_date"`
	Method         string `json:"method,omitempty"` // "sms" (default) or "totp"
	Lang           string `json:"lang,omitempty"`   // texts' language: ky, ru, uz, en (default en)
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
	if !httpedge.Decode(c, maxAuthBody, &r) {
		return
	}
	ch, err := s.svc.Start(c.Request.Context(), c.ClientIP(), idp.StartRequest{PIN: r.PIN, DocumentNumber: r.DocumentNumber, BirthDate: r.BirthDate, Method: r.Method, Lang: r.Lang})
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
	if !httpedge.Decode(c, maxAuthBody, &r) {
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
	// In deniable re-voting mode (spec §15.16.1): the credential, the
	// identity service's signature of it, and s (base64url).
	RevoteCredential    string `json:"revote_credential,omitempty"`
	RevoteCredentialSig string `json:"revote_credential_sig,omitempty"`
	RevoteS             string `json:"revote_s,omitempty"`
}

func (s *Server) verify(c *gin.Context) {
	var r verifyReq
	if !httpedge.Decode(c, maxAuthBody, &r) {
		return
	}
	dk, err := b64.DecodeString(r.DeviceKey)
	if err != nil || len(dk) != 32 {
		httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "device_key must be a base64url Ed25519 public key (32 bytes).")
		return
	}
	cred, err := s.svc.Verify(c.Request.Context(), c.ClientIP(), idp.VerifyRequest{ChallengeID: r.ChallengeID, Code: r.Code, DeviceKey: dk})
	if err != nil {
		s.answerError(c, err)
		return
	}
	cl := cred.Claims
	out := verifyResp{Token: cred.Token, TokenType: "Bearer", ExpiresAt: cl.ExpiresAt.UTC(), Pseudonym: cl.PseudonymHex(), BallotStyle: cl.BallotStyle, KeyID: cl.KeyID}
	if rc := cred.Revote; rc != nil {
		out.RevoteCredential, out.RevoteCredentialSig, out.RevoteS = b64.EncodeToString(rc.Credential), b64.EncodeToString(rc.Signature[:]), b64.EncodeToString(rc.S.Bytes())
	}
	c.JSON(http.StatusOK, out)
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
	if !httpedge.Decode(c, maxOfficialBody, &r) {
		return
	}
	pin, err := registry.ParsePIN(r.PIN, time.Now())
	l := &voterlist.LookupRequest{ElectionID: r.ElectionID, StationID: r.StationID, OfficialID: r.OfficialID, PIN: pin, At: r.At}
	if err != nil || !decodeSig(r.StationSig, &l.StationSig) || !decodeSig(r.OfficialSig, &l.OfficialSig) {
		httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "Malformed PIN or signature.")
		return
	}
	st, err := s.svc.LookupVoter(c.Request.Context(), c.ClientIP(), l)
	if err != nil {
		s.answerError(c, err)
		return
	}
	resp := gin.H{"pseudonym": hex.EncodeToString(st.Pseudonym[:]), "ballot_style": st.BallotStyle}
	if st.CredentialsIssued >= 0 { // not told in deniable re-voting mode
		resp["credentials_issued"] = st.CredentialsIssued
	}
	if !st.MarkedAt.IsZero() {
		resp["marked_at"] = st.MarkedAt
	}
	c.JSON(http.StatusOK, resp)
}

type markReq struct {
	Mark string `json:"mark"` // base64url of the canonical InPersonMark encoding
	// DeviceKey (base64url, 32 bytes): in deniable re-voting mode, the
	// station device's key for the mark's row (spec §15.16.4).
	DeviceKey string `json:"device_key,omitempty"`
}

func (s *Server) mark(c *gin.Context) {
	var r markReq
	if !httpedge.Decode(c, maxOfficialBody, &r) {
		return
	}
	raw, err := b64.DecodeString(r.Mark)
	var m *record.InPersonMark
	if err == nil {
		m, err = record.DecodeInPersonMark(raw)
	}
	if err != nil {
		httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "mark must be the base64url canonical encoding of an InPersonMark.")
		return
	}
	if r.DeviceKey != "" {
		// Deniable re-voting: the mark is a row; the station's device
		// gets the token and the credential for it.
		dk, err := b64.DecodeString(r.DeviceKey)
		if err != nil || len(dk) != 32 {
			httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "device_key must be a base64url Ed25519 public key (32 bytes).")
			return
		}
		cred, err := s.svc.MarkRevote(c.Request.Context(), c.ClientIP(), m, dk)
		if err != nil {
			s.answerError(c, err)
			return
		}
		rc := cred.Revote
		c.JSON(http.StatusCreated, gin.H{"pseudonym": hex.EncodeToString(m.Pseudonym[:]), "status": "marked", "token": cred.Token,
			"revote_credential": b64.EncodeToString(rc.Credential), "revote_credential_sig": b64.EncodeToString(rc.Signature[:]), "revote_s": b64.EncodeToString(rc.S.Bytes())})
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
	if !httpedge.Decode(c, maxOfficialBody, &r) {
		return
	}
	raw, err := b64.DecodeString(r.Registration)
	var reg *record.PollingRegistration
	if err == nil {
		reg, err = record.DecodePollingRegistration(raw)
	}
	if err != nil {
		httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "registration must be the base64url canonical encoding of a PollingRegistration.")
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

var opByName = map[string]voterlist.Op{"add": voterlist.OpAdd, "remove": voterlist.OpRemove, "phone": voterlist.OpPhone}

// listChange reads a list change as a stream (spec/08-identity.md §8.10):
// the signed statement comes first and is checked (Service.
// CheckListStatement) before the items, up to a whole voter list, are
// read; the items are decoded one by one, never the body as a whole.
func (s *Server) listChange(c *gin.Context) {
	d := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxListBody))
	d.DisallowUnknownFields()
	r, err := s.readListChange(c, d)
	if err != nil {
		var mbe *http.MaxBytesError
		var ae *answered
		switch {
		case errors.As(err, &ae):
		case errors.As(err, &mbe):
			httpedge.FailRead(c, maxListBody, err)
		default:
			httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadJSON, "The request body is not the expected JSON: {\"statement\", \"salt\", \"items\"}, the statement first.")
		}
		return
	}
	if len(r.Items) > 10_000 {
		defer memrelease.Soon() // a whole list's memory, once applied
	}
	entry, err := s.svc.ChangeVoterList(c.Request.Context(), c.ClientIP(), r)
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

// answered is an error the handler has already answered.
type answered struct{}

func (*answered) Error() string { return "answered" }

// readListChange decodes {"statement", "salt", "items"} from d, the
// statement first, checking it as soon as it is read.
func (s *Server) readListChange(c *gin.Context, d *json.Decoder) (*voterlist.ChangeRequest, error) {
	if err := expectDelim(d, '{'); err != nil {
		return nil, err
	}
	req := &voterlist.ChangeRequest{}
	seen := map[string]bool{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		if seen[key] || key != "statement" && !seen["statement"] {
			return nil, errors.New("the statement must come first, each field once")
		}
		seen[key] = true
		switch key {
		case "statement":
			var v string
			if err := d.Decode(&v); err != nil {
				return nil, err
			}
			raw, err := b64.DecodeString(v)
			var st *record.VoterListChange
			if err == nil {
				st, err = record.DecodeVoterListChange(raw)
			}
			if err != nil {
				httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "statement must be a canonical VoterListChange, base64url.")
				return nil, &answered{}
			}
			if err := s.svc.CheckListStatement(c.Request.Context(), c.ClientIP(), st); err != nil {
				s.answerError(c, err)
				return nil, &answered{}
			}
			req.Statement = *st
		case "salt":
			var v string
			if err := d.Decode(&v); err != nil {
				return nil, err
			}
			salt, err := b64.DecodeString(v)
			if err != nil || len(salt) != 32 {
				httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "salt must be 32 bytes, base64url.")
				return nil, &answered{}
			}
			copy(req.Salt[:], salt)
		case "items":
			if err := s.readItems(c, d, req); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown field %q", key)
		}
	}
	if err := expectDelim(d, '}'); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	if !seen["salt"] {
		return nil, errors.New("no salt")
	}
	return req, nil
}

// readItems decodes the items one by one, at most voterlist.MaxItems.
func (s *Server) readItems(c *gin.Context, d *json.Decoder, req *voterlist.ChangeRequest) error {
	if err := expectDelim(d, '['); err != nil {
		return err
	}
	now := time.Now()
	for i := 0; d.More(); i++ {
		if i >= voterlist.MaxItems {
			httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, fmt.Sprintf("more than %d items.", voterlist.MaxItems))
			return &answered{}
		}
		var it listItem
		if err := d.Decode(&it); err != nil {
			return err
		}
		op, ok := opByName[it.Op]
		pin, perr := registry.ParsePIN(it.PIN, now)
		if !ok || perr != nil {
			httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "item "+strconv.Itoa(i)+": unknown op or malformed PIN.")
			return &answered{}
		}
		req.Items = append(req.Items, voterlist.Item{Op: op, PIN: pin, BallotStyle: it.BallotStyle, Phone: it.Phone})
	}
	return expectDelim(d, ']')
}

func expectDelim(d *json.Decoder, want json.Delim) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("want %v", want)
	}
	return nil
}

func (s *Server) nextSequence(c *gin.Context) {
	n, err := s.svc.NextListSequence(c.Request.Context())
	if err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"sequence": n})
}

// totpEnroll takes no body: the bearer token is the whole request.
func (s *Server) totpEnroll(c *gin.Context) {
	e, err := s.svc.EnrollTOTP(c.Request.Context(), c.ClientIP(), httpedge.Bearer(c))
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
	if !httpedge.Decode(c, maxAuthBody, &r) {
		return
	}
	if err := s.svc.ConfirmTOTP(c.Request.Context(), c.ClientIP(), httpedge.Bearer(c), r.Code); err != nil {
		s.answerError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "active"})
}

// boxItem is one credential the ballot box asks for (spec §15.16.2).
type boxItem struct {
	Kind       string `json:"kind"` // "dummy" or "padding"
	Style      string `json:"style"`
	Index      uint64 `json:"index,omitempty"`
	Identifier string `json:"identifier,omitempty"` // dummy: hex Element(D_{style,index})
	Pseudonym  string `json:"pseudonym,omitempty"`  // padding: hex
	DeviceKey  string `json:"device_key"`           // base64url, 32 bytes
}

type boxReq struct {
	ElectionID string    `json:"election_id"`
	At         int64     `json:"at"`
	Items      []boxItem `json:"items"`
	BoxSig     string    `json:"box_sig"` // base64url, 64 bytes
}

type boxCred struct {
	Credential    string `json:"credential"`
	CredentialSig string `json:"credential_sig"`
}

// boxCredentials issues the credentials of the ballot box's dummy rows
// (spec §15.16.2); the request is authenticated by the box's signature.
func (s *Server) boxCredentials(c *gin.Context) {
	var r boxReq
	if !httpedge.Decode(c, maxBoxBody, &r) {
		return
	}
	req := &idp.BoxRequest{ElectionID: r.ElectionID, At: r.At}
	ok := decodeSig(r.BoxSig, &req.Signature) && len(r.Items) <= idp.MaxBoxItems
	for _, it := range r.Items {
		dk, err := b64.DecodeString(it.DeviceKey)
		item := idp.BoxItem{Style: it.Style, Index: it.Index}
		var field string
		var out *[32]byte
		switch it.Kind {
		case "dummy":
			field, out = it.Identifier, &item.Identifier
		case "padding":
			field, out, item.Kind = it.Pseudonym, &item.Pseudonym, idp.BoxPadding
		}
		raw, err2 := hex.DecodeString(field)
		if out == nil || err != nil || err2 != nil || len(raw) != 32 || len(dk) != 32 {
			ok = false
			break
		}
		*out, item.DeviceKey = [32]byte(raw), [32]byte(dk)
		req.Items = append(req.Items, item)
	}
	if !ok {
		httpedge.Fail(c, http.StatusBadRequest, httpedge.CodeBadRequest, "Malformed box credential request: items of kind dummy (hex identifier) or padding (hex pseudonym) with a base64url device key, and a base64url signature.")
		return
	}
	creds, err := s.svc.BoxCredentials(c.Request.Context(), c.ClientIP(), req)
	if err != nil {
		s.answerError(c, err)
		return
	}
	out := make([]boxCred, len(creds))
	for i, rc := range creds {
		out[i] = boxCred{b64.EncodeToString(rc.Credential), b64.EncodeToString(rc.Signature[:])}
	}
	c.JSON(http.StatusOK, gin.H{"credentials": out})
}
