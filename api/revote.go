package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
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
