package api

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
	"evote/idp/voterlist"
	"evote/internal/httpedge"
	"evote/record"
)

// VoterListPrepareRequest is POST /elections/{id}/voters/prepare: the
// voter-list file, the list official who will sign it (id and Ed25519
// public key in hex, as registered with the identity service) and the kind
// of change, "build" (the initial list) or "import" (additions).
type VoterListPrepareRequest struct {
	CSV         string `json:"csv"`
	OfficialID  string `json:"official_id"`
	OfficialKey string `json:"official_key"`
	Kind        string `json:"kind"`
}

// VoterListItem is one voter of a change as the identity service reads it.
type VoterListItem struct {
	Op          string `json:"op"`
	PIN         string `json:"pin"`
	BallotStyle string `json:"ballot_style,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

// VoterListPrepared is its answer: the statement (a canonical
// VoterListChange, base64url, its signature zero), the exact bytes the
// official signs, the salt of the details digest and the items — the
// valid lines of the file, those the report lists as refused left out.
// The official puts the 64-byte signature at SignatureOffset of the
// statement and submits statement, salt and items unchanged.
type VoterListPrepared struct {
	Statement       string               `json:"statement"`
	SigningBytes    string               `json:"signing_bytes"`
	SignatureOffset int                  `json:"signature_offset"`
	Salt            string               `json:"salt"`
	Items           []VoterListItem      `json:"items"`
	Report          *voterlist.CSVReport `json:"report"`
}

// identityTimeout bounds one call to the identity service (a whole list
// import included).
const identityTimeout = 2 * time.Minute

var identityClient = &http.Client{Timeout: identityTimeout}

// prepareVoterList reads the file as checkVoters does, keeps its valid
// lines, asks the identity service for the next list sequence and returns
// the unsigned statement of the change. The official's private key never
// reaches the server: the console signs in the browser.
func (s *Server) prepareVoterList(c *gin.Context) {
	if s.Identity == nil {
		httpedge.Fail(c, http.StatusServiceUnavailable, "identity_unconfigured", "this server has no identity service configured (evoted --identity-url)")
		return
	}
	var req VoterListPrepareRequest
	if !httpedge.Decode(c, limitVoterCSV, &req) {
		return
	}
	kind := map[string]uint8{"build": record.ListBuilt, "import": record.ListImported}[req.Kind]
	pub, err := hex.DecodeString(strings.TrimSpace(req.OfficialKey))
	switch {
	case kind == 0:
		httpedge.BadRequest(c, "kind must be build or import")
		return
	case !record.ValidID(req.OfficialID):
		httpedge.BadRequest(c, "official_id is not a valid id")
		return
	case err != nil || len(pub) != 32 || !record.ValidEd25519Key(pub):
		httpedge.BadRequest(c, "official_key must be a valid Ed25519 public key, 32 bytes in hex")
		return
	}
	v := boxOf(c).View()
	if v.Manifest == nil || v.Context == nil {
		respondErr(c, ballotbox.ErrNotReady)
		return
	}
	now := time.Now()
	rep, err := voterlist.CheckCSV(strings.NewReader(req.CSV), now, func(st string) bool {
		_, ok := v.Manifest.Style(st)
		return ok
	})
	if err != nil {
		httpedge.BadRequest(c, "%s", strings.TrimPrefix(err.Error(), "voterlist: "))
		return
	}
	if rep.Omitted > 0 || rep.Valid == 0 {
		httpedge.BadRequest(c, "the file has no valid line or too many refused lines to leave out; correct it first")
		return
	}
	items, err := validItems(req.CSV, rep, now)
	if err != nil {
		httpedge.BadRequest(c, "%s", strings.TrimPrefix(err.Error(), "voterlist: "))
		return
	}
	seq, err := s.nextListSequence(c)
	if err != nil {
		httpedge.Fail(c, http.StatusBadGateway, "identity_unavailable", "the identity service did not answer: "+err.Error())
		return
	}
	var salt [32]byte
	rand.Read(salt[:])
	st := record.VoterListChange{ElectionID: v.Manifest.ElectionID, ContextHash: v.Context.ExtendedHash, Sequence: seq, Kind: kind,
		OfficialID: req.OfficialID, DetailsDigest: voterlist.DetailsDigest(salt, items), ChangedAt: uint64(now.Unix())}
	copy(st.OfficialKey[:], pub)
	enc := st.Encode()
	ops := map[voterlist.Op]string{voterlist.OpAdd: "add", voterlist.OpRemove: "remove", voterlist.OpPhone: "phone"}
	out := VoterListPrepared{Statement: b64s(enc), SigningBytes: b64s(st.SigningBytes()), Salt: b64s(salt[:]), Report: rep,
		// The signature follows the statement's fields; after it come
		// three u32 counters and the u32 count of styles (§8.8.4).
		SignatureOffset: len(enc) - 64 - 16}
	for _, it := range items {
		out.Items = append(out.Items, VoterListItem{Op: ops[it.Op], PIN: it.PIN.Digits(), BallotStyle: it.BallotStyle, Phone: it.Phone})
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// validItems returns the voters of the lines of file that rep does not
// refuse, parsed as voterlist.ParseCSV parses a whole file.
func validItems(file string, rep *voterlist.CSVReport, now time.Time) ([]voterlist.Item, error) {
	bad := map[int]bool{}
	for _, p := range rep.Problems {
		if p.Code == "unreadable" {
			return nil, errors.New("an unreadable line cannot be left out; correct the file first")
		}
		bad[p.Line] = true
	}
	cr := csv.NewReader(strings.NewReader(file))
	cr.FieldsPerRecord = 3
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, errors.New("unreadable file")
		}
		if line, _ := cr.FieldPos(0); !bad[line] {
			w.Write(rec)
		}
	}
	w.Flush()
	return voterlist.ParseCSV(&buf, now)
}

// nextListSequence asks the identity service for the sequence number the
// next voter-list change must carry.
func (s *Server) nextListSequence(c *gin.Context) (uint64, error) {
	req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodGet, s.Identity.JoinPath("v1/officials/list-changes/next").String(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := identityClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("api: identity: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Sequence uint64 `json:"sequence"`
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("api: identity: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&out); err != nil || out.Sequence == 0 {
		return 0, errors.New("api: identity: no sequence in the answer")
	}
	return out.Sequence, nil
}

// limitVoterListSubmit bounds a signed change relayed to the identity
// service: the items of a checked file and their statement.
const limitVoterListSubmit = 2 * limitVoterCSV

// submitVoterList relays a signed change — {"statement", "salt",
// "items"}, as POST /v1/officials/list-changes of the identity service
// takes it — and answers with the identity service's status and body
// (the counts per ballot style, or its refusal). The identity service
// checks the list official's signature and key; this route adds the
// officials' session and role, so only a signed-in official reaches it.
func (s *Server) submitVoterList(c *gin.Context) {
	if s.Identity == nil {
		httpedge.Fail(c, http.StatusServiceUnavailable, "identity_unconfigured", "this server has no identity service configured (evoted --identity-url)")
		return
	}
	body, ok := httpedge.ReadBody(c, limitVoterListSubmit)
	if !ok {
		return
	}
	var probe struct {
		Statement string          `json:"statement"`
		Salt      string          `json:"salt"`
		Items     json.RawMessage `json:"items"`
	}
	if !httpedge.DecodeJSON(c, body, &probe) {
		return
	}
	raw, err := httpedge.B64.DecodeString(probe.Statement)
	var st *record.VoterListChange
	if err == nil {
		st, err = record.DecodeVoterListChange(raw)
	}
	if err != nil {
		httpedge.BadRequest(c, "statement must be a canonical VoterListChange, base64url")
		return
	}
	if v := boxOf(c).View(); v.Manifest == nil || st.ElectionID != v.Manifest.ElectionID {
		httpedge.BadRequest(c, "the statement is for another election")
		return
	}
	// Recorded before it is relayed, so nothing happens unrecorded; the
	// identity service's answer follows.
	user := sessionOf(c).User
	what := fmt.Sprintf("list official %s, sequence %d, kind %d", st.OfficialID, st.Sequence, st.Kind)
	if err := s.Officials.Record(c.Request.Context(), user, "voter-list", c.Param("id"), "requested", what); err != nil {
		respondErr(c, err)
		return
	}
	req, err := http.NewRequestWithContext(c.Request.Context(), http.MethodPost, s.Identity.JoinPath("v1/officials/list-changes").String(), bytes.NewReader(body))
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := identityClient.Do(req)
	if err != nil {
		s.Officials.Record(c.Request.Context(), user, "voter-list", c.Param("id"), "identity_unavailable", what)
		httpedge.Fail(c, http.StatusBadGateway, "identity_unavailable", "the identity service did not answer")
		return
	}
	defer resp.Body.Close()
	ans, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || !json.Valid(ans) {
		s.Officials.Record(c.Request.Context(), user, "voter-list", c.Param("id"), "identity_unavailable", what)
		httpedge.Fail(c, http.StatusBadGateway, "identity_unavailable", "the identity service's answer is unreadable")
		return
	}
	outcome := "ok"
	if resp.StatusCode != http.StatusCreated {
		var e ErrorBody
		json.Unmarshal(ans, &e)
		outcome = cmp.Or(e.Error.Code, "status "+itoa(uint64(resp.StatusCode)))
	}
	s.Officials.Record(c.Request.Context(), user, "voter-list", c.Param("id"), outcome, what)
	c.Header("Cache-Control", "no-store")
	c.Data(resp.StatusCode, "application/json; charset=utf-8", ans)
}
