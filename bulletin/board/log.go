package board

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"evote/bulletin"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"evote/crypto/sig"
	"evote/internal/batcher"
	"evote/store"
)

// Config configures a Log.
type Config struct {
	Key   *bulletin.LogKey // signing identity; Key.Origin names the log
	Store store.Store      // where entries and checkpoints live
	// Authorize, if set, is called for every entry before it is accepted
	// (after structural checks, before the signature check) so the owner of
	// each entry type can restrict who may author it.
	Authorize func(*bulletin.Entry) error
	// MaxBatch bounds the entries committed in one store transaction by the
	// group committer (default DefaultMaxBatch).
	MaxBatch int
	// Now is the clock for checkpoint times (default time.Now).
	Now func() time.Time
	// IndexKey, if set, gives entries a secondary key whose first
	// KeyPrefix bytes must be unique in the log, and which can be looked up
	// whole (LookupKey) or by those bytes (LookupKeyPrefix); the server sets
	// it to the ballot tracking code (package ballot) so that lookups by
	// code, or by the part of it shown to voters, work and a second ballot
	// with an existing (shown) code is refused.
	IndexKey func(*bulletin.Entry) (key [32]byte, ok bool)
	// Base, if set, gives the log's first entries from a snapshot (the
	// ballot box's, spec/07-bulletin.md §7.7.1) so that Open reads only
	// the entries after them. Open checks it against a checkpoint the log
	// signed and refuses it (ErrBaseRefused) if it does not match; it never
	// falls back by itself.
	Base *Base
}

// Base is the board part of a snapshot: the entry hashes and leaf hashes
// of the log's first len(Leaves) entries, the IndexKeys among them, and
// the hash of the signed checkpoint at that size, which must be in the
// store and whose root the leaves must give. Open keeps Leaves as the
// tree's bottom level, and Hashes and Keys as its frozen indices
// (frozen.go): the caller must not use them afterwards.
type Base struct {
	Hashes     [][32]byte
	Leaves     [][32]byte
	Keys       []KeyAt  // in increasing index order
	Checkpoint [32]byte // SHA-256 of the checkpoint note at size len(Leaves)

	prep     sync.Once
	tree     *bulletin.Tree
	hashes   hashIndex
	repeated int // the first entry whose hash repeats an earlier one, or −1
}

// Prepare builds the tree of b's leaves and the index of its entry
// hashes, which Open needs (and builds itself if Prepare has not been
// called). It checks nothing against the log: a caller still reading
// the rest of the snapshot can build them meanwhile, on another core;
// Hashes and Leaves must not change afterwards. It may be called more
// than once, from any goroutine.
func (b *Base) Prepare() {
	b.prep.Do(func() {
		if len(b.Leaves) == 0 || len(b.Hashes) != len(b.Leaves) {
			return
		}
		done := make(chan struct{})
		go func() {
			b.hashes, b.repeated = frozenHashIndex(b.Hashes)
			close(done)
		}()
		b.tree = bulletin.NewTreeOf(b.Leaves)
		<-done
	})
}

// KeyAt is the IndexKey of the entry at Index.
type KeyAt struct {
	Key   [32]byte
	Index uint64
}

// ErrBaseRefused is returned by Open for a Base that does not match the
// log: the caller opens again without it.
var ErrBaseRefused = errors.New("bulletin: snapshot base refused")

// Log is one election's append-only bulletin board: the store holds the
// entries, an in-memory bulletin.Tree mirrors them for roots and proofs. Appends from
// concurrent callers are grouped into one durable store transaction (group
// commit); an Append returns only once its entries are durable.
type Log struct {
	cfg    Config
	id     bulletin.LogID
	sid    store.LogID // the same bytes, as the store names the log
	tree   *bulletin.Tree
	hmu    sync.RWMutex
	hashes hashIndex // entry hash → index
	keys   keyIndex  // IndexKey → index

	// verifiers check the signatures of appends in batches and pass the
	// valid requests on to commits, the single writer (internal/batcher
	// forms both's batches).
	verifiers *batcher.Batcher[*appendReq]
	commits   *batcher.Batcher[*appendReq]
	quit      chan struct{}
	closing   context.Context // cancelled with quit closed
	cancel    context.CancelFunc
	closeOnce sync.Once

	cpMu   sync.Mutex
	latest *bulletin.SignedCheckpoint
	// unsettled is a checkpoint signed whose storing failed without the
	// store refusing it: it may be stored. It is settled (settleCheckpoint)
	// before any other is signed, so that the log never signs two
	// different checkpoints at one size.
	unsettled *bulletin.SignedCheckpoint
	// cosigned is the latest checkpoint with witnesses' cosignatures
	// (SetCosigned).
	cosigned *bulletin.SignedCheckpoint

	hub store.Hub // announces sizes after the tree has grown
	// loadMu serialises the tree's growth: loading entries from the store
	// and committing the log's own appends.
	loadMu sync.Mutex

	// Several writers (evoted instances) may append to one store log
	// (spec/07-bulletin.md §7.8): entries loaded from the store rather than
	// committed by this Log are "foreign". foreignEnd is the end index of
	// the latest foreign entries loaded; onForeign, if set, receives them
	// in index order before their size is announced (under loadMu).
	foreignEnd atomic.Uint64
	onForeign  func(first uint64, entries []*bulletin.Entry)
}

// ErrStale refuses an AppendAfter whose caller checked its entries against
// a view of the log that entries of another writer have since extended:
// the caller applies them, checks its entries again and retries.
var ErrStale = errors.New("bulletin: the log grew under another writer since the entries were checked")

// Unchecked is the horizon of Append: the caller does not depend on
// entries of other writers.
const Unchecked = ^uint64(0)

type appendReq struct {
	entries []*bulletin.Entry
	recs    []store.Record
	leaves  [][32]byte
	keys    []indexKey
	result  chan appendResult
	// horizon: every foreign entry must lie before it (AppendAfter), or
	// Unchecked.
	horizon uint64
	// barrier: the caller holds the log's store barrier (store.WithBarrier).
	barrier bool
	// fenced: the caller checked its entries against a store audit pool
	// of fence audits (store.WithAuditFence).
	fenced bool
	fence  uint64
}

// indexKey is an entry's IndexKey and its position in the request.
type indexKey struct {
	key [32]byte
	pos int
}

type appendResult struct {
	first uint64
	err   error
}

// Open loads the log from the store, recomputes the Merkle tree from every
// stored entry and verifies it against the latest stored checkpoint, so a
// log reopened after a crash is known to be consistent.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Key == nil || cfg.Store == nil || cfg.Key.Ed25519 == nil {
		return nil, errors.New("bulletin: Config needs Key and Store")
	}
	if err := bulletin.ValidOrigin(cfg.Key.Origin); err != nil {
		return nil, err
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{
		cfg:    cfg,
		id:     bulletin.LogIDFor(cfg.Key.Origin),
		sid:    store.LogID(bulletin.LogIDFor(cfg.Key.Origin)),
		tree:   bulletin.NewTree(),
		hashes: newHashIndex(),
		keys:   newKeyIndex(),
		quit:   make(chan struct{}),
	}
	if cfg.Base != nil {
		err := l.restoreBase(ctx, cfg.Base)
		l.cfg.Base = nil // not kept: the tree and maps own its data now
		if err != nil {
			return nil, err
		}
	}
	// Entries covered by the latest signed checkpoint are checked against
	// its root; the others have their signatures checked.
	cpRec, err := cfg.Store.LatestCheckpoint(ctx, l.sid)
	hasCP := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("bulletin: open: %w", err)
	}
	var verifyFrom uint64
	if hasCP {
		verifyFrom = cpRec.Size
	}
	if err := l.load(ctx, verifyFrom); err != nil {
		return nil, err
	}
	if hasCP {
		c, _, err := bulletin.VerifyCheckpoint(cpRec.Note, cfg.Key.Verifier())
		if err != nil {
			return nil, fmt.Errorf("%w: latest stored checkpoint: %w", bulletin.ErrCorrupt, err)
		}
		root, err := l.tree.RootAt(c.Size)
		if err != nil || root != c.Root || c.Size != cpRec.Size {
			return nil, fmt.Errorf("%w: checkpoint at size %d does not match the stored entries", bulletin.ErrCorrupt, c.Size)
		}
		l.latest = &bulletin.SignedCheckpoint{Checkpoint: c, Note: cpRec.Note}
	}
	l.closing, l.cancel = context.WithCancel(context.Background())
	l.startBatchers()
	return l, nil
}

// restoreBase starts the log from b after checking it against the log:
// the store holds a checkpoint at b's size whose note hashes to
// b.Checkpoint, signed with the log's key, whose root is the root of b's
// leaves; the store holds at least that many entries; no entry hash
// repeats. The entry hashes themselves are not implied by the root (a
// leaf hash is not the entry hash): the caller authenticates b.
func (l *Log) restoreBase(ctx context.Context, b *Base) error {
	n := uint64(len(b.Leaves))
	if n == 0 || len(b.Hashes) != len(b.Leaves) {
		return fmt.Errorf("%w: %d leaves, %d entry hashes", ErrBaseRefused, len(b.Leaves), len(b.Hashes))
	}
	size, err := l.cfg.Store.Size(ctx, l.sid)
	if err != nil {
		return fmt.Errorf("bulletin: open: %w", err)
	}
	if size < n {
		return fmt.Errorf("%w: it covers %d entries, the store holds %d", ErrBaseRefused, n, size)
	}
	rec, err := l.cfg.Store.CheckpointAt(ctx, l.sid, n)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no signed checkpoint at its size %d", ErrBaseRefused, n)
	}
	if err != nil {
		return fmt.Errorf("bulletin: open: %w", err)
	}
	if sha256.Sum256(rec.Note) != b.Checkpoint {
		return fmt.Errorf("%w: bound to another checkpoint than the one stored at size %d", ErrBaseRefused, n)
	}
	c, _, err := bulletin.VerifyCheckpoint(rec.Note, l.cfg.Key.Verifier())
	if err != nil || c.Size != n {
		return fmt.Errorf("%w: checkpoint at size %d: %v", ErrBaseRefused, n, err)
	}
	b.Prepare()
	tree, hashes := b.tree, b.hashes
	if root, err := tree.RootAt(n); err != nil || root != c.Root {
		return fmt.Errorf("%w: its leaves do not give the root the log signed at size %d", ErrBaseRefused, n)
	}
	if b.repeated >= 0 {
		return fmt.Errorf("%w: entry hash repeated at %d", ErrBaseRefused, b.repeated)
	}
	last := -1
	for _, k := range b.Keys {
		if k.Index >= n || int(k.Index) <= last {
			return fmt.Errorf("%w: index key of entry %d out of order or beyond its size", ErrBaseRefused, k.Index)
		}
		last = int(k.Index)
	}
	keys := frozenKeyIndex(b.Keys) // the first entry with a prefix keeps it
	l.hmu.Lock()
	l.tree, l.hashes, l.keys = tree, hashes, keys
	l.hmu.Unlock()
	l.hub.Publish(l.sid, n)
	return nil
}

// SnapshotBase returns the board part of a snapshot at size n: the entry
// and leaf hashes of the first n entries and the hash of the stored
// checkpoint at n (which must exist). Keys are the caller's to give.
func (l *Log) SnapshotBase(ctx context.Context, n uint64) (*Base, error) {
	rec, err := l.cfg.Store.CheckpointAt(ctx, l.sid, n)
	if err != nil {
		return nil, fmt.Errorf("bulletin: snapshot at %d: %w", n, err)
	}
	leaves, err := l.tree.Leaves(0, n)
	if err != nil {
		return nil, err
	}
	hashes := make([][32]byte, n)
	l.hmu.RLock()
	l.hashes.fill(hashes)
	l.hmu.RUnlock()
	return &Base{Hashes: hashes, Leaves: leaves, Checkpoint: sha256.Sum256(rec.Note)}, nil
}

// load reads entries beyond the tree's size from the store, checks them
// and extends the tree. Every entry at index ≥ verifyFrom also has its
// signature checked (in batches): entries not yet covered by a signed
// checkpoint must not be trusted to the database, or a forged row would
// be signed into the next checkpoint. A page is checked completely before
// any of it is added, so an error leaves the log as it was.
func (l *Log) load(ctx context.Context, verifyFrom uint64) error {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	size, err := l.cfg.Store.Size(ctx, l.sid)
	if err != nil {
		return fmt.Errorf("bulletin: load: %w", err)
	}
	for next := l.tree.Size(); next < size; {
		end := min(next+store.MaxRange, size)
		recs, err := l.cfg.Store.Range(ctx, l.sid, next, end)
		if err != nil {
			return fmt.Errorf("bulletin: load: %w", err)
		}
		if len(recs) == 0 {
			return fmt.Errorf("%w: store reports size %d but has no entry %d", bulletin.ErrCorrupt, size, next)
		}
		leaves := make([][32]byte, len(recs))
		entries := make([]*bulletin.Entry, len(recs))
		var unverified []*bulletin.Entry
		for i, r := range recs {
			if r.Index != next+uint64(i) || sha256.Sum256(r.Data) != r.Hash {
				return fmt.Errorf("%w: entry %d: index or hash mismatch", bulletin.ErrCorrupt, next+uint64(i))
			}
			e, err := bulletin.DecodeEntry(r.Data)
			if err != nil || e.Log != l.id || uint16(e.Type) != r.Type {
				return fmt.Errorf("%w: entry %d does not decode for this log: %v", bulletin.ErrCorrupt, r.Index, err)
			}
			leaves[i], entries[i] = bulletin.LeafHash(r.Data), e
			if r.Index >= verifyFrom {
				unverified = append(unverified, e)
			}
		}
		if err := bulletin.VerifyEntries(unverified); err != nil {
			return fmt.Errorf("%w: stored entries from %d beyond the latest checkpoint: %w", bulletin.ErrCorrupt, next, err)
		}
		l.hmu.Lock()
		for i, r := range recs {
			l.hashes.put(r.Hash, r.Index)
			if l.cfg.IndexKey != nil {
				if k, ok := l.cfg.IndexKey(entries[i]); ok {
					l.keys.add(k, r.Index)
				}
			}
		}
		l.hmu.Unlock()
		if l.onForeign != nil {
			l.onForeign(next, entries)
		}
		l.tree.AppendLeaves(leaves...)
		next += uint64(len(recs))
		l.foreignEnd.Store(next)
		l.hub.Publish(l.sid, next)
	}
	return nil
}

// OnForeign registers f to receive the entries the log loads from the
// store that it did not commit itself (another writer's, or its own whose
// acknowledgement was lost), in index order, before their size is
// announced. f runs with the log's growth locked: it must not append nor
// wait for an append. Set it once, before the log follows the store.
func (l *Log) OnForeign(f func(first uint64, entries []*bulletin.Entry)) {
	l.loadMu.Lock()
	defer l.loadMu.Unlock()
	l.onForeign = f
}

// ForeignEnd returns the end index of the latest entries loaded from the
// store rather than committed by this Log (0 if none since Open).
func (l *Log) ForeignEnd() uint64 { return l.foreignEnd.Load() }

// Refresh extends the in-memory tree with entries another process appended
// to the store.
func (l *Log) Refresh(ctx context.Context) error { return l.load(ctx, 0) }

// ID returns the log id.
func (l *Log) ID() bulletin.LogID { return l.id }

// Origin returns the log's origin line.
func (l *Log) Origin() string { return l.cfg.Key.Origin }

// Verifier returns the log's public keys.
func (l *Log) Verifier() bulletin.LogVerifier { return l.cfg.Key.Verifier() }

// Size returns the number of durable entries.
func (l *Log) Size() uint64 { return l.tree.Size() }

// Tree returns the log's Merkle tree (read-only use).
func (l *Log) Tree() *bulletin.Tree { return l.tree }

// Append validates entries (structure, log id, authorisation, signatures
// in one batch, duplicates) and appends them atomically: all or none. It
// returns their indices once they are durable. A refused call leaves the log
// unchanged and returns an error wrapping one of the package's sentinels.
// Entries of other writers do not concern the caller: on a store conflict
// the log loads them and commits the caller's entries after them.
func (l *Log) Append(ctx context.Context, entries ...*bulletin.Entry) ([]uint64, error) {
	return l.AppendAfter(ctx, Unchecked, entries...)
}

// AppendAfter is Append for a caller that checked its entries against the
// log's first horizon entries (and its own appends in flight): it fails
// with ErrStale, appending nothing, if an entry of another writer lies at
// or beyond horizon when the entries would be committed, so that the
// caller applies that entry, checks again, and retries.
func (l *Log) AppendAfter(ctx context.Context, horizon uint64, entries ...*bulletin.Entry) ([]uint64, error) {
	if len(entries) == 0 {
		return nil, fmt.Errorf("%w: no entries", bulletin.ErrMalformed)
	}
	req := &appendReq{entries: entries, recs: make([]store.Record, len(entries)), leaves: make([][32]byte, len(entries)), result: make(chan appendResult, 1), horizon: horizon, barrier: store.HoldsBarrier(ctx)}
	req.fence, req.fenced = store.AuditFenceOf(ctx)
	seen := make(map[[32]byte]bool, len(entries))
	seenKey := make(map[[KeyPrefix]byte]bool)
	for i, e := range entries {
		if e == nil {
			return nil, fmt.Errorf("entry %d: %w: nil", i, bulletin.ErrMalformed)
		}
		if err := e.Check(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if e.Log != l.id {
			return nil, fmt.Errorf("entry %d: %w", i, bulletin.ErrWrongLog)
		}
		if l.cfg.Authorize != nil {
			if err := l.cfg.Authorize(e); err != nil {
				return nil, fmt.Errorf("entry %d: %w: %w", i, bulletin.ErrUnauthorized, err)
			}
		}
		data := e.Encode()
		h := sha256.Sum256(data)
		if seen[h] || l.has(h) {
			return nil, fmt.Errorf("entry %d: %w: %x", i, bulletin.ErrDuplicate, h)
		}
		seen[h] = true
		if l.cfg.IndexKey != nil {
			if k, ok := l.cfg.IndexKey(e); ok {
				if seenKey[keyPrefix(k)] || l.hasKey(k) {
					return nil, fmt.Errorf("entry %d: %w: key %x already on the board", i, bulletin.ErrDuplicate, k)
				}
				seenKey[keyPrefix(k)] = true
				req.keys = append(req.keys, indexKey{k, i})
			}
		}
		req.recs[i] = store.Record{Hash: h, Type: uint16(e.Type), Data: data}
		req.leaves[i] = bulletin.LeafHash(data)
	}
	return l.submit(ctx, req)
}

// AppendEncoded decodes canonical entry bytes strictly (a non-canonical or
// malformed encoding is refused) and appends them.
func (l *Log) AppendEncoded(ctx context.Context, encoded ...[]byte) ([]uint64, error) {
	es := make([]*bulletin.Entry, len(encoded))
	for i, b := range encoded {
		e, err := bulletin.DecodeEntry(b)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if !bytes.Equal(e.Encode(), b) { // DecodeEntry is strict; belt and braces
			return nil, fmt.Errorf("entry %d: %w: non-canonical", i, bulletin.ErrMalformed)
		}
		es[i] = e
	}
	return l.Append(ctx, es...)
}

func (l *Log) has(h [32]byte) bool {
	l.hmu.RLock()
	defer l.hmu.RUnlock()
	_, ok := l.hashes.get(h)
	return ok
}

func (l *Log) hasKey(k [32]byte) bool {
	l.hmu.RLock()
	defer l.hmu.RUnlock()
	return l.keys.taken(k)
}

// LookupKey returns the index of the entry with that IndexKey.
func (l *Log) LookupKey(k [32]byte) (uint64, bool) {
	l.hmu.RLock()
	defer l.hmu.RUnlock()
	return l.keys.lookup(k)
}

// LookupKeyPrefix returns the whole IndexKey and the index of the entry
// whose key starts with p (a ballot's shown tracking code).
func (l *Log) LookupKeyPrefix(p [KeyPrefix]byte) (key [32]byte, index uint64, ok bool) {
	l.hmu.RLock()
	defer l.hmu.RUnlock()
	return l.keys.lookupPrefix(p)
}

func (l *Log) submit(ctx context.Context, req *appendReq) ([]uint64, error) {
	select {
	case <-l.quit:
		return nil, bulletin.ErrClosed
	default:
	}
	if err := l.verifiers.Submit(ctx, req); errors.Is(err, batcher.ErrClosed) {
		return nil, bulletin.ErrClosed
	} else if err != nil {
		return nil, err
	}
	var res appendResult
	select {
	case res = <-req.result:
	case <-l.quit:
		return nil, bulletin.ErrClosed
	case <-ctx.Done():
		// The entries may still become durable; they are simply not
		// acknowledged to this caller.
		return nil, ctx.Err()
	}
	if res.err != nil {
		return nil, res.err
	}
	idx := make([]uint64, len(req.recs))
	for i := range idx {
		idx[i] = res.first + uint64(i)
	}
	return idx, nil
}

// startBatchers starts the signature verifiers and the committer. The
// verifiers check the signatures of pending requests with one batch
// verification (about half the cost of checking them one by one) and pass
// the valid requests on to the committer; several run in parallel while
// the committer waits for the store, and a small batch waits a little for
// more, since a batch of one costs twice as much per entry. The committer
// is the single writer: it takes every pending request (up to MaxBatch
// entries, never waiting for more) and commits them in one store
// transaction (commitTry, whose staleness checks and settling are its
// own). A panic in either is logged with its stack and stops the process,
// as before: a half-done commit must not be retried blindly.
func (l *Log) startBatchers() {
	l.commits = batcher.New(batcher.Config[*appendReq]{
		Name: "bulletin: committer", Max: l.cfg.MaxBatch,
		Weight: func(r *appendReq) int { return len(r.recs) },
	}, l.commit)
	l.verifiers = batcher.New(batcher.Config[*appendReq]{
		Name: "bulletin: signature verifier", Max: verifyBatchSize, Min: verifyMinBatch, Window: verifyWait,
		Weight:  func(r *appendReq) int { return len(r.entries) },
		Workers: max(1, runtime.GOMAXPROCS(0)),
	}, l.verifyBatch)
}

// DefaultMaxBatch is Config.MaxBatch's default.
const DefaultMaxBatch = 2048

// Verifier batching: at most verifyBatchSize entries at once; a batch
// smaller than verifyMinBatch waits up to verifyWait for more.
const (
	verifyBatchSize = 128
	verifyMinBatch  = 32
	verifyWait      = 300 * time.Microsecond
)

func (l *Log) verifyBatch(batch []*appendReq) {
	type owner struct{ req, entry int }
	var items []sig.Item
	var owners []owner
	for ri, r := range batch {
		for i, e := range r.entries {
			items = append(items, sig.Item{PublicKey: e.Author[:], Message: e.SigningMessage(), Signature: e.Signature[:]})
			owners = append(owners, owner{ri, i})
		}
	}
	failed := make(map[int]error)
	for k, e := range sig.VerifyEach(items) {
		if o := owners[k]; e != nil && failed[o.req] == nil {
			failed[o.req] = fmt.Errorf("entry %d: %w: %w", o.entry, bulletin.ErrBadSignature, e)
		}
	}
	for ri, r := range batch {
		if e := failed[ri]; e != nil {
			r.result <- appendResult{err: e}
			continue
		}
		if err := l.commits.Submit(l.closing, r); err != nil {
			r.result <- appendResult{err: bulletin.ErrClosed}
		}
	}
}

func (l *Log) commit(batch []*appendReq) { l.commitTry(batch, true) }

// stale reports whether r was checked against a view of the log that
// foreign entries have since extended.
func (l *Log) stale(r *appendReq) bool {
	return r.horizon != Unchecked && l.foreignEnd.Load() > r.horizon
}

// commitTry commits a batch. On a store conflict (the store is ahead of
// the tree) it loads the new entries and acknowledges the requests now
// there (see resync); the others are committed after them if they do not
// depend on them (Append), and refused with ErrStale if they do
// (AppendAfter): they are never committed blindly after entries their
// checks did not see.
func (l *Log) commitTry(batch []*appendReq, mayResync bool) {
	// Refuse duplicates across the requests of the batch and against the
	// log (two callers may race with the same entry).
	seen := make(map[[32]byte]bool)
	seenKey := make(map[[KeyPrefix]byte]bool)
	live := batch[:0]
	for _, r := range batch {
		dup := false
		for _, rec := range r.recs {
			if seen[rec.Hash] || l.has(rec.Hash) {
				dup = true
				break
			}
		}
		for _, k := range r.keys {
			if seenKey[keyPrefix(k.key)] || l.hasKey(k.key) {
				dup = true
				break
			}
		}
		if dup {
			r.result <- appendResult{err: fmt.Errorf("%w: an entry or key was appended concurrently", bulletin.ErrDuplicate)}
			continue
		}
		if l.stale(r) {
			r.result <- appendResult{err: ErrStale}
			continue
		}
		for _, rec := range r.recs {
			seen[rec.Hash] = true
		}
		for _, k := range r.keys {
			seenKey[keyPrefix(k.key)] = true
		}
		live = append(live, r)
	}
	live = l.fenceBatch(live)
	if len(live) == 0 {
		return
	}
	var recs []store.Record
	for _, r := range live {
		recs = append(recs, r.recs...)
	}
	// The tree does not grow by a load between reading its size and
	// extending it with this batch.
	l.loadMu.Lock()
	if slices.ContainsFunc(live, l.stale) {
		// A load ran since the checks above: check again.
		l.loadMu.Unlock()
		l.commitTry(live, mayResync)
		return
	}
	first := l.tree.Size()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if slices.ContainsFunc(live, func(r *appendReq) bool { return r.barrier }) {
		// The caller holds the store's barrier: every other writer waits,
		// and so would this append if it asked for the barrier too.
		ctx = store.WithBarrier(ctx)
	}
	if i := slices.IndexFunc(live, func(r *appendReq) bool { return r.fenced }); i >= 0 {
		ctx = store.WithAuditFence(ctx, live[i].fence) // fenceBatch left one fence
	}
	err := l.cfg.Store.Append(ctx, l.sid, first, recs)
	cancel()
	if err != nil && !refused(err) {
		l.loadMu.Unlock()
		l.settle(live) // loads under loadMu; re-appends check staleness again
		return
	}
	if err != nil {
		l.loadMu.Unlock()
		if errors.Is(err, store.ErrConflict) && mayResync && l.resync(live) {
			return
		}
		if errors.Is(err, store.ErrConflict) && !mayResync {
			// Another writer again: load its entries so that the callers'
			// next attempt sees them, and let the callers decide.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			lerr := l.load(ctx, 0)
			cancel()
			if lerr == nil {
				err = ErrStale
			}
			for _, r := range live {
				r.result <- appendResult{err: err}
			}
			return
		}
		if errors.Is(err, store.ErrAuditFence) {
			// The fenced requests go back to their callers, who check
			// them again against the audits added; the others do not
			// depend on the pool.
			var others []*appendReq
			for _, r := range live {
				if r.fenced {
					r.result <- appendResult{err: fmt.Errorf("bulletin: append: %w", err)}
				} else {
					others = append(others, r)
				}
			}
			if len(others) > 0 {
				l.commitTry(others, mayResync)
			}
			return
		}
		if len(live) > 1 && !errors.Is(err, store.ErrConflict) {
			// Isolate the failing request: commit each one alone.
			for _, r := range live {
				l.commitTry([]*appendReq{r}, mayResync)
			}
			return
		}
		if errors.Is(err, store.ErrDuplicate) {
			err = fmt.Errorf("%w: %w", bulletin.ErrDuplicate, err)
		} else {
			err = fmt.Errorf("bulletin: append: %w", err)
		}
		for _, r := range live {
			r.result <- appendResult{err: err}
		}
		return
	}
	l.hmu.Lock()
	i := first
	for _, r := range live {
		for _, k := range r.keys {
			l.keys.add(k.key, i+uint64(k.pos))
		}
		for _, rec := range r.recs {
			l.hashes.put(rec.Hash, i)
			i++
		}
	}
	l.hmu.Unlock()
	for _, r := range live {
		l.tree.AppendLeaves(r.leaves...)
	}
	l.loadMu.Unlock()
	i = first
	for _, r := range live {
		r.result <- appendResult{first: i}
		i += uint64(len(r.recs))
	}
	l.hub.Publish(l.sid, i)
}

// fenceBatch keeps in one store append only requests checked against the
// same audit pool (store.WithAuditFence): those checked against the
// largest pool, and the unfenced ones; the others are refused with
// store.ErrAuditFence (their callers have since learned of more audits,
// or will when they look again).
func (l *Log) fenceBatch(live []*appendReq) []*appendReq {
	var fence uint64
	fenced := false
	for _, r := range live {
		if r.fenced && (!fenced || r.fence > fence) {
			fence, fenced = r.fence, true
		}
	}
	if !fenced {
		return live
	}
	keep := live[:0]
	for _, r := range live {
		if r.fenced && r.fence != fence {
			r.result <- appendResult{err: fmt.Errorf("bulletin: append: %w: checked against %d audits, others against %d", store.ErrAuditFence, r.fence, fence)}
			continue
		}
		keep = append(keep, r)
	}
	return keep
}

// resync handles a store that is ahead of the tree: an earlier append whose
// acknowledgement was lost (the transaction committed but the reply did not
// arrive), or another writer. It loads the missing entries from the store,
// acknowledges the requests whose entries are now all there, in order (so a
// caller retrying after a lost acknowledgement learns its indices), and
// passes the others to commitTry once more, which refuses with ErrStale
// those that depend on what was loaded. It reports false if the store
// could not be read.
func (l *Log) resync(live []*appendReq) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := l.load(ctx, 0)
	cancel()
	if err != nil {
		return false
	}
	var again []*appendReq
	for _, r := range live {
		if first, ok := l.presentAt(r); ok {
			r.result <- appendResult{first: first}
			continue
		}
		again = append(again, r)
	}
	if len(again) > 0 {
		l.commitTry(again, false)
	}
	return true
}

// refused reports whether a store error says that the store refused the
// append, so that nothing of it is stored. Any other error (the
// connection died during the commit, the server was killed, a timeout)
// leaves the outcome unknown: the transaction may have committed.
func refused(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrAuditFence)
}

// Settling an append of unknown outcome: the store is read again after
// settleWait, doubling up to settleMaxWait, until it answers.
const (
	settleWait    = 50 * time.Millisecond
	settleMaxWait = 2 * time.Second
)

// settle resolves an append whose outcome the store did not report, by
// reading the store: the committer waits (and every append with it) until
// the store answers again — after a failover, the promoted standby —, loads
// what it holds beyond the tree, acknowledges the requests whose entries
// it holds, at their indices, and appends the others again. A request is
// thus never answered before the store has said what became of it: an
// entry is neither acknowledged twice nor lost, and one that committed
// is never refused. Only a closing log gives up (ErrClosed: the entries
// may be stored, and the next Open finds them).
func (l *Log) settle(live []*appendReq) {
	for wait := settleWait; ; wait = min(2*wait, settleMaxWait) {
		select {
		case <-l.quit:
			for _, r := range live {
				r.result <- appendResult{err: bulletin.ErrClosed}
			}
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := l.load(ctx, 0)
		cancel()
		if errors.Is(err, bulletin.ErrCorrupt) {
			for _, r := range live {
				r.result <- appendResult{err: err}
			}
			return
		}
		if err == nil {
			break
		}
	}
	var again []*appendReq
	for _, r := range live {
		if first, ok := l.presentAt(r); ok {
			r.result <- appendResult{first: first}
			continue
		}
		again = append(again, r)
	}
	if len(again) > 0 {
		l.commitTry(again, true)
	}
}

// presentAt reports whether all of r's entries are in the log at
// consecutive indices, and the first index.
func (l *Log) presentAt(r *appendReq) (uint64, bool) {
	l.hmu.RLock()
	defer l.hmu.RUnlock()
	first, ok := l.hashes.get(r.recs[0].Hash)
	for i, rec := range r.recs {
		idx, found := l.hashes.get(rec.Hash)
		ok = ok && found && idx == first+uint64(i)
	}
	return first, ok
}

// Close stops the committer. Pending appends fail with bulletin.ErrClosed; the store
// is not closed.
func (l *Log) Close() error {
	l.closeOnce.Do(func() { close(l.quit); l.cancel() })
	l.commits.Close() // first, so that verifiers waiting for it give up
	l.verifiers.Close()
	l.hub.Close()
	return nil
}

// Checkpoint signs and stores a checkpoint for the current size, unless the
// latest checkpoint already covers it, and returns the latest. With
// several writers, the store may already hold a checkpoint at that size or
// beyond, signed by another instance with the same key: it is adopted
// (the log first loads up to its size) rather than a second note signed,
// so readers of every instance see one note per size. If the store is a
// store.CheckpointLock, the look for a stored checkpoint, the signing and
// the storing happen under the log's checkpoint lock, so that no two
// instances both find none and both sign: the key signs at most one note
// per size (spec/07-bulletin.md §7.7).
func (l *Log) Checkpoint(ctx context.Context) (*bulletin.SignedCheckpoint, error) {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	size := l.tree.Size()
	if l.latest != nil && l.latest.Size >= size {
		return l.latest, nil
	}
	cl, locked := l.cfg.Store.(store.CheckpointLock)
	if locked {
		release, err := cl.CheckpointLock(ctx, l.sid)
		if err != nil {
			return nil, fmt.Errorf("bulletin: checkpoint: %w", err)
		}
		defer release()
	}
	if err := l.settleCheckpoint(ctx); err != nil {
		return nil, err
	}
	if l.latest != nil && l.latest.Size >= size {
		return l.latest, nil
	}
	if cp, err := l.adoptStored(ctx, size); cp != nil || err != nil {
		if cp != nil {
			l.unsettled = nil
		}
		return cp, err
	}
	cp := l.unsettled // signed at this size, perhaps stored: stored again
	if cp == nil {
		root, err := l.tree.RootAt(size)
		if err != nil {
			return nil, err
		}
		t := l.cfg.Now().UTC().Truncate(time.Second)
		if l.latest != nil && t.Before(l.latest.Time) {
			t = l.latest.Time // checkpoint times never go backwards
		}
		c := bulletin.Checkpoint{Origin: l.cfg.Key.Origin, Size: size, Root: root, Time: t}
		if cc, ok := l.cfg.Store.(store.CheckpointClaim); ok {
			// Only a claimed body is signed: another process that signed
			// at this size and could not store its note signed this one.
			if c, err = l.claimed(ctx, cc, c); err != nil {
				return nil, err
			}
		}
		note, err := bulletin.SignCheckpoint(c, l.cfg.Key)
		if err != nil {
			return nil, err
		}
		cp = &bulletin.SignedCheckpoint{Checkpoint: c, Note: note}
	}
	err := l.cfg.Store.PutCheckpoint(ctx, l.sid, store.Checkpoint{Size: size, Note: cp.Note})
	if err != nil && locked && !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrCheckpointOrder) {
		// The outcome is unknown. It is found out, and the note stored
		// again if absent, before the checkpoint lock is released:
		// another instance would otherwise find no checkpoint at this
		// size and sign a second note.
		err = l.storeAgain(ctx, cp)
	}
	if err != nil {
		if errors.Is(err, store.ErrCheckpointOrder) {
			// Another instance stored one at this size or beyond first.
			if acp, aerr := l.adoptStored(ctx, size); acp != nil || aerr != nil {
				if acp != nil {
					l.unsettled = nil
				}
				return acp, aerr
			}
		}
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrCheckpointOrder) {
			l.unsettled = cp
		}
		return nil, fmt.Errorf("bulletin: store checkpoint: %w", err)
	}
	l.latest, l.unsettled = cp, nil
	return l.latest, nil
}

// claimed claims c's body for its size (store.CheckpointClaim) and
// returns the checkpoint claimed, c or the one another process of this
// log claimed first, which must be of this log's tree. l.cpMu is held.
func (l *Log) claimed(ctx context.Context, cc store.CheckpointClaim, c bulletin.Checkpoint) (bulletin.Checkpoint, error) {
	body := c.Body()
	got, err := cc.ClaimCheckpoint(ctx, l.sid, c.Size, body)
	if err != nil {
		return c, fmt.Errorf("bulletin: checkpoint: %w", err)
	}
	if bytes.Equal(got, body) {
		return c, nil
	}
	pc, err := bulletin.ParseCheckpoint(got)
	if err != nil || !bytes.Equal(pc.Body(), got) || pc.Origin != c.Origin || pc.Size != c.Size || pc.Root != c.Root {
		return c, fmt.Errorf("%w: the checkpoint claimed at size %d is not this log's tree", bulletin.ErrCorrupt, c.Size)
	}
	return pc, nil
}

// storeAgain finds out whether cp, whose storing failed without a
// refusal, is stored, and stores it again if it is not (under cpMu and the
// checkpoint lock). It answers even if ctx has ended, within a few
// seconds: nil once cp is stored, ErrCheckpointOrder if another note is
// stored at or beyond its size (which the caller adopts), another error if
// the store still does not answer.
func (l *Log) storeAgain(ctx context.Context, cp *bulletin.SignedCheckpoint) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rec, err := l.cfg.Store.CheckpointAt(ctx, l.sid, cp.Size)
	switch {
	case err == nil && bytes.Equal(rec.Note, cp.Note):
		return nil
	case err == nil:
		return fmt.Errorf("%w: another note is stored at size %d", store.ErrCheckpointOrder, cp.Size)
	case errors.Is(err, store.ErrNotFound):
		return l.cfg.Store.PutCheckpoint(ctx, l.sid, store.Checkpoint{Size: cp.Size, Note: cp.Note})
	}
	return err
}

// settleCheckpoint finds out from the store what became of the unsettled
// checkpoint (under cpMu). Stored, it becomes the latest; absent, it was
// never shown to anyone (Checkpoint returned an error), so it is kept to
// be stored again while the tree is at its size and dropped once the tree
// has grown past it. The store may also hold another checkpoint at its
// size (another process of this log signed it): that one is adopted if the
// log signed it and its tree is this log's.
func (l *Log) settleCheckpoint(ctx context.Context) error {
	u := l.unsettled
	if u == nil {
		return nil
	}
	rec, err := l.cfg.Store.CheckpointAt(ctx, l.sid, u.Size)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if u.Size != l.tree.Size() {
			l.unsettled = nil
		}
		return nil
	case err != nil:
		return fmt.Errorf("bulletin: settle checkpoint at size %d: %w", u.Size, err)
	case bytes.Equal(rec.Note, u.Note):
		l.latest, l.unsettled = u, nil
		return nil
	}
	c, _, err := bulletin.VerifyCheckpoint(rec.Note, l.Verifier())
	if err != nil {
		return fmt.Errorf("%w: stored checkpoint at size %d: %w", bulletin.ErrCorrupt, u.Size, err)
	}
	if root, err := l.tree.RootAt(c.Size); err != nil || root != c.Root || c.Size != u.Size {
		return fmt.Errorf("%w: stored checkpoint at size %d is not this log's tree", bulletin.ErrCorrupt, u.Size)
	}
	l.latest, l.unsettled = &bulletin.SignedCheckpoint{Checkpoint: c, Note: rec.Note}, nil
	return nil
}

// adoptStored makes the store's latest checkpoint the log's latest if it
// covers at least size entries, loading the entries up to it first and
// checking it against the tree; it returns nil, nil if the store has none
// that large. l.cpMu is held.
func (l *Log) adoptStored(ctx context.Context, size uint64) (*bulletin.SignedCheckpoint, error) {
	rec, err := l.cfg.Store.LatestCheckpoint(ctx, l.sid)
	if errors.Is(err, store.ErrNotFound) || err == nil && rec.Size < size {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bulletin: checkpoint: %w", err)
	}
	if l.tree.Size() < rec.Size {
		if err := l.load(ctx, 0); err != nil {
			return nil, err
		}
	}
	c, _, err := bulletin.VerifyCheckpoint(rec.Note, l.Verifier())
	if err != nil {
		return nil, fmt.Errorf("%w: stored checkpoint at %d: %w", bulletin.ErrCorrupt, rec.Size, err)
	}
	root, err := l.tree.RootAt(c.Size)
	if err != nil || root != c.Root || c.Size != rec.Size {
		return nil, fmt.Errorf("%w: stored checkpoint at size %d does not match the log", bulletin.ErrCorrupt, rec.Size)
	}
	l.latest = &bulletin.SignedCheckpoint{Checkpoint: c, Note: rec.Note}
	return l.latest, nil
}

// SetCosigned records a checkpoint note of this log that carries
// witnesses' cosignatures (collected by the caller, who decides which
// witnesses count), so that the public read API serves it to auditors and
// trustees. The note must be signed by the log and its tree must be this
// log's at that size; a note older than the one recorded is ignored. It is
// kept in memory: after a restart the next cosigned checkpoint replaces it.
func (l *Log) SetCosigned(note []byte) error {
	c, _, err := bulletin.VerifyCheckpoint(note, l.Verifier())
	if err != nil {
		return err
	}
	root, err := l.tree.RootAt(c.Size)
	if err != nil || root != c.Root {
		return fmt.Errorf("%w: cosigned checkpoint of size %d is not this log's tree", bulletin.ErrCorrupt, c.Size)
	}
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	if l.cosigned == nil || c.Size > l.cosigned.Size || c.Size == l.cosigned.Size && !c.Time.Before(l.cosigned.Time) {
		l.cosigned = &bulletin.SignedCheckpoint{Checkpoint: c, Note: bytes.Clone(note)}
	}
	return nil
}

// LatestCosigned returns the latest checkpoint recorded by SetCosigned, or
// nil if none.
func (l *Log) LatestCosigned() *bulletin.SignedCheckpoint {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.cosigned
}

// LatestCheckpoint returns the latest signed checkpoint, or nil if none.
func (l *Log) LatestCheckpoint() *bulletin.SignedCheckpoint {
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	return l.latest
}

// CheckpointAt returns the stored checkpoint for exactly that size.
func (l *Log) CheckpointAt(ctx context.Context, size uint64) (*bulletin.SignedCheckpoint, error) {
	rec, err := l.cfg.Store.CheckpointAt(ctx, l.sid, size)
	if err != nil {
		return nil, err
	}
	c, _, err := bulletin.VerifyCheckpoint(rec.Note, l.Verifier())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", bulletin.ErrCorrupt, err)
	}
	return &bulletin.SignedCheckpoint{Checkpoint: c, Note: rec.Note}, nil
}

// Entries returns the durable entries with start ≤ index < end (end is
// clipped to the size; at most store.MaxRange).
func (l *Log) Entries(ctx context.Context, start, end uint64) ([]store.Record, error) {
	end = min(end, l.Size())
	if start >= end {
		return nil, nil
	}
	return l.cfg.Store.Range(ctx, l.sid, start, end)
}

// EntrySizes returns the sizes in bytes of the durable entries from start
// to end (exclusive; clipped to the log's size), and false if the store
// cannot tell them without reading the entries (store.Sizer).
func (l *Log) EntrySizes(ctx context.Context, start, end uint64) ([]uint64, bool, error) {
	sz, ok := l.cfg.Store.(store.Sizer)
	if !ok {
		return nil, false, nil
	}
	end = min(end, l.Size())
	if start >= end {
		return nil, true, nil
	}
	sizes, err := sz.Sizes(ctx, l.sid, start, end)
	return sizes, err == nil, err
}

// EntryByHash returns the durable entry with that entry hash.
func (l *Log) EntryByHash(ctx context.Context, h [32]byte) (store.Record, error) {
	l.hmu.RLock()
	idx, ok := l.hashes.get(h)
	l.hmu.RUnlock()
	if !ok {
		return store.Record{}, store.ErrNotFound
	}
	recs, err := l.cfg.Store.Range(ctx, l.sid, idx, idx+1)
	if err != nil {
		return store.Record{}, err
	}
	if len(recs) != 1 || recs[0].Hash != h {
		return store.Record{}, fmt.Errorf("%w: entry %d", bulletin.ErrCorrupt, idx)
	}
	return recs[0], nil
}

// IndexOf returns the index of the entry with that hash.
func (l *Log) IndexOf(h [32]byte) (uint64, bool) {
	l.hmu.RLock()
	defer l.hmu.RUnlock()
	i, ok := l.hashes.get(h)
	return i, ok
}

// InclusionProof returns the audit path of entry index in the tree of size.
func (l *Log) InclusionProof(index, size uint64) ([][32]byte, error) {
	return l.tree.InclusionProof(index, size)
}

// ConsistencyProof returns the proof that size1 is a prefix of size2.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][32]byte, error) {
	return l.tree.ConsistencyProof(size1, size2)
}

// Subscribe returns a channel that receives the log's size each time it
// grows (coalesced: a slow receiver sees the latest size). The size is
// announced after the tree has grown, so Entries and proofs up to it are
// available when it arrives. The channel closes when ctx ends or the log
// closes.
func (l *Log) Subscribe(ctx context.Context) (<-chan uint64, error) {
	return l.hub.Subscribe(ctx, l.sid)
}

// Follow keeps the log current with the store: it follows the store's
// notifications (PostgreSQL LISTEN/NOTIFY across processes) and loads the
// entries other writers appended into the tree (a read-only replica, or
// one of several writers), until ctx ends.
func (l *Log) Follow(ctx context.Context) error {
	ch, err := l.cfg.Store.Subscribe(ctx, l.sid)
	if err != nil {
		return err
	}
	if err := l.load(ctx, 0); err != nil {
		return err
	}
	for n := range ch {
		if n <= l.tree.Size() {
			continue // its own append, or loaded already
		}
		if err := l.load(ctx, 0); err != nil {
			return err
		}
	}
	return ctx.Err()
}
