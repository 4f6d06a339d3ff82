package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
)

// The ballot box's private ledger in deniable re-voting mode (spec
// §15.16.5): the rows it accepted, in acceptance order, with the voter
// each belongs to, and the plan of each slot it posts. The ledger is never
// published: it is what the box is trusted with (who cast which row),
// kept so that an accepted cast survives a crash and the close can rank
// each voter's rows.

// RevoteCast is one row the box accepted: an online ballot or an
// in-person mark's row.
type RevoteCast struct {
	Seq     uint64   // acceptance order in the log's ledger, from 1; assigned by AddRevoteCast
	RowHash [32]byte // SHA-256 of Row
	Style   string
	Voter   [32]byte // the voter's pseudonym (the token's subject)
	Mark    bool     // an in-person mark's row
	Row     []byte   // the row's canonical encoding (spec §15.14.1)
	Extra   []byte   // a mark's opening and signatures; empty for a ballot
}

// RevotePlan is the plan of one slot of a ballot style, stored before the
// slot's entry is appended: the owner of each row (opaque to the store).
type RevotePlan struct {
	Style string
	Slot  uint32
	Plan  []byte
}

// Errors of AddRevoteCast.
var (
	// ErrRevoteLimit: the voter has as many online rows as allowed.
	ErrRevoteLimit = errors.New("store: the voter cast the most online ballots allowed")
	// ErrRevoteMarked: the voter has an in-person mark's row.
	ErrRevoteMarked = errors.New("store: the voter voted in person")
)

// RevoteLedger is implemented by a store that can keep the ballot box's
// ledger of deniable re-voting (both backends).
type RevoteLedger interface {
	// AddRevoteCast stores c durably before it returns and gives its Seq.
	// Atomically with the insert it refuses (storing nothing) a row whose
	// hash the log's ledger holds (ErrDuplicate), any row of a voter with
	// a mark (ErrRevoteMarked), and an online row of a voter who has
	// maxOnline online rows (ErrRevoteLimit), whichever process adds them.
	AddRevoteCast(ctx context.Context, log LogID, c RevoteCast, maxOnline int) (uint64, error)
	// RevoteCasts returns the log's casts with Seq > after, in Seq order.
	// A cast added after it returns, by any process, has a higher Seq than
	// every cast it returned, so that a reader following the ledger by Seq
	// misses none.
	RevoteCasts(ctx context.Context, log LogID, after uint64) ([]RevoteCast, error)
	// PutRevotePlan stores the plan of a style's slot, replacing any plan
	// stored for that slot (a slot not appended is planned again).
	PutRevotePlan(ctx context.Context, log LogID, p RevotePlan) error
	// RevotePlans returns the log's plans, by style then slot.
	RevotePlans(ctx context.Context, log LogID) ([]RevotePlan, error)
	// RevotePlan returns the plan of one slot of a style (ErrNotFound if
	// none).
	RevotePlan(ctx context.Context, log LogID, style string, slot uint32) (RevotePlan, error)
}

// CheckRevoteCast validates an AddRevoteCast argument the same way in
// every backend.
func CheckRevoteCast(c RevoteCast, maxOnline int) error {
	if len(c.Row) == 0 || len(c.Row) > MaxRecordSize || len(c.Extra) > MaxRecordSize || c.Style == "" || len(c.Style) > 255 {
		return fmt.Errorf("%w: cast row of %d bytes, style %q", ErrInvalid, len(c.Row), c.Style)
	}
	if sha256.Sum256(c.Row) != c.RowHash {
		return fmt.Errorf("%w: cast row hash does not match its row", ErrInvalid)
	}
	if maxOnline < 1 {
		return fmt.Errorf("%w: at most %d online rows", ErrInvalid, maxOnline)
	}
	return nil
}

// CheckRevotePlan validates a PutRevotePlan argument.
func CheckRevotePlan(p RevotePlan) error {
	if p.Style == "" || len(p.Style) > 255 || len(p.Plan) == 0 || len(p.Plan) > MaxRecordSize {
		return fmt.Errorf("%w: plan of %d bytes, style %q", ErrInvalid, len(p.Plan), p.Style)
	}
	return nil
}
