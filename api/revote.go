package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
	"evote/crypto/group"
	"evote/internal/httpedge"
)

// Deniable re-voting (spec §15.16.3): a device casts a row; the box
// queues it and answers 202 until the row's slot is on the board, then
// 200 with the receipt. The device polls GET …/revote/rows/{hash}.

// RowRequest carries a row (spec §15.14.1), base64url.
type RowRequest struct {
	Row string `json:"row"`
}

// RowView answers a cast row or a look-up of one: queued, or published
// with the slot entry's position, a cosigned checkpoint and the inclusion
// proof. It never says whether the row was superseded (spec §15.9).
type RowView struct {
	RowHash        string   `json:"row_hash"`
	Status         string   `json:"status"` // "queued" or "published"
	Style          string   `json:"ballot_style,omitempty"`
	Slot           *uint32  `json:"slot,omitempty"`
	Position       *int     `json:"position,omitempty"`
	Index          *uint64  `json:"index,omitempty"`
	EntryHash      string   `json:"entry_hash,omitempty"`
	Checkpoint     string   `json:"checkpoint,omitempty"`
	CheckpointSize *uint64  `json:"checkpoint_size,omitempty"`
	InclusionProof []string `json:"inclusion_proof,omitempty"`
	Witnessed      *bool    `json:"witnessed,omitempty"`
}

func rowView(a *ballotbox.RowAnswer) RowView {
	v := RowView{RowHash: b64s(a.RowHash[:]), Status: "queued"}
	if a.Published {
		v.Status, v.Style, v.Slot, v.Position, v.Index = "published", a.Style, &a.Slot, &a.Position, &a.Index
		v.EntryHash, v.Checkpoint, v.CheckpointSize, v.Witnessed = b64s(a.EntryHash[:]), string(a.Checkpoint), &a.CheckpointSize, &a.Witnessed
		v.InclusionProof = []string{}
		for _, h := range a.InclusionProof {
			v.InclusionProof = append(v.InclusionProof, b64s(h[:]))
		}
	}
	return v
}

// answerRow answers 202 for a queued row, 200 for a published one.
func answerRow(c *gin.Context, a *ballotbox.RowAnswer) {
	c.Header("Cache-Control", "no-store")
	st := http.StatusAccepted
	if a.Published {
		st = http.StatusOK
	}
	c.JSON(st, rowView(a))
}

func (s *Server) castRow(c *gin.Context) {
	raw, ok := binaryBody(c, limitBallot, "row", func(r *RowRequest) string { return r.Row })
	if !ok {
		return
	}
	a, err := boxOf(c).CastRow(c.Request.Context(), httpedge.Bearer(c), raw)
	if err != nil {
		respondErr(c, err)
		return
	}
	answerRow(c, a)
}

func (s *Server) getRow(c *gin.Context) {
	h, err := httpedge.B64.DecodeString(c.Param("hash"))
	if err != nil || len(h) != 32 {
		httpedge.BadRequest(c, "the row hash must be 32 bytes in base64url")
		return
	}
	a, err := boxOf(c).RowStatus(c.Request.Context(), [32]byte(h))
	if err != nil {
		respondErr(c, err)
		return
	}
	answerRow(c, a)
}

// MarkRowRequest carries the row of an in-person mark and its opening
// (spec §15.16.4): the flag's randomness and the station's and
// official's signatures over the mark statement, all base64url.
type MarkRowRequest struct {
	Row         string `json:"row"`
	Randomness  string `json:"randomness"`
	StationID   string `json:"station_id"`
	StationKey  string `json:"station_key"`
	OfficialID  string `json:"official_id"`
	OfficialKey string `json:"official_key"`
	StationSig  string `json:"station_sig"`
	OfficialSig string `json:"official_sig"`
}

func (s *Server) castMark(c *gin.Context) {
	var r MarkRowRequest
	if !httpedge.Decode(c, 2*limitBallot, &r) {
		return
	}
	fixed := func(in string, n int) ([]byte, bool) {
		b, err := httpedge.B64.DecodeString(in)
		return b, err == nil && len(b) == n
	}
	row, err := httpedge.B64.DecodeString(r.Row)
	rb, ok1 := fixed(r.Randomness, 32)
	sk, ok2 := fixed(r.StationKey, 32)
	ok, ok3 := fixed(r.OfficialKey, 32)
	ss, ok4 := fixed(r.StationSig, 64)
	os, ok5 := fixed(r.OfficialSig, 64)
	var rnd group.Scalar
	if err != nil || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		httpedge.BadRequest(c, "row, randomness (32 bytes), station_key and official_key (32), station_sig and official_sig (64) in base64url")
		return
	}
	if _, err := rnd.SetCanonicalBytes(rb); err != nil {
		httpedge.BadRequest(c, "randomness is not a canonical scalar")
		return
	}
	op := &ballotbox.MarkOpening{Randomness: &rnd, StationID: r.StationID, StationKey: [32]byte(sk), OfficialID: r.OfficialID, OfficialKey: [32]byte(ok),
		StationSig: [64]byte(ss), OfficialSig: [64]byte(os)}
	a, err := boxOf(c).CastMark(c.Request.Context(), httpedge.Bearer(c), row, op)
	if err != nil {
		respondErr(c, err)
		return
	}
	answerRow(c, a)
}
