package view

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/bulletin"
	"evote/tally/revote"
)

// CheckBallotCode checks that the entry the server answered a look-up by
// tracking code with is a ballot with that code: the code typed, whole (64
// hex digits) or as shown to voters. Another voter's ballot, truly on the
// board, must not pass for the one looked up.
func CheckBallotCode(canonical []byte, typed string) error {
	e, err := bulletin.DecodeEntry(canonical)
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	if e.Type != bulletin.TypeBallot {
		return fmt.Errorf("view: the answer is a %s entry, not a ballot", e.Type)
	}
	code := ballot.TrackingCodeOf(e.Payload)
	typed = strings.TrimSpace(typed)
	if h, err := hex.DecodeString(typed); err == nil && len(h) == len(code) {
		if !bytes.Equal(h, code[:]) {
			return fmt.Errorf("view: the answer is ballot %s, not the one looked up", code)
		}
		return nil
	}
	shown, err := ballot.ParseShownCode(typed)
	if err != nil {
		return fmt.Errorf("view: %w", err)
	}
	if shown != code.Shown() {
		return fmt.Errorf("view: the answer is ballot %s, not the one looked up", code)
	}
	return nil
}

// AuthorityEntry decodes canonical, an entry the page fetched from the
// board, and checks that it is an entry of type t of the election's log,
// signed by the election authority: the author of manifestEntry, the
// board's first entry, which must carry manifest (the manifest the
// observer's fingerprint names), signed. The server's word on who the
// authority is, or on what an entry holds, is never taken.
func AuthorityEntry(manifest, manifestEntry, canonical []byte, t bulletin.Type) (*bulletin.Entry, error) {
	authority, log, err := authorityOf(manifest, manifestEntry)
	if err != nil {
		return nil, err
	}
	e, err := bulletin.DecodeEntry(canonical)
	if err != nil {
		return nil, err
	}
	if e.Log != log || e.Type != t || e.Author != authority || e.Verify() != nil {
		return nil, fmt.Errorf("not a %s entry of this election signed by its authority", t)
	}
	return e, nil
}

// CheckManifestEntry checks the board's first entry as the page fetched
// it: it carries manifest, signed, and it is entry 0 of the tree of a
// checkpoint the page checked against the manifest's anchors (size, root;
// path is the inclusion proof, hex). Only then is its author the election
// authority: anybody can sign an entry carrying the manifest, but only the
// log's first entry, as the witnesses cosigned the log, is the
// authority's.
func CheckManifestEntry(manifest, canonical []byte, size uint64, root string, path []string) error {
	if _, _, err := authorityOf(manifest, canonical); err != nil {
		return err
	}
	if size == 0 {
		return fmt.Errorf("view: no cosigned checkpoint covers the board's first entry")
	}
	if err := CheckInclusion(canonical, 0, size, path, root); err != nil {
		return fmt.Errorf("view: the board's first entry is not the log's first entry: %w", err)
	}
	return nil
}

// authorityOf returns the election authority's key (the manifest entry's
// author) and the log of manifest, once manifestEntry is checked to be
// that manifest's entry, signed.
func authorityOf(manifest, manifestEntry []byte) (authority [32]byte, log bulletin.LogID, err error) {
	m, err := ballot.DecodeManifest(manifest)
	if err != nil {
		return authority, log, fmt.Errorf("view: %w", err)
	}
	me, err := bulletin.DecodeEntry(manifestEntry)
	if err != nil {
		return authority, log, fmt.Errorf("view: the board's first entry: %w", err)
	}
	log = bulletin.LogIDFor(m.Board.Origin)
	if me.Type != bulletin.TypeManifest || me.Log != log || !bytes.Equal(me.Payload, manifest) || me.Verify() != nil {
		return authority, log, fmt.Errorf("view: the board's first entry is not this manifest, signed")
	}
	return me.Author, log, nil
}

// RowPlace is where a row is on the board: in the revote-slot entry at
// Index, slot Slot of ballot style Style, at Position; TrackingCode is
// its ballot's. It says nothing of whether the row is counted (spec
// §15.9): that is not for a receipt to show.
type RowPlace struct {
	ReceiptNumber string `json:"receipt_number"`
	RowHash       string `json:"row_hash"` // base64url, for the box's route
	Index         uint64 `json:"index"`
	Slot          uint32 `json:"slot"`
	Style         string `json:"style"`
	Position      int    `json:"position"`
	TrackingCode  string `json:"tracking_code"`
	TrackingHex   string `json:"tracking_hex"`
}

// ErrRowNotThere is returned by CheckRow when the slot entry the server
// points to does not hold the row.
var ErrRowNotThere = errors.New("view: the board entry does not hold this row")

// CheckRow checks what the ballot box says of a row (GET …/revote/rows/
// {hash}: the slot entry's index, the slot, style and position) against
// the entries themselves: manifestEntry is the board's first entry, which
// must carry the manifest the observer's fingerprint names and whose
// author is the election authority; slotEntry, fetched from the board at
// index, must be a revote-slot entry of the election's log signed by that
// authority, for that slot and style, whose row at position hashes to
// rowHash. The inclusion of slotEntry in a checkpoint is checked apart
// (CheckInclusion, with these bytes).
func CheckRow(manifest, manifestEntry []byte, rowHash [32]byte, index uint64, slot uint32, style string, position int, slotEntry []byte) (*RowPlace, error) {
	e, err := AuthorityEntry(manifest, manifestEntry, slotEntry, bulletin.TypeRevoteSlot)
	if err != nil {
		return nil, fmt.Errorf("%w: entry %d: %w", ErrRowNotThere, index, err)
	}
	sl, err := revote.DecodeSlot(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: entry %d: %w", ErrRowNotThere, index, err)
	}
	if sl.Slot != slot || sl.Style != style {
		return nil, fmt.Errorf("%w: the box names slot %d of style %q, entry %d is slot %d of style %q", ErrRowNotThere, slot, style, index, sl.Slot, sl.Style)
	}
	if position < 0 || position >= len(sl.Rows) {
		return nil, fmt.Errorf("%w: position %d outside slot %d's %d rows", ErrRowNotThere, position, sl.Slot, len(sl.Rows))
	}
	r := sl.Rows[position]
	if sha256.Sum256(r.Encode()) != rowHash {
		return nil, fmt.Errorf("%w: slot %d does not carry the row at position %d", ErrRowNotThere, sl.Slot, position)
	}
	code := ballot.TrackingCodeOf(r.Ballot)
	return &RowPlace{ReceiptNumber: revoterow.ReceiptNumber(rowHash), RowHash: base64.RawURLEncoding.EncodeToString(rowHash[:]),
		Index: index, Slot: sl.Slot, Style: sl.Style, Position: position, TrackingCode: code.String(), TrackingHex: hx(code[:])}, nil
}
