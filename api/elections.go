package api

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"evote/ballot"
	"evote/ballotbox"
	"evote/bulletin"
	"evote/internal/httpedge"
)

// withBox resolves the :id election before h.
func (s *Server) withBox(h gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		b, err := s.Registry.Get(c.Param("id"))
		if err != nil {
			respondErr(c, err)
			return
		}
		c.Set("box", b)
		h(c)
	}
}

func boxOf(c *gin.Context) *ballotbox.Box { return c.MustGet("box").(*ballotbox.Box) }

// ElectionSummary is one line of GET /elections.
type ElectionSummary struct {
	ElectionID string `json:"election_id"`
	Phase      string `json:"phase"`
	Log        string `json:"log"`
}

// LogKeyView is the log's public keys.
type LogKeyView struct {
	Ed25519 string `json:"ed25519"`
	MLDSA   string `json:"ml_dsa,omitempty"`
}

// WitnessView is a witness's cosigner key.
type WitnessView struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// ElectionInfo is GET /elections/{id} (spec/10-api.md §10.1).
type ElectionInfo struct {
	ElectionID   string            `json:"election_id"`
	Phase        string            `json:"phase"`
	Log          string            `json:"log"`
	Origin       string            `json:"origin"`
	Size         uint64            `json:"size"`
	Manifest     string            `json:"manifest,omitempty"`
	Title        map[string]string `json:"title,omitempty"`
	AuthorityKey string            `json:"authority_key"`
	IdentityKey  string            `json:"identity_key,omitempty"`
	JointKey     string            `json:"joint_key,omitempty"`
	ExtendedHash string            `json:"extended_hash,omitempty"`
	LogKey       LogKeyView        `json:"log_key"`
	Witnesses    []WitnessView     `json:"witnesses"`
	ClientHash   string            `json:"client_hash,omitempty"`
	Lifecycle    []PhaseMarkView   `json:"lifecycle"`
}

// PhaseMarkView is the board entry that moved the election into a phase;
// At is the time an official's transition states (0 when none).
type PhaseMarkView struct {
	Phase string `json:"phase"`
	Index uint64 `json:"index"`
	At    uint64 `json:"at,omitempty"`
}

func electionInfo(b *ballotbox.Box) ElectionInfo {
	v := b.View()
	l := b.Log()
	id := l.ID()
	ver := l.Verifier()
	auth := b.AuthorityKey()
	info := ElectionInfo{ElectionID: v.ElectionID, Phase: v.Phase.String(), Log: hexLower(id[:]), Origin: l.Origin(), Size: l.Size(),
		AuthorityKey: b64s(auth[:]), LogKey: LogKeyView{Ed25519: b64s(ver.Ed25519[:])}, Witnesses: []WitnessView{}, Lifecycle: []PhaseMarkView{}}
	for _, m := range v.Lifecycle {
		info.Lifecycle = append(info.Lifecycle, PhaseMarkView{Phase: m.Phase.String(), Index: m.Index, At: m.At})
	}
	if len(ver.MLDSA) > 0 {
		info.LogKey.MLDSA = b64s(ver.MLDSA)
	}
	for _, w := range b.Witnesses() {
		info.Witnesses = append(info.Witnesses, WitnessView{Name: w.Name, Key: b64s(w.Public[:])})
	}
	if m := v.Manifest; m != nil {
		info.Manifest = b64s(v.ManifestRaw)
		info.Title = map[string]string{"ky": m.Title.Ky, "ru": m.Title.Ru, "uz": m.Title.Uz, "en": m.Title.En}
		info.IdentityKey = b64s(m.IdentityKey[:])
		info.ClientHash = hex.EncodeToString(m.ClientHash[:])
	}
	if v.Context != nil {
		info.JointKey = b64s(v.Context.JointKey.Bytes())
		info.ExtendedHash = b64s(v.Context.ExtendedHash[:])
	}
	return info
}

func (s *Server) listElections(c *gin.Context) {
	out := []ElectionSummary{}
	for _, id := range s.Registry.IDs() {
		b, err := s.Registry.Get(id)
		if err != nil {
			continue
		}
		lid := b.Log().ID()
		out = append(out, ElectionSummary{ElectionID: id, Phase: b.View().Phase.String(), Log: hexLower(lid[:])})
	}
	fresh(c)
	c.JSON(http.StatusOK, out)
}

func (s *Server) getElection(c *gin.Context) {
	fresh(c)
	c.JSON(http.StatusOK, electionInfo(boxOf(c)))
}

// Setup is GET /elections/{id}/setup (spec/10-api.md §10.1): the entries a
// voting device checks before anything else, the manifest (position 0)
// and, once posted, the key generation's qualified set and extraction
// commitments (the device checks the context's election key against them,
// spec §14.3) and the election context, as canonical encodings with their
// positions in board order; nothing else, so that a phone on a slow line
// does not page through the board to find them.
type Setup struct {
	ElectionID string       `json:"election_id"`
	Log        string       `json:"log"`
	Origin     string       `json:"origin"`
	Entries    []SetupEntry `json:"entries"`
}

// SetupEntry is one entry of Setup: its position and canonical encoding
// (standard base64).
type SetupEntry struct {
	Index     uint64 `json:"index"`
	Canonical string `json:"canonical"`
}

func (s *Server) getSetup(c *gin.Context) {
	b := boxOf(c)
	v := b.View()
	l := b.Log()
	id := l.ID()
	out := Setup{ElectionID: v.ElectionID, Log: hexLower(id[:]), Origin: l.Origin(), Entries: []SetupEntry{}}
	end := uint64(1)
	etag := fmt.Sprintf("setup-%d", v.ContextPosition)
	if v.Context != nil {
		if notModified(c, etag) {
			return
		}
		end = v.ContextPosition + 1
	}
	recs, err := l.Entries(c.Request.Context(), 0, end)
	if err != nil {
		httpedge.ServerError(c, err)
		return
	}
	if uint64(len(recs)) != end {
		httpedge.ServerError(c, fmt.Errorf("setup entries 0..%d: %d records", end, len(recs)))
		return
	}
	for i, r := range recs {
		if i == 0 || uint64(i) == end-1 || setupKeygen(r.Data) {
			out.Entries = append(out.Entries, SetupEntry{Index: uint64(i), Canonical: base64.StdEncoding.EncodeToString(r.Data)})
		}
	}
	if v.Context != nil {
		// Both entries are durable: the answer never changes again.
		immutable(c, etag)
	} else {
		fresh(c)
	}
	c.JSON(http.StatusOK, out)
}

// setupKeygen reports whether a canonical entry is one of the key
// generation's that a device checks the election key against: the
// qualified set (kind 5) and a dealer's extraction commitments (kind 6).
func setupKeygen(canonical []byte) bool {
	e, err := bulletin.DecodeEntry(canonical)
	if err != nil || len(e.Payload) == 0 {
		return false
	}
	return e.Type == bulletin.TypeKeygenQualified && e.Payload[0] == 5 || e.Type == bulletin.TypeKeygenExtraction && e.Payload[0] == 6
}

// CheckpointNote is a cosigned checkpoint.
type CheckpointNote struct {
	Size uint64 `json:"size"`
	Note string `json:"note"`
}

func (s *Server) getElectionCheckpoint(c *gin.Context) {
	note, size, err := boxOf(c).Checkpoint(c.Request.Context())
	if err != nil {
		respondErr(c, err)
		return
	}
	fresh(c)
	c.JSON(http.StatusOK, CheckpointNote{Size: size, Note: string(note)})
}

// Turnout counts distinct voters who cast, by ballot style.
type Turnout struct {
	Phase   string         `json:"phase"`
	ByStyle map[string]int `json:"by_style"`
	Ballots int            `json:"ballots"`
}

func (s *Server) getTurnout(c *gin.Context) {
	v := boxOf(c).View()
	fresh(c)
	c.JSON(http.StatusOK, Turnout{Phase: v.Phase.String(), ByStyle: v.Turnout, Ballots: v.Ballots})
}

// VoterView lists the board entries under one pseudonym.
type VoterView struct {
	Credentials []CredentialView `json:"credentials"`
	Ballots     []BallotRefView  `json:"ballots"`
	InPerson    *uint64          `json:"in_person,omitempty"`
}

// CredentialView is one credential-issued entry.
type CredentialView struct {
	Index     uint64 `json:"index"`
	DeviceKey string `json:"device_key"`
	IssuedAt  uint64 `json:"issued_at"`
}

// BallotRefView is one ballot entry; Counted is set once the cleansing is
// on the board.
type BallotRefView struct {
	Index        uint64 `json:"index"`
	TrackingCode string `json:"tracking_code"`
	Counted      *bool  `json:"counted,omitempty"`
}

func (s *Server) getVoter(c *gin.Context) {
	p, ok := httpedge.ParseHash32(c.Param("pseudonym"))
	if !ok {
		httpedge.BadRequest(c, "pseudonym must be 64 lowercase hex digits")
		return
	}
	b := boxOf(c)
	ve, found := b.Voter(p)
	if !found {
		httpedge.NotFound(c, "no entry under this pseudonym")
		return
	}
	out := VoterView{Credentials: []CredentialView{}, Ballots: []BallotRefView{}, InPerson: ve.InPerson}
	for _, cr := range ve.Credentials {
		out.Credentials = append(out.Credentials, CredentialView{Index: cr.Index, DeviceKey: b64s(cr.DeviceKey[:]), IssuedAt: cr.IssuedAt})
	}
	cleansed := b.Cleansed()
	for _, br := range ve.Ballots {
		v := BallotRefView{Index: br.Index, TrackingCode: b64s(br.TrackingCode[:])}
		if cleansed {
			counted := ve.Counted != nil && *ve.Counted == br.Index
			v.Counted = &counted
		}
		out.Ballots = append(out.Ballots, v)
	}
	fresh(c)
	c.JSON(http.StatusOK, out)
}

// EntryRequest carries one signed bulletin entry.
type EntryRequest struct {
	Entry string `json:"entry"`
}

// ReceiptView is a cast receipt (spec/10-api.md §10.2).
type ReceiptView struct {
	TrackingCode     string   `json:"tracking_code"`
	TrackingCodeText string   `json:"tracking_code_text"`
	Pseudonym        string   `json:"pseudonym"`
	Index            uint64   `json:"index"`
	EntryHash        string   `json:"entry_hash"`
	Checkpoint       string   `json:"checkpoint"`
	CheckpointSize   uint64   `json:"checkpoint_size"`
	InclusionProof   []string `json:"inclusion_proof"`
	// Witnessed is false when the checkpoint lacks the witness quorum (a
	// witness was down): the ballot is on the board; check it later.
	Witnessed bool `json:"witnessed"`
}

func receiptView(r *ballotbox.Receipt) ReceiptView {
	v := ReceiptView{TrackingCode: b64s(r.TrackingCode[:]), TrackingCodeText: ballot.TrackingCode(r.TrackingCode).String(),
		Pseudonym: hexLower(r.Pseudonym[:]), Index: r.Index, EntryHash: b64s(r.EntryHash[:]), Checkpoint: string(r.Checkpoint),
		CheckpointSize: r.CheckpointSize, InclusionProof: []string{}, Witnessed: r.Witnessed}
	for _, h := range r.InclusionProof {
		v.InclusionProof = append(v.InclusionProof, b64s(h[:]))
	}
	return v
}

func (s *Server) castBallot(c *gin.Context) {
	start := time.Now()
	outcome := "bad_request"
	defer func() { s.Metrics().cast(outcome, time.Since(start)) }()
	raw, ok := binaryBody(c, limitBallot, "entry", func(r *EntryRequest) string { return r.Entry })
	if !ok {
		return
	}
	r, err := boxOf(c).Cast(c.Request.Context(), httpedge.Bearer(c), raw)
	if err != nil {
		outcome = ballotbox.Code(err)
		respondErr(c, err)
		return
	}
	outcome = "ok"
	created(c, r.Replayed, receiptView(r))
}

// AuditRequest carries a Benaloh audit: the opening and the prepared
// ballot it opens.
type AuditRequest struct {
	Audited string `json:"audited"`
	Ballot  string `json:"ballot"`
}

// PostedView answers a posted entry.
type PostedView struct {
	Index     uint64 `json:"index"`
	EntryHash string `json:"entry_hash"`
	Valid     *bool  `json:"valid,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// AuditView answers an accepted audit and a lookup by tracking code
// (spec/10-api.md §10.1, §10.2). A pending audit says when it will be
// published; a published one carries its board position, a cosigned
// checkpoint and the inclusion proof. Ballot and Entry are set by the
// lookup only.
type AuditView struct {
	TrackingCode     string   `json:"tracking_code"`
	TrackingCodeText string   `json:"tracking_code_text"`
	Status           string   `json:"status"`
	EntryHash        string   `json:"entry_hash"`
	Ballot           string   `json:"ballot,omitempty"`
	Entry            string   `json:"entry,omitempty"`
	PublishAfter     *uint64  `json:"publish_after,omitempty"`
	MinBatch         *int     `json:"min_batch,omitempty"`
	Index            *uint64  `json:"index,omitempty"`
	Checkpoint       string   `json:"checkpoint,omitempty"`
	CheckpointSize   *uint64  `json:"checkpoint_size,omitempty"`
	InclusionProof   []string `json:"inclusion_proof,omitempty"`
}

// Audit statuses.
const (
	auditPending   = "pending"
	auditPublished = "published"
)

func (s *Server) postAudit(c *gin.Context) {
	var req AuditRequest
	if !httpedge.Decode(c, limitBallot, &req) {
		return
	}
	opened, ok := httpedge.Binary(c, "audited", req.Audited)
	if !ok {
		return
	}
	prepared, ok := httpedge.Binary(c, "ballot", req.Ballot)
	if !ok {
		return
	}
	r, err := boxOf(c).Audit(c.Request.Context(), httpedge.Bearer(c), opened, prepared)
	if err != nil {
		respondErr(c, err)
		return
	}
	v := AuditView{TrackingCode: b64s(r.TrackingCode[:]), TrackingCodeText: r.TrackingCode.String(), EntryHash: b64s(r.EntryHash[:])}
	if r.Published {
		v.Status, v.Index = auditPublished, &r.Index
	} else {
		v.Status, v.PublishAfter, v.MinBatch = auditPending, &r.PublishAfter, &r.MinBatch
	}
	c.Header("Cache-Control", "no-store")
	switch {
	case r.Replayed:
		c.JSON(http.StatusOK, v)
	default:
		c.JSON(http.StatusAccepted, v)
	}
}

// getAudit serves an accepted audit by the tracking code shown to the
// voter, so that a second device can check the opening at once.
func (s *Server) getAudit(c *gin.Context) {
	shown, err := ballot.ParseShownCode(c.Param("code"))
	if err != nil {
		httpedge.BadRequest(c, "the tracking code must be 32 base32 characters, as shown (dashes optional)")
		return
	}
	a, err := boxOf(c).AuditByCode(c.Request.Context(), shown)
	if err != nil {
		respondErr(c, err)
		return
	}
	v := AuditView{TrackingCode: b64s(a.TrackingCode[:]), TrackingCodeText: a.TrackingCode.String(), EntryHash: b64s(a.EntryHash[:]),
		Ballot: b64s(a.Ballot), Entry: b64s(a.Entry)}
	if a.Published {
		v.Status, v.Index, v.Checkpoint, v.CheckpointSize = auditPublished, &a.Index, string(a.Checkpoint), &a.CheckpointSize
		v.InclusionProof = []string{}
		for _, h := range a.InclusionProof {
			v.InclusionProof = append(v.InclusionProof, b64s(h[:]))
		}
	} else {
		v.Status, v.PublishAfter, v.MinBatch = auditPending, &a.PublishAfter, &a.MinBatch
	}
	fresh(c)
	c.JSON(http.StatusOK, v)
}

func (s *Server) postTrusteeEntry(c *gin.Context) {
	box := boxOf(c)
	buf, done, ok := readTrusteeEntry(c, limitTrustee, box.CheckTrusteeHeader)
	if !ok {
		return
	}
	defer done()
	p, err := box.PostTrustee(c.Request.Context(), buf[bulletin.SigningRoom:])
	if err != nil {
		respondErr(c, err)
		return
	}
	valid := p.Valid
	v := PostedView{Index: p.Index, EntryHash: b64s(p.EntryHash[:]), Valid: &valid, Reason: p.Reason}
	if !p.Valid && !p.Replayed {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusAccepted, v)
		return
	}
	created(c, p.Replayed, v)
}

func (s *Server) postIdentityEntry(c *gin.Context) {
	raw, ok := binaryBody(c, limitIdentity, "entry", func(r *EntryRequest) string { return r.Entry })
	if !ok {
		return
	}
	p, err := boxOf(c).PostIdentity(c.Request.Context(), raw)
	if err != nil {
		respondErr(c, err)
		return
	}
	created(c, p.Replayed, PostedView{Index: p.Index, EntryHash: b64s(p.EntryHash[:])})
}
