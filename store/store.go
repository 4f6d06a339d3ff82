// Package store persists evote's bulletin-board logs. One Store hosts the
// logs of many elections, each keyed by its 32-byte log id
// (spec/07-bulletin.md §7.1). The store is deliberately ignorant of entry
// formats: it keeps opaque canonical bytes with their hash and type, assigns
// nothing itself, and enforces only what storage must enforce — that a log
// grows by appending at its end, that an entry hash occurs once, that
// nothing is ever updated or deleted, and that an append is durable before
// it returns.
//
// Beside each log the store keeps the ballot box's pool of Benaloh audits
// accepted but not yet published (spec/09-election.md §9.4): opaque entry
// and ballot bytes under their tracking code, never deleted, whose only
// change is being marked published once a batch put them on the board.
//
// Two backends implement Store and pass the shared suite in store/storetest:
// store/postgres (pgx, for servers) and store/sqlite (pure Go, embedded, the
// default that needs no setup).
package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Limits every backend enforces.
const (
	// MaxRange is the largest number of records one Range call returns.
	MaxRange = 10000
	// MaxRecordSize bounds one stored record: the board's largest entry
	// (a payload of 256 MiB, bulletin.MaxPayload, with its header and
	// signature: a mix of about 1.2 million rows) must fit, or the box
	// accepts what it cannot store. It was 64 MiB, which refused every mix
	// of more than about 290,000 rows (found by the million-ballot run).
	MaxRecordSize = 257 << 20
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no such record or checkpoint.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate: an appended record's hash is already stored.
	ErrDuplicate = errors.New("store: duplicate entry hash")
	// ErrConflict: the append did not start at the log's current size (a
	// concurrent writer, or a caller with a stale view).
	ErrConflict = errors.New("store: append does not start at the end of the log")
	// ErrInvalid: malformed arguments (bad range, oversized record, …).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrCheckpointOrder: a checkpoint not larger than the latest stored one.
	ErrCheckpointOrder = errors.New("store: checkpoint does not extend the latest one")
	// ErrAuditFence: an append made with WithAuditFence found that the
	// log's audit pool no longer holds the number of audits its entries
	// were checked against (another process accepted an audit); nothing
	// is stored.
	ErrAuditFence = errors.New("store: the log's audit pool changed since the entries were checked")
)

// LogID names one election's log.
type LogID [32]byte

// Record is one stored log entry.
type Record struct {
	Index uint64   // position in the log, from 0
	Hash  [32]byte // SHA-256 of Data (the entry hash)
	Type  uint16   // entry type, kept for filtering
	Data  []byte   // canonical entry bytes
}

// Checkpoint is one stored signed checkpoint note.
type Checkpoint struct {
	Size uint64 // tree size it covers
	Note []byte // the signed note, verbatim
}

// Store is the storage the bulletin board needs. All methods are safe for
// concurrent use.
type Store interface {
	// Append stores recs at indices first, first+1, … of the log in one
	// atomic, durable transaction. It fails with ErrConflict unless first
	// equals the log's current size, with ErrDuplicate if any hash is
	// already stored (in any log), and with ErrInvalid for malformed
	// records; on any error nothing is stored. recs[i].Index is ignored.
	Append(ctx context.Context, log LogID, first uint64, recs []Record) error
	// Size returns the number of records in the log (0 for an unknown log).
	Size(ctx context.Context, log LogID) (uint64, error)
	// Range returns the records with start ≤ index < end, in order; end may
	// exceed the size (the result is then shorter) but end − start must not
	// exceed MaxRange.
	Range(ctx context.Context, log LogID, start, end uint64) ([]Record, error)
	// ByHash returns the record of the log with the given entry hash.
	ByHash(ctx context.Context, log LogID, hash [32]byte) (Record, error)
	// PutCheckpoint stores a signed checkpoint for the given size, which
	// must exceed the latest stored size (ErrCheckpointOrder) and must not
	// exceed the log's size (ErrInvalid).
	PutCheckpoint(ctx context.Context, log LogID, cp Checkpoint) error
	// LatestCheckpoint returns the checkpoint with the largest size.
	LatestCheckpoint(ctx context.Context, log LogID) (Checkpoint, error)
	// CheckpointAt returns the checkpoint stored for exactly that size.
	CheckpointAt(ctx context.Context, log LogID, size uint64) (Checkpoint, error)
	// Subscribe returns a channel that receives the log's new size after
	// each append (possibly coalesced: a receiver always eventually sees
	// the latest size). The channel is closed when ctx ends or the store
	// closes.
	Subscribe(ctx context.Context, log LogID) (<-chan uint64, error)

	// AddAudit stores an accepted audit, not published, durably before it
	// returns. It fails with ErrDuplicate if the log already holds an audit
	// with that code or any log one with that entry hash, and with
	// ErrInvalid for a malformed audit; on error nothing is stored.
	// a.Published is ignored.
	AddAudit(ctx context.Context, log LogID, a Audit) error
	// Audits returns the log's audits (only those not yet published if
	// pendingOnly), ordered by code: an order that says nothing about when
	// they were accepted.
	Audits(ctx context.Context, log LogID, pendingOnly bool) ([]Audit, error)
	// AuditByCode returns the log's audit with that tracking code
	// (ErrNotFound if none).
	AuditByCode(ctx context.Context, log LogID, code [32]byte) (Audit, error)
	// MarkAuditsPublished records that the audits with these codes are on
	// the board. It is idempotent; codes the log does not hold are ignored.
	MarkAuditsPublished(ctx context.Context, log LogID, codes [][32]byte) error

	// PutSnapshot stores a snapshot of the log's owner's state at a size
	// no larger than the log's (ErrInvalid otherwise), replacing the
	// stored one, in one atomic, durable transaction: after a crash the
	// store holds either the old snapshot whole or the new one whole. The
	// store does not interpret the bytes (spec/07-bulletin.md §7.7.1).
	PutSnapshot(ctx context.Context, log LogID, s Snapshot) error
	// LatestSnapshot returns the log's stored snapshot (ErrNotFound if
	// none).
	LatestSnapshot(ctx context.Context, log LogID) (Snapshot, error)

	// Close releases the store's resources.
	Close() error
}

// Sizer is implemented by a store that can tell its records' sizes
// without reading them: the board's read API plans its pages by bytes
// with it, so that one read never loads more than a page's byte budget
// and one entry (spec/07-bulletin.md §7.9).
type Sizer interface {
	// Sizes returns len(Data) of the records with start ≤ index < end, in
	// order, with Range's limits (shorter if end exceeds the size).
	Sizes(ctx context.Context, log LogID, start, end uint64) ([]uint64, error)
}

// Barrier is implemented by a store that several processes may append to
// (store/postgres): Barrier waits until the log's appends in progress have
// committed and holds every other process's appends back until release is
// called (or this process dies), so that the holder can bring its view up
// to the store's, check an entry against it and append it with nothing
// appended in between (spec/07-bulletin.md §7.7.2). The holder's own
// appends pass a context made by WithBarrier.
type Barrier interface {
	Barrier(ctx context.Context, log LogID) (release func(), err error)
}

// CheckpointLock is implemented by a store whose log several processes
// may sign checkpoints for with one key (store/postgres): CheckpointLock
// waits until no other process holds the log's checkpoint lock and holds
// it until release is called (or this process's connection ends). The
// holder looks for a stored checkpoint covering the size it would sign
// and adopts it, or signs and stores one, so that the log's key signs at
// most one note per size (spec/07-bulletin.md §7.7). The lock is apart
// from the log's append lock and barrier: appends do not wait for it.
type CheckpointLock interface {
	CheckpointLock(ctx context.Context, log LogID) (release func(), err error)
}

// AuditFence is implemented by a store whose log several processes may
// append ballots to and accept Benaloh audits for (store/postgres): a
// ballot checked against the pool as it held n audits must not be
// appended after another process added an audit whose ciphertexts it
// repeats (spec/07-bulletin.md §7.7.2). A process adds audits only while
// it holds the log's barrier (Barrier), its view of the board and the
// pool brought up to the store's first; an append whose context carries
// WithAuditFence(n) commits only if the log's pool holds exactly n
// audits, published or not (else ErrAuditFence). Audits are never
// deleted, so the count only grows.
type AuditFence interface {
	// AuditCount returns how many audits the log's pool holds, published
	// or not.
	AuditCount(ctx context.Context, log LogID) (uint64, error)
}

// CheckpointClaim is implemented by a store whose log several processes
// may sign checkpoints for with one key (store/postgres). Before signing
// a checkpoint the log claims the body it would sign at that size;
// ClaimCheckpoint stores body for the size unless a body is stored for it
// already, durably, and returns the stored one, which is the only body
// the log then signs at that size. A process that signed and lost its
// connection before storing the note (so that another process, finding no
// note, signs at that size) has thus signed the very checkpoint the other
// signs (spec/07-bulletin.md §7.7).
type CheckpointClaim interface {
	ClaimCheckpoint(ctx context.Context, log LogID, size uint64, body []byte) ([]byte, error)
}

type auditFenceKey struct{}

// WithAuditFence marks ctx as that of an append whose entries were
// checked against a pool of n audits (AuditFence).
func WithAuditFence(ctx context.Context, n uint64) context.Context {
	return context.WithValue(ctx, auditFenceKey{}, n)
}

// AuditFenceOf returns the fence WithAuditFence put in ctx.
func AuditFenceOf(ctx context.Context) (uint64, bool) {
	n, ok := ctx.Value(auditFenceKey{}).(uint64)
	return n, ok
}

type barrierKey struct{}

// WithBarrier marks ctx as that of an append by the holder of the log's
// barrier (which would otherwise wait for itself).
func WithBarrier(ctx context.Context) context.Context {
	return context.WithValue(ctx, barrierKey{}, true)
}

// HoldsBarrier reports whether ctx was made by WithBarrier.
func HoldsBarrier(ctx context.Context) bool {
	v, _ := ctx.Value(barrierKey{}).(bool)
	return v
}

// SnapshotStreamer is implemented by a store that can hand out a stored
// snapshot part by part (both backends do), so that its reader works on
// the first parts while the next are read.
type SnapshotStreamer interface {
	// StreamSnapshot reads the log's snapshot as LatestSnapshot does (one
	// read transaction; ErrNotFound if none): it calls begin with the size
	// the snapshot covers and its length in bytes, then part with each
	// part in order, a slice the callee may keep. An error from begin or
	// part stops the read and is returned.
	StreamSnapshot(ctx context.Context, log LogID, begin func(size uint64, length int64) error, part func([]byte) error) error
}

// ReadSnapshot reads a snapshot whole with a StreamSnapshot.
func ReadSnapshot(ctx context.Context, log LogID, stream func(ctx context.Context, log LogID, begin func(uint64, int64) error, part func([]byte) error) error) (Snapshot, error) {
	var out Snapshot
	err := stream(ctx, log, func(size uint64, length int64) error {
		out.Size, out.Data = size, make([]byte, 0, length)
		return nil
	}, func(p []byte) error {
		out.Data = append(out.Data, p...)
		return nil
	})
	if err != nil {
		return Snapshot{}, err
	}
	return out, nil
}

// Snapshot is the persisted state of a log's owner at a tree size: opaque
// bytes that the owner authenticates and checks against the log before it
// uses them. Backends may split Data into parts of SnapshotPart bytes.
type Snapshot struct {
	Size uint64
	Data []byte
}

// Snapshot limits: a snapshot is stored in parts of at most SnapshotPart
// bytes and is at most MaxSnapshot bytes in all.
const (
	SnapshotPart = 8 << 20
	MaxSnapshot  = 4 << 30
)

// CheckSnapshot validates a PutSnapshot argument the same way in every
// backend.
func CheckSnapshot(s Snapshot) error {
	if len(s.Data) == 0 || len(s.Data) > MaxSnapshot || s.Size > 1<<62 {
		return fmt.Errorf("%w: snapshot of %d bytes at size %d", ErrInvalid, len(s.Data), s.Size)
	}
	return nil
}

// SnapshotParts splits snapshot data into its stored parts.
func SnapshotParts(data []byte) [][]byte {
	var parts [][]byte
	for len(data) > SnapshotPart {
		parts = append(parts, data[:SnapshotPart])
		data = data[SnapshotPart:]
	}
	return append(parts, data)
}

// Audit is a Benaloh audit the ballot box accepted (spec/09-election.md
// §9.4): the signed audited-ballot entry that publishes it, kept here until
// a batch puts it on the board, and the prepared ballot it opens, which the
// voter's second device checks against the tracking code it was shown.
// Nothing in it records when it was accepted.
type Audit struct {
	Code      [32]byte // tracking code of the prepared ballot
	EntryHash [32]byte // SHA-256 of Entry
	Entry     []byte   // canonical audited-ballot entry, signed
	Ballot    []byte   // canonical prepared ballot
	Published bool     // Entry is on the board
}

// CheckAudit validates an AddAudit argument the same way in every backend.
func CheckAudit(a Audit) error {
	if len(a.Entry) == 0 || len(a.Entry) > MaxRecordSize || len(a.Ballot) == 0 || len(a.Ballot) > MaxRecordSize {
		return fmt.Errorf("%w: audit entry of %d bytes, ballot of %d", ErrInvalid, len(a.Entry), len(a.Ballot))
	}
	if sha256.Sum256(a.Entry) != a.EntryHash {
		return fmt.Errorf("%w: audit entry hash does not match its entry", ErrInvalid)
	}
	return nil
}

// CheckRecords validates an append's arguments the same way in every
// backend.
func CheckRecords(recs []Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("%w: empty append", ErrInvalid)
	}
	seen := make(map[[32]byte]struct{}, len(recs))
	for i := range recs {
		if len(recs[i].Data) == 0 || len(recs[i].Data) > MaxRecordSize {
			return fmt.Errorf("%w: record %d size %d out of bounds", ErrInvalid, i, len(recs[i].Data))
		}
		if _, dup := seen[recs[i].Hash]; dup {
			return fmt.Errorf("%w: record %d repeats an earlier one", ErrDuplicate, i)
		}
		seen[recs[i].Hash] = struct{}{}
	}
	return nil
}

// CheckRange validates Range arguments.
func CheckRange(start, end uint64) error {
	if end < start || end-start > MaxRange || end > 1<<62 {
		return fmt.Errorf("%w: bad range [%d, %d)", ErrInvalid, start, end)
	}
	return nil
}
