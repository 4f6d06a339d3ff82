package desk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"evote/client"
	"evote/idp/registry"
	"evote/station"
	"evote/tally/revote"
)

// StationDesk is the desk's Station over package station: look-ups at
// the identity service, signed by the station and the official; marks
// after the station's own copy of the board (St.Board, a replay of the
// election whose manifest has the published fingerprint) is brought to a
// checkpoint the witnesses cosigned and the station checked registered
// there, as evote station mark does.
type StationDesk struct {
	St *station.Station
	// Poll is how often a mark's row is asked for while the desk waits
	// for it on the board (deniable re-voting).
	Poll time.Duration

	mu sync.Mutex // the board's replay is shared: one step on it at a time
}

// Lookup finds the voter with that PIN.
func (d *StationDesk) Lookup(ctx context.Context, pin string) (*Voter, error) {
	pin = strings.ReplaceAll(strings.TrimSpace(pin), " ", "")
	if _, err := registry.ParsePIN(pin, time.Now()); err != nil {
		return nil, &Refusal{Key: "pin", Err: err}
	}
	v, err := d.St.Lookup(ctx, pin)
	if err != nil {
		return nil, refusal(err)
	}
	return &Voter{BallotStyle: v.BallotStyle, MarkedAt: v.MarkedAt}, nil
}

// Mark records the vote in person of the voter with that PIN, looked up
// again at that moment. In deniable re-voting mode the mark is a row:
// Marked.Await waits for it on the board and checks its receipt there.
func (d *StationDesk) Mark(ctx context.Context, pin string) (*Marked, error) {
	pin = strings.ReplaceAll(strings.TrimSpace(pin), " ", "")
	if _, err := registry.ParsePIN(pin, time.Now()); err != nil {
		return nil, &Refusal{Key: "pin", Err: err}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.St.Board.Witness(ctx); err != nil {
		return nil, &Refusal{Key: "unreachable", Err: fmt.Errorf("this station's copy of the board: %w", err)}
	}
	if err := d.St.Ready(); err != nil {
		return nil, refusal(err)
	}
	v, err := d.St.Lookup(ctx, pin)
	if err != nil {
		return nil, refusal(err)
	}
	res, err := d.St.Mark(ctx, v)
	if err != nil {
		return nil, refusal(err)
	}
	m := &Marked{BallotStyle: v.BallotStyle, At: res.MarkedAt}
	if res.Revote {
		m.Await = func(ctx context.Context) (*Published, error) { return d.await(ctx, res) }
	}
	return m, nil
}

// await asks the ballot box every Poll for the mark's row until it is
// published, then checks the receipt on the station's replay of the board
// brought to a checkpoint the witnesses cosigned. The replay is held only
// while it is brought forward and read, never while the desk sleeps, so
// that other marks go on. Slot and style shown are those of the slot
// entry checked, not the box's word.
func (d *StationDesk) await(ctx context.Context, res *station.Result) (*Published, error) {
	rc := res.Receipt
	for {
		if rc.Published() {
			if rc.Index == nil || rc.Position == nil {
				return nil, &Refusal{Key: "marked_no_row", Err: errors.New("the ballot box's receipt of the mark's row names no board entry or position")}
			}
			sl, covered, err := d.check(ctx, res.Row, rc)
			if err != nil {
				return nil, err
			}
			if covered {
				return &Published{Slot: sl.Slot, Style: sl.Style, Index: *rc.Index, RowHash: rc.RowHash, Position: *rc.Position}, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d.Poll):
		}
		var err error
		if rc, err = d.St.Box.RowStatus(ctx, d.St.ElectionID, res.Receipt.RowHash); err != nil {
			return nil, &Refusal{Key: "unreachable", Err: err}
		}
	}
}

// check brings the replay to the latest cosigned checkpoint and, if that
// covers the receipt's entry, checks the receipt there.
func (d *StationDesk) check(ctx context.Context, row []byte, rc *client.RowReceipt) (*revote.Slot, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.St.Board.Witness(ctx); err != nil {
		return nil, false, &Refusal{Key: "unreachable", Err: err}
	}
	if *rc.Index >= uint64(len(d.St.Board.Entries)) {
		return nil, false, nil
	}
	h := sha256.Sum256(row)
	sl, err := station.CheckRowPublished(d.St.Board, h, rc)
	if err != nil {
		return nil, false, &Refusal{Key: "marked_no_row", Err: err}
	}
	return sl, true, nil
}

// refusal names what went wrong in the staff's terms (Refusals).
func refusal(err error) error { return &Refusal{Key: Reason(err), Err: err} }

// Reason classifies an error of package station or of the services it
// asks into one of Refusals ("unreachable" when it is none of the
// others), for the desk and for evote station's messages alike.
func Reason(err error) string {
	var api *client.APIError
	switch {
	case errors.Is(err, station.ErrUnregistered):
		return "unregistered"
	case errors.Is(err, station.ErrNotOpen):
		return "not_open"
	case errors.Is(err, station.ErrAlreadyMarked):
		return "already_marked"
	case errors.Is(err, station.ErrMarkedNoRow):
		return "marked_no_row"
	case errors.As(err, &api):
		switch api.Code {
		case "not_on_voter_list":
			return "not_on_list"
		case "official_refused":
			return "official_refused"
		case "conflict":
			if strings.Contains(api.Message, "already marked") {
				return "already_marked"
			}
			return "conflict"
		case "voting_closed":
			return "not_open"
		case "client_locked", "rate_limited":
			return "rate_limited"
		}
	}
	return "unreachable"
}
