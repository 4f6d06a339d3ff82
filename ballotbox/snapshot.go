package ballotbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
	"unsafe"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/election"
	"evote/record"
	"evote/store"
)

// Snapshots (spec/07-bulletin.md §7.7.1). A restart replays the whole
// board through the election rules; at a million ballots that takes
// minutes. A snapshot is the box's state at a size n where the log signed
// a checkpoint: the board's entry and leaf hashes of entries 0…n−1, and
// the three kinds of entries that make up almost all of a board —
// credentials, in-person marks and ballots — in a compact form; every
// other entry (the manifest, key generation, the context, identity key
// sets, list changes, registrations, lifecycle, audits, tally) is named by
// its position only, read back from the store and applied through the
// rules as in a replay. Open restores the snapshot, then replays the
// entries after n.
//
// A snapshot is never trusted blindly: it carries a MAC keyed from the
// election authority's private key (a writer to the database alone cannot
// make one), names its log, the hash of the signed checkpoint at n and the
// hash of the log's manifest entry; the board refuses it unless the store
// holds that checkpoint, signed with the log's key, with the root the
// snapshot's leaves give; every entry read back must have the snapshot's
// leaf hash at its position. Anything that does not fit refuses the whole
// snapshot, and the box falls back to the full replay (logged): a
// snapshot can make a restart slow again, never make a state wrong.

// Snapshot encoding, version 1 (all integers big-endian):
//
//	"evote-box-snapshot" || u8(1) || log id (32) || u64(n) ||
//	SHA-256(checkpoint note at n) (32) || manifest entry hash (32) ||
//	u32(strings) || (u16(len) || bytes)…            string table
//	n × entry hash (32) || n × leaf hash (32)
//	u32(k) || k × u64(position)                      entries replayed
//	u32(c) || c × credential                         by position
//	u32(m) || m × (u64(position) || pseudonym (32))  in-person marks
//	u32(b) || b × ballot                             by position
//	HMAC-SHA-256(key, everything before) (32)
//
// credential: u64(position) || pseudonym || device key || token id (16) ||
// u16(ballot style) || u16(key id) || u64(issued at) || u64(not before) ||
// u64(expires at), strings as indices into the table; its election id and
// context hash are the election's (the rules admit no other).
// ballot: u64(position) || u16(ballot style) || tracking code (32) ||
// pseudonym (32) || u32(len) || the ciphertexts as election.CastRecord
// encodes them.
const (
	snapshotMagic   = "evote-box-snapshot"
	snapshotVersion = 1
	snapshotMACTag  = "evote-v1/ballot-box-snapshot-mac"
)

// snapCredSize is the size of an encoded credential: u64 position,
// pseudonym, device key, token id (16), two u16 strings, three u64 times.
const snapCredSize = 8 + 32 + 32 + 16 + 2 + 2 + 3*8

// DefaultSnapshotEvery is how many entries the board grows between two
// snapshots by default.
const DefaultSnapshotEvery = 100_000

// ErrSnapshot is wrapped by every reason a stored snapshot is refused.
var ErrSnapshot = errors.New("ballotbox: snapshot refused")

type snapCred struct {
	pos uint64
	c   *record.CredentialIssued
}

type snapMark struct {
	pos       uint64
	pseudonym [32]byte
}

// boxSnapshot is a decoded snapshot.
type boxSnapshot struct {
	log      [32]byte
	size     uint64
	note     [32]byte
	manifest [32]byte
	base     *board.Base
	replay   []uint64
	creds    []snapCred
	marks    []snapMark
	ballots  []*election.CastRecord
}

// snapshotKey derives the snapshot MAC key of a log from the authority's
// private key.
func (b *Box) snapshotKey() []byte {
	m := hmac.New(sha256.New, b.cfg.Authority.Seed())
	m.Write([]byte(snapshotMACTag))
	id := b.logID()
	m.Write(id[:])
	return m.Sum(nil)
}

func (b *Box) snapshotMAC(data []byte) []byte {
	m := hmac.New(sha256.New, b.snapshotKey())
	m.Write(data)
	return m.Sum(nil)
}

// Snapshot takes a snapshot of the box's state and stores it, replacing
// the stored one. It waits until no cast is in flight and holds casts back
// while it copies the state (the encoding and the store write happen
// after); the log signs a checkpoint at the current size if it has none.
// It returns the size the snapshot covers (0: empty board, nothing done).
func (b *Box) Snapshot(ctx context.Context) (uint64, error) {
	data, n, err := b.encodeSnapshot(ctx)
	if err != nil || n == 0 {
		return 0, err
	}
	data = append(data, b.snapshotMAC(data)...)
	if err := b.cfg.Store.PutSnapshot(ctx, store.LogID(b.log.ID()), store.Snapshot{Size: n, Data: data}); err != nil {
		return 0, fmt.Errorf("ballotbox: snapshot: %w", err)
	}
	b.mu.Lock()
	b.snapSize = max(b.snapSize, n)
	b.mu.Unlock()
	return n, nil
}

// encodeSnapshot encodes the state, without its MAC, under the exclusive
// gate.
func (b *Box) encodeSnapshot(ctx context.Context) ([]byte, uint64, error) {
	b.gate.Lock()
	defer b.gate.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, 0, ErrShutdown
	}
	if b.fatal != nil {
		return nil, 0, b.fatal
	}
	b.catchUpLocked() // other instances' entries (instances.go)
	s := b.state
	n := s.Size
	if n == 0 {
		return nil, 0, nil
	}
	if n != b.log.Size() {
		return nil, 0, fmt.Errorf("%w: state at %d, log at %d", ErrInconsistentBox, n, b.log.Size())
	}
	cp, err := b.log.Checkpoint(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("ballotbox: snapshot: %w", err)
	}
	if cp.Size != n {
		return nil, 0, fmt.Errorf("ballotbox: snapshot: checkpoint at %d, state at %d", cp.Size, n)
	}
	base, err := b.log.SnapshotBase(ctx, n)
	if err != nil {
		return nil, 0, fmt.Errorf("ballotbox: snapshot: %w", err)
	}
	bulk := make([]bool, n)
	var creds []snapCred
	var marks []snapMark
	var inconsistent error
	b.voters.each(func(p [32]byte, v *voterIndex) {
		for _, cr := range v.credentials {
			c, ok := s.Credential(cr.DeviceKey)
			if !ok {
				inconsistent = fmt.Errorf("%w: credential at %d not in the state", ErrInconsistentBox, cr.Index)
				continue
			}
			creds = append(creds, snapCred{cr.Index, c})
			bulk[cr.Index] = true
		}
		if v.inPerson != nil {
			marks = append(marks, snapMark{*v.inPerson, p})
			bulk[*v.inPerson] = true
		}
	})
	if inconsistent != nil {
		return nil, 0, inconsistent
	}
	slices.SortFunc(creds, func(x, y snapCred) int { return cmpU64(x.pos, y.pos) })
	slices.SortFunc(marks, func(x, y snapMark) int { return cmpU64(x.pos, y.pos) })
	for _, r := range s.Ballots {
		bulk[r.Position] = true
	}
	var replay []uint64
	for i, isBulk := range bulk {
		if !isBulk {
			replay = append(replay, uint64(i))
		}
	}
	manifest := base.Hashes[0]

	strs := map[string]uint16{}
	var table []string
	str := func(v string) uint16 {
		i, ok := strs[v]
		if !ok {
			i = uint16(len(table))
			strs[v] = i
			table = append(table, v)
		}
		return i
	}
	for _, c := range creds {
		str(c.c.BallotStyle)
		str(c.c.KeyID)
	}
	for _, r := range s.Ballots {
		str(r.Style)
	}
	if len(table) > 1<<16-1 {
		return nil, 0, fmt.Errorf("ballotbox: snapshot: %d distinct ballot styles and key ids", len(table))
	}
	encLen := 0
	for _, r := range s.Ballots {
		encLen += 110 + len(r.Encoded())
	}
	w := make([]byte, 0, 200+int(n)*64+len(replay)*8+len(creds)*snapCredSize+len(marks)*40+encLen)
	w = append(w, snapshotMagic...)
	w = append(w, snapshotVersion)
	id := b.logID()
	w = append(w, id[:]...)
	w = binary.BigEndian.AppendUint64(w, n)
	w = append(w, base.Checkpoint[:]...)
	w = append(w, manifest[:]...)
	w = binary.BigEndian.AppendUint32(w, uint32(len(table)))
	for _, t := range table {
		w = binary.BigEndian.AppendUint16(w, uint16(len(t)))
		w = append(w, t...)
	}
	for _, h := range base.Hashes {
		w = append(w, h[:]...)
	}
	for _, h := range base.Leaves {
		w = append(w, h[:]...)
	}
	w = binary.BigEndian.AppendUint32(w, uint32(len(replay)))
	for _, p := range replay {
		w = binary.BigEndian.AppendUint64(w, p)
	}
	w = binary.BigEndian.AppendUint32(w, uint32(len(creds)))
	for _, sc := range creds {
		c := sc.c
		w = binary.BigEndian.AppendUint64(w, sc.pos)
		w = append(w, c.Pseudonym[:]...)
		w = append(w, c.DeviceKey[:]...)
		w = append(w, c.TokenID[:]...)
		w = binary.BigEndian.AppendUint16(w, strs[c.BallotStyle])
		w = binary.BigEndian.AppendUint16(w, strs[c.KeyID])
		w = binary.BigEndian.AppendUint64(w, c.IssuedAt)
		w = binary.BigEndian.AppendUint64(w, c.NotBefore)
		w = binary.BigEndian.AppendUint64(w, c.ExpiresAt)
	}
	w = binary.BigEndian.AppendUint32(w, uint32(len(marks)))
	for _, m := range marks {
		w = binary.BigEndian.AppendUint64(w, m.pos)
		w = append(w, m.pseudonym[:]...)
	}
	w = binary.BigEndian.AppendUint32(w, uint32(len(s.Ballots)))
	for _, r := range s.Ballots {
		w = binary.BigEndian.AppendUint64(w, r.Position)
		w = binary.BigEndian.AppendUint16(w, strs[r.Style])
		w = append(w, r.Code[:]...)
		w = append(w, r.Pseudonym[:]...)
		w = binary.BigEndian.AppendUint32(w, uint32(len(r.Encoded())))
		w = append(w, r.Encoded()...)
	}
	return w, n, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// snapReader reads the body of a snapshot from its parts as the store
// hands them out; the first failure sticks.
type snapReader struct {
	cur   []byte        // the unread bytes of the current part
	parts <-chan []byte // the next parts, closed at the end (or on a failed read)
	left  int64         // bytes of the body not yet read (the MAC excluded)
	err   error
}

// read copies len(dst) bytes of the body into dst.
func (r *snapReader) read(dst []byte) bool {
	if r.err != nil {
		return false
	}
	if int64(len(dst)) > r.left {
		r.err = fmt.Errorf("%w: truncated", ErrSnapshot)
		return false
	}
	r.left -= int64(len(dst))
	for len(dst) > 0 {
		if len(r.cur) == 0 {
			p, ok := <-r.parts
			if !ok {
				r.err = fmt.Errorf("%w: truncated (the read stopped)", ErrSnapshot)
				return false
			}
			r.cur = p
			continue
		}
		n := copy(dst, r.cur)
		dst, r.cur = dst[n:], r.cur[n:]
	}
	return true
}

// take returns the next n bytes of the body, valid until the next call.
func (r *snapReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || int64(n) > r.left {
		r.err = fmt.Errorf("%w: truncated", ErrSnapshot)
		return nil
	}
	if len(r.cur) >= n {
		out := r.cur[:n]
		r.cur = r.cur[n:]
		r.left -= int64(n)
		return out
	}
	out := make([]byte, n) // across parts
	if !r.read(out) {
		return nil
	}
	return out
}

func (r *snapReader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *snapReader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *snapReader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *snapReader) h32() (h [32]byte) {
	r.read(h[:])
	return h
}

// hashes reads len(hs) 32-byte hashes into hs.
func (r *snapReader) hashes(hs [][32]byte) {
	if len(hs) > 0 {
		r.read(unsafe.Slice(&hs[0][0], 32*len(hs)))
	}
}

// count reads a count of items of at least min bytes each, refusing one
// the remaining bytes cannot hold (so a forged count cannot make the
// reader allocate beyond the snapshot's size).
func (r *snapReader) count(min int) int {
	n := int64(r.u32())
	if r.err == nil && n*int64(min) > r.left {
		r.err = fmt.Errorf("%w: count %d exceeds the snapshot", ErrSnapshot, n)
		return 0
	}
	return int(n)
}

// loadSnapshot reads, authenticates and decodes the stored snapshot of
// this box's log (found false if there is none). Three things happen at
// once, on the parts as the store reads them: the read itself, the MAC,
// and the parse; and the board's tree and entry-hash index are built
// (board.Base.Prepare) as soon as the parse has read the leaves. Nothing
// parsed or built is used unless the MAC verifies. The parser is safe on
// any bytes: it is bounds-checked and allocates no more than the
// snapshot's length allows.
func (b *Box) loadSnapshot(ctx context.Context) (sn *boxSnapshot, found bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	type head struct {
		size   uint64
		length int64
		err    error
	}
	heads := make(chan head, 1)
	toMAC := make(chan []byte, 8)
	toParse := make(chan []byte, 8)
	readDone := make(chan error, 1)
	go func() {
		begun := false
		begin := func(size uint64, length int64) error {
			begun = true
			heads <- head{size: size, length: length}
			return nil
		}
		part := func(p []byte) error {
			for _, ch := range []chan []byte{toMAC, toParse} {
				select {
				case ch <- p:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}
		lid := store.LogID(b.logID())
		var err error
		if ss, ok := b.cfg.Store.(store.SnapshotStreamer); ok {
			err = ss.StreamSnapshot(ctx, lid, begin, part)
		} else {
			var st store.Snapshot
			if st, err = b.cfg.Store.LatestSnapshot(ctx, lid); err == nil {
				begin(st.Size, int64(len(st.Data)))
				for _, p := range store.SnapshotParts(st.Data) {
					if err = part(p); err != nil {
						break
					}
				}
			}
		}
		if !begun {
			heads <- head{err: err}
		}
		close(toMAC)
		close(toParse)
		readDone <- err
	}()
	defer func() {
		cancel()
		if rerr := <-readDone; sn != nil && err == nil && rerr != nil {
			sn, found, err = nil, true, fmt.Errorf("ballotbox: reading the snapshot: %w", rerr)
		}
	}()
	h := <-heads
	if errors.Is(h.err, store.ErrNotFound) {
		return nil, false, nil
	}
	if h.err != nil {
		return nil, true, h.err
	}
	if h.length < int64(len(snapshotMagic)+1+32) {
		return nil, true, fmt.Errorf("%w: truncated", ErrSnapshot)
	}
	macOK := make(chan bool, 1)
	go func() {
		m := hmac.New(sha256.New, b.snapshotKey())
		body := h.length - 32
		var off int64
		var tail []byte
		for p := range toMAC {
			w := max(0, min(int64(len(p)), body-off))
			m.Write(p[:w])
			tail = append(tail, p[w:]...)
			off += int64(len(p))
		}
		macOK <- off == h.length && hmac.Equal(m.Sum(nil), tail)
	}()
	r := &snapReader{parts: toParse, left: h.length - 32}
	sn, err = b.parseSnapshot(h.size, r)
	if err != nil {
		cancel() // the MAC's goroutine ends with the read
	}
	go func() {
		for range toParse { // the parts of the MAC, which the parse does not read
		}
	}()
	if !<-macOK && err == nil {
		err = fmt.Errorf("%w: its MAC does not verify (not made with this server's key for this log)", ErrSnapshot)
	}
	if err != nil {
		return nil, true, err
	}
	return sn, true, nil
}

// parseSnapshot decodes the body of a snapshot stored at size size
// (loadSnapshot). Positions must increase within each list and the lists
// must partition 0…n−1.
func (b *Box) parseSnapshot(size uint64, r *snapReader) (*boxSnapshot, error) {
	magic := r.take(len(snapshotMagic) + 1)
	if r.err != nil {
		return nil, r.err
	}
	if string(magic[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: not a ballot-box snapshot", ErrSnapshot)
	}
	if v := magic[len(snapshotMagic)]; v != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d", ErrSnapshot, v)
	}
	sn := &boxSnapshot{log: r.h32(), size: r.u64(), note: r.h32(), manifest: r.h32()}
	if r.err != nil {
		return nil, r.err
	}
	if sn.log != b.logID() {
		return nil, fmt.Errorf("%w: taken of another log", ErrSnapshot)
	}
	if sn.size != size || sn.size == 0 {
		return nil, fmt.Errorf("%w: covers %d entries, stored as %d", ErrSnapshot, sn.size, size)
	}
	n := int(sn.size)
	if uint64(n) != sn.size || int64(n) > r.left/64 {
		return nil, fmt.Errorf("%w: size %d exceeds the snapshot", ErrSnapshot, sn.size)
	}
	table := make([]string, r.count(2))
	for i := range table {
		table[i] = string(r.take(int(r.u16())))
	}
	str := func() string {
		i := int(r.u16())
		if i >= len(table) {
			if r.err == nil {
				r.err = fmt.Errorf("%w: string %d of %d", ErrSnapshot, i, len(table))
			}
			return ""
		}
		return table[i]
	}
	base := &board.Base{Checkpoint: sn.note, Hashes: make([][32]byte, n), Leaves: make([][32]byte, n)}
	r.hashes(base.Hashes)
	r.hashes(base.Leaves)
	if r.err != nil {
		return nil, r.err
	}
	if base.Hashes[0] != sn.manifest {
		return nil, fmt.Errorf("%w: its entry 0 is not the manifest it names", ErrSnapshot)
	}
	sn.base = base
	go base.Prepare() // the tree and the hash index, while the rest is read
	var last uint64
	next := func(p uint64) {
		if r.err == nil && (p >= sn.size || p < last) {
			r.err = fmt.Errorf("%w: position %d out of order", ErrSnapshot, p)
		}
		last = p + 1
	}
	sn.replay = make([]uint64, r.count(8))
	for i := range sn.replay {
		sn.replay[i] = r.u64()
		next(sn.replay[i])
	}
	last = 0
	sn.creds = make([]snapCred, r.count(snapCredSize))
	cs := make([]record.CredentialIssued, len(sn.creds))
	for i := range sn.creds {
		c := &cs[i]
		pos := r.u64()
		next(pos)
		c.Pseudonym, c.DeviceKey = r.h32(), r.h32()
		copy(c.TokenID[:], r.take(16))
		c.BallotStyle, c.KeyID = str(), str()
		c.IssuedAt, c.NotBefore, c.ExpiresAt = r.u64(), r.u64(), r.u64()
		sn.creds[i] = snapCred{pos, c}
	}
	last = 0
	sn.marks = make([]snapMark, r.count(40))
	for i := range sn.marks {
		sn.marks[i] = snapMark{pos: r.u64(), pseudonym: r.h32()}
		next(sn.marks[i].pos)
	}
	last = 0
	nb := r.count(78)
	recs := make([]election.CastRecord, nb)
	sn.ballots = make([]*election.CastRecord, nb)
	var arena []byte
	for i := range recs {
		rec := &recs[i]
		rec.Position = r.u64()
		next(rec.Position)
		rec.Style = str()
		rec.Code = ballot.TrackingCode(r.h32())
		rec.Pseudonym = r.h32()
		ln := int64(r.u32())
		if r.err == nil && ln > r.left {
			r.err = fmt.Errorf("%w: truncated", ErrSnapshot)
		}
		if r.err != nil {
			return nil, r.err
		}
		if int64(len(arena)) < ln {
			arena = make([]byte, max(int(ln), 1<<20))
		}
		// Copied out of the snapshot's parts, which are freed as read.
		enc := arena[:ln]
		if !r.read(enc) {
			return nil, r.err
		}
		if err := rec.SetEncoded(enc[:ln:ln]); err != nil {
			return nil, fmt.Errorf("%w: ballot at %d: %w", ErrSnapshot, rec.Position, err)
		}
		arena = arena[len(enc):]
		sn.ballots[i] = rec
	}
	if r.err == nil && r.left != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrSnapshot, r.left)
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(sn.replay)+len(sn.creds)+len(sn.marks)+len(sn.ballots) != n {
		return nil, fmt.Errorf("%w: its entries do not add up to its size", ErrSnapshot)
	}
	base.Keys = make([]board.KeyAt, len(sn.ballots))
	for i, rec := range sn.ballots {
		base.Keys[i] = board.KeyAt{Key: rec.Code, Index: rec.Position}
	}
	return sn, nil
}

// openFromSnapshot opens the log from the stored snapshot and restores the
// state from it, replaying the entries after it. It reports ok false (with
// the reason) if there is no usable snapshot: the caller then opens the
// log without one and replays it all. The box is left empty in that case.
func (b *Box) openFromSnapshot(ctx context.Context) (ok bool, err error) {
	t0 := time.Now()
	sn, found, err := b.loadSnapshot(ctx)
	if !found || err != nil {
		return false, err
	}
	// The board checks its base (the tree, the hash index) while the
	// state is restored: each needs one core.
	type opened struct {
		l   *board.Log
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		l, err := board.Open(ctx, board.Config{Key: b.cfg.LogKey, Store: b.cfg.Store, Now: b.cfg.Now, IndexKey: trackingCodeKey, Base: sn.base})
		ch <- opened{l, err}
	}()
	rerr := b.restore(ctx, sn)
	o := <-ch
	if o.err != nil {
		return false, fmt.Errorf("%w: %w", ErrSnapshot, o.err)
	}
	b.log = o.l
	if rerr == nil {
		rerr = b.replayFrom(ctx, sn.size)
	}
	if rerr != nil {
		o.l.Close()
		b.log = nil
		return false, rerr
	}
	b.snapSize, b.restoredFrom = sn.size, sn.size
	b.cfg.Logger.Info("ballot box restored from a snapshot", "origin", b.cfg.LogKey.Origin, "snapshot", sn.size, "size", b.state.Size, "took", time.Since(t0))
	return true, nil
}

// logID is the id of the box's log, known before the log is open.
func (b *Box) logID() bulletin.LogID { return bulletin.LogIDFor(b.cfg.LogKey.Origin) }

// restore rebuilds the state at the snapshot's size from a decoded
// snapshot, reading the entries it names from the store (not through the
// log, which is being opened meanwhile; each must have the snapshot's
// leaf and entry hash, and the log checks the leaves against its signed
// root).
func (b *Box) restore(ctx context.Context, sn *boxSnapshot) error {
	s := b.state
	s.Grow(len(sn.ballots), len(sn.creds), len(sn.marks))
	// The box's own indices of credentials, marks and ballots, and the
	// state's indices of the ballots' ciphertexts (the largest), tracking
	// codes and pseudonyms and of the credentials' device keys, do not
	// depend on the order of the entries (no other entry's rules read
	// them): built meanwhile, as frozen tables, on the other cores; the
	// state restored in order does without them until the end.
	type side struct {
		bulk  *bulkIndex
		cts   *election.CiphertextIndex
		creds *election.CredentialIndex
		err   error
	}
	aside := make(chan side, 1)
	go func() {
		type other struct {
			bulk  *bulkIndex
			creds *election.CredentialIndex
			err   error
		}
		bulk := make(chan other, 1)
		go func() {
			var o other
			o.creds, o.err = election.NewCredentialIndex(len(sn.creds), func(i int) *record.CredentialIssued { return sn.creds[i].c })
			o.bulk = buildBulkIndex(sn)
			bulk <- o
		}()
		var x side
		x.cts, x.err = election.NewCiphertextIndex(sn.ballots)
		o := <-bulk
		x.bulk, x.creds = o.bulk, o.creds
		if x.err == nil {
			x.err = o.err
		}
		aside <- x
	}()
	defer func() {
		if aside != nil {
			<-aside
		}
	}()
	leaves, hashes := sn.base.Leaves, sn.base.Hashes
	var ci, mi, bi, ri int
	var rare []store.Record // the replayed entries read ahead, in order
	for pos := uint64(0); pos < sn.size; pos++ {
		switch {
		case ci < len(sn.creds) && sn.creds[ci].pos == pos:
			c := sn.creds[ci].c
			if s.Manifest == nil || s.Context == nil {
				return fmt.Errorf("%w: credential at %d before the election context", ErrSnapshot, pos)
			}
			c.ElectionID, c.ContextHash = s.Manifest.ElectionID, s.Context.ExtendedHash
			if err := s.RestoreCredential(c); err != nil {
				return fmt.Errorf("%w: %w", ErrSnapshot, err)
			}
			ci++
		case mi < len(sn.marks) && sn.marks[mi].pos == pos:
			if err := s.RestoreInPersonMark(sn.marks[mi].pseudonym); err != nil {
				return fmt.Errorf("%w: %w", ErrSnapshot, err)
			}
			mi++
		case bi < len(sn.ballots) && sn.ballots[bi].Position == pos:
			if err := s.RestoreBallot(sn.ballots[bi]); err != nil {
				return fmt.Errorf("%w: %w", ErrSnapshot, err)
			}
			bi++
		case ri < len(sn.replay) && sn.replay[ri] == pos:
			if len(rare) == 0 {
				// Read the run of replayed entries that starts here.
				end := ri
				for end < len(sn.replay) && sn.replay[end] == pos+uint64(end-ri) && end-ri < store.MaxRange {
					end++
				}
				recs, err := b.cfg.Store.Range(ctx, store.LogID(b.logID()), pos, pos+uint64(end-ri))
				if err != nil {
					return fmt.Errorf("ballotbox: restore: %w", err)
				}
				if len(recs) != end-ri {
					return fmt.Errorf("%w: store lacks entry %d", ErrSnapshot, pos)
				}
				rare = recs
			}
			r := rare[0]
			rare = rare[1:]
			if r.Index != pos || bulletin.LeafHash(r.Data) != leaves[pos] || sha256.Sum256(r.Data) != hashes[pos] {
				return fmt.Errorf("%w: the store's entry %d is not the one the signed tree holds", ErrSnapshot, pos)
			}
			e, err := bulletin.DecodeEntry(r.Data)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrSnapshot, pos, err)
			}
			if e.Type == bulletin.TypeBallot || e.Type == bulletin.TypeCredentialIssued || e.Type == bulletin.TypeInPersonMark {
				return fmt.Errorf("%w: entry %d (%s) should be in the snapshot", ErrSnapshot, pos, e.Type)
			}
			if err := bulletin.VerifyEntries([]*bulletin.Entry{e}); err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrSnapshot, pos, err)
			}
			if err := b.applyLocked(e, nil, nil); err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrSnapshot, pos, err)
			}
			ri++
		default:
			return fmt.Errorf("%w: nothing at position %d", ErrSnapshot, pos)
		}
	}
	if s.Size != sn.size {
		return fmt.Errorf("%w: restored %d entries of %d", ErrSnapshot, s.Size, sn.size)
	}
	x := <-aside
	aside = nil
	if x.err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, x.err)
	}
	if err := s.RestoreCiphertexts(x.cts); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	if err := s.RestoreCredentials(x.creds); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	b.voters, b.turnout = x.bulk.voters, x.bulk.turnout
	return nil
}

// bulkIndex is the box's index of a snapshot's credentials, in-person
// marks and ballots: what Box.index records for their entries.
type bulkIndex struct {
	voters  voterMap
	turnout map[string]int
}

// buildBulkIndex indexes the snapshot's voters in a frozen table
// (voterMap): the voters of its credentials and marks, in that order,
// the ballots' found there (or, for a ballot whose voter has neither, in
// the map beside it). Their records and their first credential and
// ballot references come from one allocation each (slabs), not one per
// voter: a million voters would otherwise cost three million small
// allocations at every restart.
func buildBulkIndex(sn *boxSnapshot) *bulkIndex {
	x := &bulkIndex{voters: frozenVoters(len(sn.creds) + len(sn.marks)), turnout: map[string]int{}}
	credRefs := make([]CredentialRef, len(sn.creds))
	x.voters.fill(len(sn.creds), func(i int) *[32]byte { return &sn.creds[i].c.Pseudonym }, true, func(i int, v *voterIndex) {
		sc := sn.creds[i]
		ref := CredentialRef{Index: sc.pos, DeviceKey: sc.c.DeviceKey, IssuedAt: sc.c.IssuedAt}
		if v.credentials == nil {
			credRefs[i] = ref
			v.credentials = credRefs[i : i+1 : i+1]
		} else {
			v.credentials = append(v.credentials, ref)
		}
	})
	marks := make([]uint64, len(sn.marks))
	x.voters.fill(len(sn.marks), func(i int) *[32]byte { return &sn.marks[i].pseudonym }, true, func(i int, v *voterIndex) {
		marks[i] = sn.marks[i].pos
		v.inPerson = &marks[i]
	})
	x.voters.freeze()
	ballotRefs := make([]BallotRef, len(sn.ballots))
	x.voters.fill(len(sn.ballots), func(i int) *[32]byte { return &sn.ballots[i].Pseudonym }, false, func(i int, v *voterIndex) {
		rec := sn.ballots[i]
		ref := BallotRef{Index: rec.Position, TrackingCode: rec.Code}
		if v.ballots == nil {
			ballotRefs[i] = ref
			v.ballots = ballotRefs[i : i+1 : i+1]
			x.turnout[rec.Style]++
		} else {
			v.ballots = append(v.ballots, ref)
		}
	})
	return x
}

// snapshotter takes a snapshot whenever the board has grown by
// SnapshotEvery entries since the last one.
func (b *Box) snapshotter() {
	defer close(b.snapDone)
	for {
		select {
		case <-b.snapStop:
			return
		case <-b.snapKick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		t0 := time.Now()
		n, err := b.Snapshot(ctx)
		cancel()
		if err != nil && !errors.Is(err, ErrShutdown) {
			b.cfg.Logger.Warn("ballot box snapshot failed", "origin", b.cfg.LogKey.Origin, "err", err)
			// Not again at once: with other instances appending, the board
			// may have moved during the snapshot; the next entry asks again
			// after this pause.
			select {
			case <-b.snapStop:
				return
			case <-time.After(snapshotRetry):
			}
		} else if n > 0 {
			b.cfg.Logger.Info("ballot box snapshot taken", "origin", b.cfg.LogKey.Origin, "size", n, "took", time.Since(t0))
		}
	}
}

// snapshotRetry is the snapshotter's pause after a failed snapshot.
const snapshotRetry = time.Second

// snapshotDueLocked asks the snapshotter for a snapshot if the board has
// grown enough since the last one. b.mu is held.
func (b *Box) snapshotDueLocked() {
	if b.snapKick == nil {
		return
	}
	if b.state.Size >= b.snapSize+b.cfg.SnapshotEvery {
		select {
		case b.snapKick <- struct{}{}:
		default:
		}
	}
}

// RestoredFrom returns the size of the snapshot Open restored the box
// from, 0 if it replayed the whole board.
func (b *Box) RestoredFrom() uint64 { return b.restoredFrom }
