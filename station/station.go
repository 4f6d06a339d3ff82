// Package station is a polling station's device: it looks up the voter
// in front of the officials (spec/08-identity.md §8.8.5) and marks them as
// having voted in person, which overrides their online ballots, in either
// mode of the election:
//
//   - normally, the station and the official sign an InPersonMark
//     (§8.8.3) and the identity service posts it (POST
//     /v1/officials/marks); cleansing then cancels the voter's online
//     ballots;
//   - in deniable re-voting mode (spec §15.16.4) the mark is a row: the
//     device makes a key, the identity service answers a mark's token and
//     a credential for it, which the device checks as a voter's device
//     does; it builds the row (a blank ballot, flag 0 with its proof),
//     the station and official sign the mark statement, and the device
//     casts it at the ballot box (POST /elections/{id}/revote/marks). The
//     filter keeps it as the voter's last row.
//
// What the election is (its mode, key, context, the registered stations
// and officials) comes from the station's own witnessed replay of the
// board, never from a server's word. Most callers use [Station.Lookup],
// [Station.Mark] and, in deniable re-voting mode, [Station.AwaitPublished];
// `evote station` is the command built on them.
package station

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"evote/ballot"
	"evote/client"
	"evote/crypto/zkp"
	"evote/election"
	"evote/idp/registry"
	"evote/idp/voterlist"
	"evote/record"
	"evote/tally/revote"
	"evote/trustee"
)

// Errors of a station's device; the services' refusals are
// *client.APIError.
var (
	// ErrNotOpen: the board's election is not open for voting.
	ErrNotOpen = errors.New("station: voting is not open")
	// ErrAlreadyMarked: the look-up says the voter was marked already.
	ErrAlreadyMarked = errors.New("station: the voter is already marked as having voted in person")
	// ErrUnregistered: the station or the official is not registered on
	// the board with the key this device holds (spec §8.8.6).
	ErrUnregistered = errors.New("station: not registered on the board")
	// ErrMarkedNoRow (deniable re-voting mode): the identity service
	// recorded the mark, so the voter can no longer vote online, but the
	// mark's row was not cast, or its cast not confirmed: until it is,
	// the voter's online rows are not overridden.
	ErrMarkedNoRow = errors.New("station: the identity service recorded the mark, but the ballot box did not confirm the mark's row")
)

// Station is a polling station's device with the official who marks:
// ids and private keys as registered (spec §8.8.6), the services, and
// the device's replay of the board.
type Station struct {
	ElectionID string
	StationID  string
	StationKey ed25519.PrivateKey
	OfficialID string
	// OfficialKey is the polling official's, who signs with the station.
	OfficialKey ed25519.PrivateKey

	Box, Identity *client.Client
	// Board is the device's replay of the election's board, witnessed
	// against the published fingerprint and synced by the caller (Lookup
	// does not need it). Ready and Mark read it and do not sync it (so
	// that concurrent marks may share it); AwaitPublished syncs it.
	Board *trustee.Follower
	// Now is the device's clock (default time.Now): the look-up's and the
	// mark's time, which the identity service wants within 5 minutes of
	// its own.
	Now func() time.Time
}

func (s *Station) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func pub(k ed25519.PrivateKey) [32]byte { return [32]byte(k.Public().(ed25519.PublicKey)) }

// Voter is what a look-up tells the station (spec §8.8.5): no name, only
// what a mark needs and whether the voter was marked already.
type Voter struct {
	Pseudonym   [32]byte
	BallotStyle string
	MarkedAt    time.Time // zero if not marked
}

// Lookup asks the identity service for the voter with that PIN (the
// personal identification number of the voter's document, §8.1), signed
// by the station and the official.
func (s *Station) Lookup(ctx context.Context, pin string) (*Voter, error) {
	now := s.now()
	p, err := registry.ParsePIN(pin, now)
	if err != nil {
		return nil, fmt.Errorf("station: PIN: %w", err)
	}
	l := &voterlist.LookupRequest{ElectionID: s.ElectionID, StationID: s.StationID, OfficialID: s.OfficialID, PIN: p, At: uint64(now.Unix())}
	l.Sign(s.StationKey, s.OfficialKey)
	st, err := s.Identity.LookupVoter(ctx, &client.VoterLookup{ElectionID: l.ElectionID, StationID: l.StationID, OfficialID: l.OfficialID, PIN: p.Digits(),
		At: l.At, StationSig: l.StationSig, OfficialSig: l.OfficialSig})
	if err != nil {
		return nil, err
	}
	ps, err := ParsePseudonym(st.Pseudonym)
	if err != nil {
		return nil, err
	}
	v := &Voter{Pseudonym: ps, BallotStyle: st.BallotStyle}
	if st.MarkedAt != nil {
		v.MarkedAt = st.MarkedAt.UTC()
	}
	return v, nil
}

// Ready checks, on the board's replay, that the station may mark voters:
// the replay is of this election, voting is open (ErrNotOpen), and the
// station and the official are registered with the keys this device
// holds (ErrUnregistered). A station checks it before it looks anyone up.
func (s *Station) Ready() error {
	st := s.Board.State
	if st.Manifest == nil || st.Manifest.ElectionID != s.ElectionID {
		return fmt.Errorf("station: the board's replay is not of election %q", s.ElectionID)
	}
	if st.Phase != election.PhaseOpen {
		return fmt.Errorf("%w: the election is in phase %s", ErrNotOpen, st.Phase)
	}
	if err := st.CheckPolling(s.StationID, pub(s.StationKey), s.OfficialID, pub(s.OfficialKey)); err != nil {
		return fmt.Errorf("%w: %w", ErrUnregistered, err)
	}
	return nil
}

// Result is what a mark did.
type Result struct {
	// Revote: the election is in deniable re-voting mode and the mark is
	// a row; Row and Receipt are set.
	Revote   bool
	MarkedAt time.Time
	// Row is the mark's row as cast (canonical encoding).
	Row []byte
	// Receipt is the ballot box's answer: queued until the row's slot is
	// on the board (AwaitPublished).
	Receipt *client.RowReceipt
}

// Mark marks voter v, as looked up, as having voted in person, in the
// mode of the election on the board. It refuses first, without asking a
// server, a voter marked already, an election not open, a ballot style
// not the manifest's, and a station or official not registered with its
// key.
func (s *Station) Mark(ctx context.Context, v *Voter) (*Result, error) {
	if !v.MarkedAt.IsZero() {
		return nil, fmt.Errorf("%w (at %s UTC)", ErrAlreadyMarked, v.MarkedAt.Format(time.DateTime))
	}
	if err := s.Ready(); err != nil {
		return nil, err
	}
	st := s.Board.State
	if _, ok := st.Manifest.Style(v.BallotStyle); !ok {
		return nil, fmt.Errorf("station: the look-up answered ballot style %q, which the manifest does not have", v.BallotStyle)
	}
	now := s.now()
	mk := &record.InPersonMark{ElectionID: st.Manifest.ElectionID, ContextHash: st.Context.ExtendedHash, Pseudonym: v.Pseudonym, BallotStyle: v.BallotStyle,
		StationID: s.StationID, StationKey: pub(s.StationKey), OfficialID: s.OfficialID, OfficialKey: pub(s.OfficialKey), MarkedAt: uint64(now.Unix())}
	mk.Sign(s.StationKey, s.OfficialKey)
	res := &Result{MarkedAt: time.Unix(int64(mk.MarkedAt), 0).UTC()}
	if !st.Coercion() {
		return res, s.Identity.MarkInPerson(ctx, mk.Encode())
	}
	res.Revote = true
	var err error
	res.Row, res.Receipt, err = s.markRow(ctx, mk)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// markRow is the mark in deniable re-voting mode (spec §15.16.4): the
// identity service's token and credential for a new device key, the
// credential checked, the row (a blank ballot, flag 0 with its proof)
// and the opening (the flag's randomness, both signatures over the mark
// statement) checked as the box will, then cast.
func (s *Station) markRow(ctx context.Context, mk *record.InPersonMark) ([]byte, *client.RowReceipt, error) {
	st := s.Board.State
	el := st.Election()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	dev := pub(key)
	tok, err := s.Identity.MarkRevote(ctx, mk.Encode(), dev[:])
	if err != nil {
		return nil, nil, err
	}
	c, err := CheckCredential(el, tok, mk.Pseudonym, mk.BallotStyle, dev)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMarkedNoRow, err)
	}
	pb, err := el.Encrypt(mk.BallotStyle, dev, ballot.Selection{}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMarkedNoRow, err)
	}
	row := &revote.SignedRow{Credential: c.Raw, CredentialSig: c.Sig, Cred: c.Cred, Ballot: pb.Ballot.Encode(), B: pb.Ballot}
	ct, r, err := el.PublicKey.Encrypt(revote.FlagNone, rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMarkedNoRow, err)
	}
	proof, err := zkp.ProveRange(revote.FlagProofContext(el.ExtendedHash, dev), &zkp.RangeStatement{PK: el.PublicKey, Ciphertext: ct, Max: 1}, revote.FlagNone, r, rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMarkedNoRow, err)
	}
	row.Flag, row.FlagProof = ct, proof.Bytes()
	copy(row.DeviceSig[:], ed25519.Sign(key, revote.RowMessage(s.Board.Log, row)))
	k := &revote.Mark{Randomness: r, StationID: mk.StationID, StationKey: mk.StationKey, OfficialID: mk.OfficialID, OfficialKey: mk.OfficialKey}
	stmt := revote.MarkStatement(el.ExtendedHash, mk.BallotStyle, dev, k.StationID, k.OfficialID)
	copy(k.StationSig[:], ed25519.Sign(s.StationKey, stmt))
	copy(k.OfficialSig[:], ed25519.Sign(s.OfficialKey, stmt))
	// The rules' checks of the row and of its opening, as the box makes
	// them: a mistake here is the device's, found before the cast.
	if rc := st.RevoteRowChecker(); rc == nil {
		return nil, nil, fmt.Errorf("%w: the board has no identity key set yet", ErrMarkedNoRow)
	} else if err := rc.Check(s.Board.Log, row); err != nil {
		return nil, nil, fmt.Errorf("%w: the row: %w", ErrMarkedNoRow, err)
	}
	if err := st.CheckMark(mk.BallotStyle, dev, row.Flag, k); err != nil {
		return nil, nil, fmt.Errorf("%w: the opening: %w", ErrMarkedNoRow, err)
	}
	op := &client.MarkOpening{Randomness: [32]byte(r.Bytes()), StationID: k.StationID, StationKey: k.StationKey, OfficialID: k.OfficialID, OfficialKey: k.OfficialKey,
		StationSig: k.StationSig, OfficialSig: k.OfficialSig}
	enc := row.Encode()
	rc, err := retryTransient(ctx, retryWaits, func() (*client.RowReceipt, error) {
		return s.Box.CastMark(ctx, s.ElectionID, tok.Token, enc, op)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrMarkedNoRow, err)
	}
	return enc, rc, nil
}

// retryWaits are the waits between the tries of a mark's row. The
// identity service has recorded the mark by then, and the device's key
// and token live only in this process: a transient failure is tried
// again (the box answers a retry of the same row with its status).
var retryWaits = []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// retryTransient calls f, and again after each of waits while it fails
// transiently: no answer, a server error (5xx) or too many requests
// (429). It returns f's last answer.
func retryTransient(ctx context.Context, waits []time.Duration, f func() (*client.RowReceipt, error)) (*client.RowReceipt, error) {
	for i := 0; ; i++ {
		rc, err := f()
		var api *client.APIError
		transient := err != nil && ctx.Err() == nil && (!errors.As(err, &api) || api.Status >= 500 || api.Status == 429)
		if !transient || i == len(waits) {
			return rc, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(waits[i]):
		}
	}
}

// AwaitPublished polls the ballot box every interval until the mark's row
// is published in a slot (at most one slot and the cosigning, spec
// §15.16.3), syncs the replay and checks the receipt against it
// (CheckRowReceipt). It returns the checked receipt.
func (s *Station) AwaitPublished(ctx context.Context, res *Result, every time.Duration) (*client.RowReceipt, error) {
	if !res.Revote {
		return nil, errors.New("station: a mark in this mode is no row")
	}
	rc := res.Receipt
	for !rc.Published() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
		var err error
		if rc, err = s.Box.RowStatus(ctx, s.ElectionID, res.Receipt.RowHash); err != nil {
			return nil, err
		}
	}
	if err := s.Board.Sync(ctx); err != nil {
		return nil, err
	}
	// The slot and style are the slot entry's, as checked, not the box's
	// word beside them.
	sl, err := CheckRowReceipt(s.Board, res.Row, rc)
	if err != nil {
		return nil, err
	}
	checked := *rc
	checked.Slot, checked.Style = &sl.Slot, sl.Style
	return &checked, nil
}
