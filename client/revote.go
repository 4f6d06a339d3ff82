package client

import (
	"context"
	"crypto/ed25519"
	"net/http"
)

// Deniable re-voting (spec §15.16): the station device's mark at the
// identity service, and a device's rows at the ballot box.

// MarkRevote submits a polling station's signed in-person mark in
// deniable re-voting mode with the station device's key: the answer
// carries the token and the credential of the mark's row (spec §15.16.4),
// which the device then casts with CastMark.
func (c *Client) MarkRevote(ctx context.Context, mark []byte, device ed25519.PublicKey) (*VoterToken, error) {
	var out VoterToken
	body := map[string]string{"mark": b64.EncodeToString(mark), "device_key": b64.EncodeToString(device)}
	if _, err := c.do(ctx, http.MethodPost, "/v1/officials/marks", body, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// RowReceipt is the ballot box's answer to a cast row or a look-up of one
// (api.RowView): queued, or published in a slot entry with a cosigned
// checkpoint and the inclusion proof. It never says whether the row was
// superseded (spec §15.9).
type RowReceipt struct {
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

// Published reports whether the row's slot is on the board.
func (r *RowReceipt) Published() bool { return r.Status == "published" }

// CastRow casts a row (the canonical encoding of spec §15.14.1) with the
// voter's token. The box queues it until its slot; poll RowStatus.
func (c *Client) CastRow(ctx context.Context, electionID, token string, row []byte) (*RowReceipt, error) {
	var out RowReceipt
	_, err := c.do(ctx, http.MethodPost, "/api/v1/elections/"+esc(electionID)+"/revote/rows", map[string]string{"row": b64.EncodeToString(row)}, &out, token)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// MarkOpening opens the flag of a mark's row (spec §15.16.4): the flag's
// randomness and the station's and official's signatures over the mark
// statement.
type MarkOpening struct {
	Randomness              [32]byte
	StationID, OfficialID   string
	StationKey, OfficialKey [32]byte
	StationSig, OfficialSig [64]byte
}

// CastMark casts the row of an in-person mark with its opening, with the
// token the identity service gave the station device (MarkRevote).
func (c *Client) CastMark(ctx context.Context, electionID, token string, row []byte, op *MarkOpening) (*RowReceipt, error) {
	var out RowReceipt
	body := map[string]string{"row": b64.EncodeToString(row), "randomness": b64.EncodeToString(op.Randomness[:]),
		"station_id": op.StationID, "station_key": b64.EncodeToString(op.StationKey[:]),
		"official_id": op.OfficialID, "official_key": b64.EncodeToString(op.OfficialKey[:]),
		"station_sig": b64.EncodeToString(op.StationSig[:]), "official_sig": b64.EncodeToString(op.OfficialSig[:])}
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/elections/"+esc(electionID)+"/revote/marks", body, &out, token); err != nil {
		return nil, err
	}
	return &out, nil
}

// RowStatus looks a row up by its hash (RowReceipt.RowHash, base64url).
func (c *Client) RowStatus(ctx context.Context, electionID, rowHash string) (*RowReceipt, error) {
	var out RowReceipt
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/elections/"+esc(electionID)+"/revote/rows/"+esc(rowHash), nil, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}
