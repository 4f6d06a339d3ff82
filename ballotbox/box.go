// Package ballotbox is the server side of one or more elections: each
// election is one board.Log (durable, store-backed) and one
// election.State kept in step with it. Every entry the server appends goes
// through a Box, which checks it against the election rules first, so the
// board never holds an entry the auditor's verifier would refuse
// (spec/09-election.md §9.5, spec/10-api.md).
//
// Casting (Box.Cast) is the hot path. Its design:
//
//  1. without any lock: verify the voter's token (the tokens of concurrent
//     casts share one signature batch), then decode the ballot and build
//     its proof equations in the request's goroutine; one worker merges the
//     batches of the casts waiting and checks them with one multi-scalar
//     multiplication (falling back to one batch per ballot when the
//     combined check fails), so batches grow with the load;
//  2. under the box's mutex: the stateful rules (phase, credential, in-person
//     mark, fresh tracking code and ciphertexts, one-ballot policy) against
//     the applied state plus the reservations of casts still in flight,
//     then reserve this ballot's code, ciphertexts and pseudonym;
//  3. without the mutex: the append (Log.AppendAfter, against the state's
//     size the rules saw): the ballot entry's own signature (the device
//     key's) is checked there, in the board's batch signature verifier,
//     after the proofs and the reservation; concurrent appends then share
//     one store transaction (group commit). If another instance appended
//     past that size first, the append is refused as stale, and the box
//     applies the new entries and goes back to step 2 (spec §7.7.2);
//  4. under the mutex: apply the ballot to the State at the index the log
//     gave it; entries are applied strictly in index order (a small reorder
//     buffer keyed by index), so the State sees the log exactly as a
//     verifier replaying it will.
//
// Credentials go alongside casts, like a ballot (post.go,
// postCredential): checked under the mutex against the State and the
// credentials in flight, reserved, appended with the casts' group commit.
// Entries that change what a cast may do (in-person marks, lifecycle,
// trustee and official entries, the identity service's other entries)
// take an exclusive gate: they wait until no cast is in flight, are
// applied to the State, then appended.
// Benaloh audits are not appended when accepted: they wait in a durable
// pool and are published in shuffled batches on a schedule of board
// positions, the last just before the close (audit.go).
// A crash loses nothing acknowledged: the log is durable and Open rebuilds
// the State by replaying it.
package ballotbox

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/crypto/zkp"
	"evote/election"
	"evote/idp/token"
	"evote/record"
	"evote/store"
)

// Config configures one election's Box.
type Config struct {
	Store store.Store
	// LogKey signs the log's checkpoints; its Origin names the log.
	LogKey *bulletin.LogKey
	// Authority signs the manifest, lifecycle, context, qualified set,
	// audited ballots, cleansing and result entries.
	Authority ed25519.PrivateKey
	// Witnesses cosign the checkpoints given in receipts; Quorum of them
	// must (default all).
	Witnesses []Cosigner
	Quorum    int
	// Audience is the ballot box's name in voting tokens; if set it must be
	// the audience of the identity key set on the board.
	Audience string
	// BatchWindow is how long the proof gatherer waits for more ballots
	// when it has fewer than 16 (default DefaultBatchWindow); BatchMax
	// bounds a batch (default DefaultBatchMax).
	BatchWindow time.Duration
	BatchMax    int
	// AuditEvery and AuditMinBatch schedule the publication of accepted
	// Benaloh audits (spec §9.4, audit.go): whenever the board's size
	// reaches a multiple of AuditEvery and at least AuditMinBatch audits
	// wait, all of them are published as one shuffled batch; the rest
	// just before the close. Defaults DefaultAuditEvery and
	// DefaultAuditMinBatch.
	AuditEvery    uint64
	AuditMinBatch int
	// SnapshotEvery is how many entries the board grows between two
	// snapshots of the box's state (snapshot.go; default
	// DefaultSnapshotEvery); one is also taken on Close. NoSnapshots
	// turns snapshots off: none is taken, and Open ignores a stored one.
	SnapshotEvery uint64
	NoSnapshots   bool
	// Credentials gives the identity service's credentials for the dummy
	// rows of an election in deniable re-voting mode (spec §15.16.2).
	Credentials CredentialSource
	Now         func() time.Time
	Logger      *slog.Logger
}

// Box is one election's ballot box.
type Box struct {
	cfg  Config
	log  *board.Log
	auth [32]byte

	// gate: casts hold it shared from reservation to apply; entries that
	// change the rules for casts hold it exclusively.
	gate sync.RWMutex

	mu    sync.Mutex
	state *election.State
	// snap holds what casts need before taking the mutex: the election
	// (immutable once the context is applied) and the token verifier.
	snap    atomic.Pointer[castSnapshot]
	pending map[uint64]pendingApply // reorder buffer: index → entry
	fatal   error                   // a broken invariant: the box refuses everything
	closed  bool

	// Indices beyond election.State's. The tracking codes and ciphertext
	// hashes of applied entries are the state's alone (codeAt,
	// ciphertextAt): codes and ciphertexts hold only those of casts and
	// audits in flight (reservedPos) and of pooled audits
	// (auditPendingPos), so a restart builds one index of each, not two.
	codes       map[ballot.TrackingCode]uint64        // → reservedPos
	ciphertexts map[[32]byte]uint64                   // ciphertext hash → reservedPos or auditPendingPos
	inFlight    map[[32]byte]int                      // pseudonym → casts in flight
	devInFlight map[[32]byte]*record.CredentialIssued // credentials in flight, by device key
	audits      map[string]int                        // audits posted per token id (memory only)
	voters      voterMap                              // pseudonym → its entries
	turnout     map[string]int                        // style → distinct pseudonyms that cast
	invalid     map[uint64]string                     // positions of posted but invalid trustee entries
	lifecycle   []PhaseMark                           // the entries that moved the election to each phase

	// The audit pool (audit.go): accepted audits not yet on the board, by
	// tracking code; the full code of every accepted audit by the part
	// shown to voters; the board size at which the schedule next looks at
	// the pool; the flusher's signals; the source of the batches' order.
	pool           map[ballot.TrackingCode]*pooled
	auditCodes     map[ballot.ShownCode]ballot.TrackingCode
	nextAuditCheck uint64
	flushKick      chan struct{}
	flushStop      chan struct{}
	flushDone      chan struct{}
	flushOnce      sync.Once
	auditRand      io.Reader
	auditCodesAt   time.Time // when refreshAuditCodes last read the store
	// With several instances on one store (store.AuditFence, instances.go):
	// the pending audits other instances accepted, whose ciphertexts are
	// reserved here (auditPendingPos) but which this box does not publish
	// before the close, and the number of audits the store's pool held
	// when the box last looked, which its ballot appends name as their
	// fence.
	foreignAudits map[ballot.TrackingCode]*pooled
	auditsSeen    uint64

	// refused counts, per token id, the casts refused as invalid ballots
	// (memory only; its own lock, off the hot path's).
	refusedMu sync.Mutex
	refused   map[string]int

	// Snapshots (snapshot.go): the size of the latest one taken or
	// restored (under mu), the snapshotter's signals, and the size Open
	// restored from (0: full replay).
	snapSize     uint64
	snapKick     chan struct{}
	snapStop     chan struct{}
	snapDone     chan struct{}
	snapOnce     sync.Once
	restoredFrom uint64

	// Other instances' entries (instances.go): queued by the log under
	// fmu, applied by the follower.
	fmu        sync.Mutex
	foreign    []*foreignEntry
	followKick chan struct{}
	followStop context.CancelFunc
	followWG   sync.WaitGroup

	// Deniable re-voting (revote.go): the box's memory of rows and slots
	// (under mu), rebuilt from the ledger and the board; slotMu serialises
	// the slot posters.
	rv       *boxRevote
	slotMu   sync.Mutex
	slotStop context.CancelFunc
	slotDone chan struct{}

	proofs *gatherer[*zkp.Batch, struct{}]
	tokens *gatherer[tokenReq, *token.Claims]
	cp     *checkpointer
}

const reservedPos = ^uint64(0)

func (b *Box) resetIndices() {
	b.state = election.NewState()
	b.snap.Store(&castSnapshot{})
	b.pending = map[uint64]pendingApply{}
	b.codes = map[ballot.TrackingCode]uint64{}
	b.ciphertexts = map[[32]byte]uint64{}
	b.inFlight = map[[32]byte]int{}
	b.devInFlight = map[[32]byte]*record.CredentialIssued{}
	b.audits = map[string]int{}
	b.voters = voterMap{}
	b.turnout = map[string]int{}
	b.invalid = map[uint64]string{}
	b.lifecycle = nil
}

type pendingApply struct {
	entry     *bulletin.Entry
	cb        *election.CheckedBallot // nil for an audited ballot
	pseudonym [32]byte                // the caster, whose in-flight count drops once applied
	keys      [][32]byte              // hashes of the ballot's ciphertexts, computed once
	done      chan struct{}           // closed once applied (or the box halted)
	foreign   bool                    // appended by another instance
}

// castSnapshot is read by casts without the mutex.
type castSnapshot struct {
	el       *ballot.Election
	verifier *token.Verifier
}

type voterIndex struct {
	credentials []CredentialRef
	ballots     []BallotRef
	inPerson    *uint64
}

// CredentialRef is a credential-issued entry of a voter.
type CredentialRef struct {
	Index     uint64
	DeviceKey [32]byte
	IssuedAt  uint64
}

// BallotRef is a ballot entry of a voter.
type BallotRef struct {
	Index        uint64
	TrackingCode ballot.TrackingCode
}

// Open opens the election's log and rebuilds its State by replaying every
// entry through the election rules.
func Open(ctx context.Context, cfg Config) (*Box, error) {
	if cfg.Store == nil || cfg.LogKey == nil || len(cfg.Authority) != ed25519.PrivateKeySize {
		return nil, errors.New("ballotbox: Config needs Store, LogKey and Authority")
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = len(cfg.Witnesses)
	}
	if cfg.Quorum > len(cfg.Witnesses) {
		return nil, fmt.Errorf("ballotbox: quorum %d exceeds %d witnesses", cfg.Quorum, len(cfg.Witnesses))
	}
	if cfg.BatchWindow == 0 {
		cfg.BatchWindow = DefaultBatchWindow
	}
	if cfg.BatchMax == 0 {
		cfg.BatchMax = DefaultBatchMax
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AuditEvery == 0 {
		cfg.AuditEvery = DefaultAuditEvery
	}
	if cfg.AuditMinBatch <= 0 {
		cfg.AuditMinBatch = DefaultAuditMinBatch
	}
	b := &Box{cfg: cfg, auth: [32]byte(cfg.Authority.Public().(ed25519.PublicKey)), refused: map[string]int{},
		pool: map[ballot.TrackingCode]*pooled{}, foreignAudits: map[ballot.TrackingCode]*pooled{}, auditCodes: map[ballot.ShownCode]ballot.TrackingCode{}, auditRand: rand.Reader}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	b.cfg = cfg
	b.resetIndices()
	restored := false
	if !cfg.NoSnapshots {
		var err error
		if restored, err = b.openFromSnapshot(ctx); err != nil {
			cfg.Logger.Warn("ballot box snapshot not used; replaying the whole board", "origin", cfg.LogKey.Origin, "err", err)
		}
	}
	if !restored {
		b.resetIndices()
		l, err := board.Open(ctx, board.Config{Key: cfg.LogKey, Store: cfg.Store, Now: cfg.Now, IndexKey: trackingCodeKey})
		if err != nil {
			return nil, fmt.Errorf("ballotbox: %w", err)
		}
		b.log = l
		if err := b.replay(ctx); err != nil {
			l.Close()
			return nil, err
		}
	}
	l := b.log
	if err := b.loadAuditPool(ctx); err != nil {
		l.Close()
		return nil, err
	}
	b.nextAuditCheck = (b.state.Size/cfg.AuditEvery + 1) * cfg.AuditEvery
	b.proofs = newProofGatherer(cfg.BatchWindow, cfg.BatchMax, cfg.Logger)
	b.tokens = newTokenGatherer(cfg.BatchMax, cfg.Logger)
	b.follow()
	b.cp = newCheckpointer(b)
	if b.log.Size() > 0 {
		// Cosignatures live in memory only: get the replayed board's
		// checkpoint cosigned now, so that readers are served a witnessed
		// checkpoint of the whole log right after a restart, not only after
		// the next entry.
		b.cp.refresh()
	}
	b.flushKick, b.flushStop, b.flushDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go b.flusher()
	b.startSlotTimer()
	b.snapStop, b.snapDone = make(chan struct{}), make(chan struct{})
	if !cfg.NoSnapshots {
		b.mu.Lock()
		b.snapKick = make(chan struct{}, 1)
		b.mu.Unlock()
		go b.snapshotter()
	} else {
		close(b.snapDone)
	}
	return b, nil
}

// trackingCodeKey makes the tracking code of a ballot entry the log's
// secondary key, so that the board's lookup by code works and a second
// ballot with the same code can never be appended.
func trackingCodeKey(e *bulletin.Entry) ([32]byte, bool) {
	if e.Type != bulletin.TypeBallot {
		return [32]byte{}, false
	}
	return ballot.TrackingCodeOf(e.Payload), true
}

// replay applies every stored entry to a fresh state. It does not check
// the entries' signatures again: the board verified them all when it
// loaded (those its own signed checkpoint covers through the tree's root,
// the others one by one), and each record read back must be the entry the
// board loaded at that position (its hash in the board's index), so a row
// changed since is refused. Nor does it check again, or even parse, the
// proofs of the ballots that checkpoint covers (election.State.ReplayBallot
// checks their author and shape): this box appended them only after
// checking them, and the log signed them. The rules are applied to every
// entry as at append time.
func (b *Box) replay(ctx context.Context) error { return b.replayFrom(ctx, 0) }

// replayFrom replays the entries from index from on (the state holds the
// ones before).
func (b *Box) replayFrom(ctx context.Context, from uint64) error {
	size := b.log.Size()
	var covered uint64
	if cp := b.log.LatestCheckpoint(); cp != nil {
		covered = cp.Size
	}
	for next := from; next < size; {
		recs, err := b.log.Entries(ctx, next, min(size, next+store.MaxRange))
		if err != nil {
			return fmt.Errorf("ballotbox: replay: %w", err)
		}
		if len(recs) == 0 {
			return fmt.Errorf("ballotbox: replay: no entry %d", next)
		}
		es := make([]*bulletin.Entry, len(recs))
		var uncovered []*bulletin.Entry
		for i, r := range recs {
			if at, ok := b.log.IndexOf(sha256.Sum256(r.Data)); !ok || at != r.Index || r.Index != next+uint64(i) {
				return fmt.Errorf("%w: replay entry %d is not the entry the board loaded there", bulletin.ErrCorrupt, r.Index)
			}
			if es[i], err = bulletin.DecodeEntry(r.Data); err != nil {
				return fmt.Errorf("ballotbox: replay entry %d: %w", r.Index, err)
			}
			if r.Index >= covered {
				uncovered = append(uncovered, es[i])
			}
		}
		// Entries past the checkpoint were verified by the board too; a
		// second look costs little and keeps this independent of it.
		if err := bulletin.VerifyEntries(uncovered); err != nil {
			return fmt.Errorf("ballotbox: replay: %w", err)
		}
		for i, e := range es {
			var cb *election.CheckedBallot
			if e.Type == bulletin.TypeBallot && recs[i].Index < covered && b.state.Context != nil {
				// Without the proofs: they were checked before this box
				// appended the ballot.
				if cb, err = b.state.ReplayBallot(e); err != nil {
					return fmt.Errorf("ballotbox: replay entry %d: %w", recs[i].Index, err)
				}
			}
			if err := b.applyLocked(e, cb, nil); err != nil {
				return fmt.Errorf("ballotbox: replay entry %d: %w", recs[i].Index, err)
			}
		}
		next += uint64(len(recs))
	}
	return nil
}

// applyLocked applies e at the state's next position and updates the
// box's indices. b.mu is held (or the box is not shared yet).
func (b *Box) applyLocked(e *bulletin.Entry, cb *election.CheckedBallot, keys [][32]byte) error {
	pos := b.state.Size
	var err error
	if cb != nil {
		err = b.state.ApplyChecked(e, cb)
	} else {
		err = b.state.Apply(e)
	}
	if err != nil {
		return err
	}
	b.index(e, pos, keys)
	b.auditScheduleLocked()
	b.snapshotDueLocked()
	return nil
}

// index records what the box looks up beyond the State: each voter's
// entries and the turnout; it drops the reservations of an applied
// ballot's or audit's code and ciphertexts, which the state now holds.
func (b *Box) index(e *bulletin.Entry, pos uint64, keys [][32]byte) {
	s := b.state
	switch e.Type {
	case bulletin.TypeElectionContext:
		old := b.snap.Load()
		b.snap.Store(&castSnapshot{el: s.Election(), verifier: old.verifier})
	case bulletin.TypeIdentityKeySet:
		old := b.snap.Load()
		b.snap.Store(&castSnapshot{el: old.el, verifier: b.newVerifier()})
	case bulletin.TypeCredentialIssued:
		if c, err := record.DecodeCredentialIssued(e.Payload); err == nil {
			v := b.voter(c.Pseudonym)
			v.credentials = append(v.credentials, CredentialRef{Index: pos, DeviceKey: c.DeviceKey, IssuedAt: c.IssuedAt})
		}
	case bulletin.TypeInPersonMark:
		if m, err := record.DecodeInPersonMark(e.Payload); err == nil {
			p := pos
			b.voter(m.Pseudonym).inPerson = &p
		}
	case bulletin.TypeBallot:
		rec := s.Ballots[len(s.Ballots)-1]
		delete(b.codes, rec.Code)
		if keys == nil && len(b.ciphertexts) > 0 {
			keys = rec.CiphertextKeys()
		}
		for _, k := range keys {
			delete(b.ciphertexts, k)
		}
		v := b.voter(rec.Pseudonym)
		v.ballots = append(v.ballots, BallotRef{Index: pos, TrackingCode: rec.Code})
		if len(s.BallotsOf(rec.Pseudonym)) == 1 { // the voter's first
			b.turnout[rec.Style]++
		}
	case bulletin.TypeRevoteSlot:
		b.indexRevoteSlot(e, pos)
	case bulletin.TypeAuditedBallot:
		if len(b.ciphertexts) > 0 {
			if a, err := ballot.DecodeAuditedBallot(e.Payload); err == nil {
				for _, c := range a.Contests {
					for _, ct := range c.Ciphertexts {
						delete(b.ciphertexts, sha256.Sum256(ct.Bytes()))
					}
				}
			}
		}
	}
	if reason, bad := entryInvalid(s, e, pos); bad {
		b.invalid[pos] = reason
	}
	if n := len(b.lifecycle); n == 0 || b.lifecycle[n-1].Phase != s.Phase {
		m := PhaseMark{Phase: s.Phase, Index: pos}
		if t, err := election.DecodeTransition(e.Payload); err == nil && isTransition(e.Type) {
			m.At = t.At
		}
		b.lifecycle = append(b.lifecycle, m)
	}
}

// A PhaseMark is the board entry that moved the election into Phase: its
// position and, for an official's transition (open, close, transition
// entries), the time the official's request states (informational; the
// log's checkpoints date it within their bounds).
type PhaseMark struct {
	Phase election.Phase
	Index uint64
	At    uint64 // Unix seconds, 0 when the entry states none
}

func isTransition(t bulletin.Type) bool {
	return t == bulletin.TypeOpen || t == bulletin.TypeClose || t == bulletin.TypeTransition
}

// codeAt returns the position of the ballot with tracking code c, or
// reservedPos for a cast in flight.
func (b *Box) codeAt(c ballot.TrackingCode) (uint64, bool) {
	if p, ok := b.state.BallotByCode(c); ok {
		return p, true
	}
	p, ok := b.codes[c]
	return p, ok
}

// ciphertextAt returns the position of the ballot or audited ballot with
// a ciphertext hashing to k, or reservedPos (in flight) or
// auditPendingPos (a pooled audit).
func (b *Box) ciphertextAt(k [32]byte) (uint64, bool) {
	if p, ok := b.state.CiphertextAt(k); ok {
		return p, true
	}
	p, ok := b.ciphertexts[k]
	return p, ok
}

func (b *Box) voter(p [32]byte) *voterIndex { return b.voters.voter(p) }

// newVerifier builds the token verifier from the identity key set on the
// board (authenticated by the manifest's identity key): its keys, and each
// key's validity window, which a token's iat must lie in.
func (b *Box) newVerifier() *token.Verifier {
	ks := b.state.IdentityKeys
	if ks == nil || b.cfg.Audience != "" && ks.Audience != b.cfg.Audience {
		return nil
	}
	keys := map[string]ed25519.PublicKey{}
	windows := map[string]token.KeyWindow{}
	for _, k := range ks.Keys {
		keys[k.KeyID] = ed25519.PublicKey(k.PublicKey[:])
		w := token.KeyWindow{From: time.Unix(int64(k.ValidFrom), 0)}
		if k.RetiredAt != 0 {
			w.Until = time.Unix(int64(k.RetiredAt), 0)
		}
		windows[k.KeyID] = w
	}
	v, err := token.NewVerifier(token.VerifierConfig{Keys: keys, Windows: windows, Issuer: ks.Issuer, Audience: ks.Audience, ElectionID: ks.ElectionID, Now: b.cfg.Now})
	if err != nil {
		b.cfg.Logger.Error("identity key set unusable for token verification", "err", err)
		return nil
	}
	return v
}

// Log returns the election's bulletin board.
func (b *Box) Log() *board.Log { return b.log }

// AuthorityKey returns the public key of the election authority.
func (b *Box) AuthorityKey() [32]byte { return b.auth }

// Close refuses new work, waits for casts in flight, and closes the log.
func (b *Box) Close() error {
	// A clean shutdown leaves a snapshot of the final state, so the next
	// start replays nothing.
	b.slotStop()
	<-b.slotDone
	b.snapOnce.Do(func() { close(b.snapStop) })
	<-b.snapDone
	if !b.cfg.NoSnapshots {
		b.mu.Lock()
		due := b.snapSize < b.state.Size && b.check() == nil
		b.mu.Unlock()
		if due {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			if _, err := b.Snapshot(ctx); err != nil {
				b.cfg.Logger.Warn("ballot box snapshot at shutdown failed", "origin", b.cfg.LogKey.Origin, "err", err)
			}
			cancel()
		}
	}
	b.gate.Lock()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.gate.Unlock()
	b.flushOnce.Do(func() { close(b.flushStop) })
	<-b.flushDone
	b.stopFollowing()
	b.cp.stop()
	b.proofs.stop()
	b.tokens.stop()
	return b.log.Close()
}

// View is a consistent snapshot of what the public API shows.
type View struct {
	ElectionID  string
	Phase       election.Phase
	Manifest    *ballot.Manifest
	ManifestRaw []byte
	Context     *election.Context
	// ContextPosition is the election-context entry's log position, valid
	// when Context is set.
	ContextPosition uint64
	Size            uint64
	Ballots         int
	Turnout         map[string]int
	IdentityKeys    *record.IdentityKeySet
	// Lifecycle lists the entries that moved the election into each phase
	// so far, in board order.
	Lifecycle []PhaseMark
}

// View returns a snapshot of the election.
func (b *Box) View() View {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state
	v := View{Phase: s.Phase, Manifest: s.Manifest, Context: s.Context, ContextPosition: s.ContextPosition, Size: s.Size, Ballots: len(s.Ballots), Turnout: map[string]int{}, IdentityKeys: s.IdentityKeys}
	if s.Manifest != nil {
		v.ElectionID = s.Manifest.ElectionID
		v.ManifestRaw = s.Manifest.Encode()
	}
	for style, n := range b.turnout {
		v.Turnout[style] = n
	}
	v.Lifecycle = slices.Clone(b.lifecycle)
	return v
}

// VoterEntries is what the board holds under one pseudonym.
type VoterEntries struct {
	Credentials []CredentialRef
	Ballots     []BallotRef
	InPerson    *uint64
	// Counted is the position of the ballot the cleansing counts, once the
	// cleansing is posted.
	Counted *uint64
}

// Voter returns the entries under a pseudonym.
func (b *Box) Voter(p [32]byte) (VoterEntries, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v := b.voters.get(p)
	if v == nil {
		return VoterEntries{}, false
	}
	out := VoterEntries{Credentials: append([]CredentialRef(nil), v.credentials...), Ballots: append([]BallotRef(nil), v.ballots...), InPerson: v.inPerson}
	if c := b.state.Cleansing; c != nil {
		for _, br := range v.ballots {
			for _, p := range c.Counted {
				if p == br.Index {
					i := br.Index
					out.Counted = &i
				}
			}
		}
	}
	return out, true
}

// WithState runs f with the state under the box's lock; f must not keep
// references to mutable parts of it.
func (b *Box) WithState(f func(*election.State)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b.state)
}

// Invalid returns the reason a posted entry is invalid, if it is.
func (b *Box) Invalid(pos uint64) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.invalid[pos]
	return r, ok
}

func (b *Box) check() error {
	if b.closed {
		return ErrShutdown
	}
	return b.fatal
}

// Healthy reports a broken invariant or a closed box.
func (b *Box) Healthy() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.check()
}

// Cleansed reports whether the cleansing result is on the board.
func (b *Box) Cleansed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state.Cleansing != nil
}
