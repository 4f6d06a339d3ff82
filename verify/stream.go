package verify

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"evote/bulletin"
	"evote/bulletin/recordfile"
	"evote/crypto/sig"
	"evote/election"
)

// VerifyStream verifies a record as [Verify] does, reading its entries
// file (each entry as u32(length) || bytes, up to the end, as
// [ReadEntries] reads it) from entries once: it checks the Merkle tree as
// the entries arrive, keeps of each entry only what later checks need
// (its leaf hash for the duplicate check, and what the election's rules keep:
// a counted ballot's ciphertexts, a credential) and frees the rest, so a
// verifier's memory grows with the ballots counted, not with the record's
// size. checkpoint is the record's signed checkpoint. The error, with no
// report, is returned only if the entries cannot be read (it wraps
// [ErrLoad]); a record that reads but fails a check has a report.
func VerifyStream(checkpoint []byte, entries io.Reader, opt Options) (*Report, error) {
	return verifySource(checkpoint, newFrameSource(entries), claimedSize(checkpoint), opt)
}

// VerifyPath verifies the record at path, a directory (files "checkpoint"
// and "entries.bin") or a tar archive holding the same two files, reading
// it once as [VerifyStream] does.
func VerifyPath(path string, opt Options) (*Report, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if !st.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLoad, err)
		}
		defer f.Close()
		return VerifyArchive(f, opt)
	}
	note, err := readNote(filepath.Join(path, recordfile.CheckpointFile))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(path, recordfile.EntriesFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer f.Close()
	return VerifyStream(note, f, opt)
}

// VerifyArchive verifies a record read from an uncompressed tar archive
// (as [LoadArchive] reads it), reading it once as [VerifyStream] does.
// Content after the entries file is an error, as for LoadArchive.
func VerifyArchive(r io.Reader, opt Options) (*Report, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != recordfile.CheckpointFile || hdr.Typeflag != tar.TypeReg || hdr.Size > maxNote {
		return nil, fmt.Errorf("%w: archive must start with a regular file %q", ErrLoad, recordfile.CheckpointFile)
	}
	note, err := io.ReadAll(tr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	note = normalizeNote(note)
	hdr, err = tr.Next()
	if err != nil || hdr.Name != recordfile.EntriesFile || hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: archive's second file must be %q", ErrLoad, recordfile.EntriesFile)
	}
	rep, err := VerifyStream(note, tr, opt)
	if err != nil {
		return nil, err
	}
	if _, err := tr.Next(); err != io.EOF {
		return nil, fmt.Errorf("%w: content after %q", ErrLoad, recordfile.EntriesFile)
	}
	return rep, nil
}

// claimedSize is the size a checkpoint note says, unverified: only for
// progress (0 if it does not parse).
func claimedSize(note []byte) uint64 {
	n, err := bulletin.ParseNote(note)
	if err != nil {
		return 0
	}
	cp, err := bulletin.ParseCheckpoint(n.Body)
	if err != nil {
		return 0
	}
	return cp.Size
}

// testHookStreamed, if set by a test, is called once every entry has been
// consumed, while the verifier holds what it keeps for the final checks.
var testHookStreamed func()

// testHookReplayed, if set by a test, is called after each entry's replay
// with its index and type (0 if it did not decode), while the verifier
// still holds the entry.
var testHookReplayed func(i uint64, t bulletin.Type)

// A source yields a record's entries in log order, then io.EOF; any other
// error wraps ErrLoad.
type source interface {
	next() ([]byte, error)
}

// sliceSource yields the entries of a Record in memory.
type sliceSource struct {
	entries [][]byte
	i       int
}

func (s *sliceSource) next() ([]byte, error) {
	if s.i == len(s.entries) {
		return nil, io.EOF
	}
	s.i++
	return s.entries[s.i-1], nil
}

// frameSource reads an entries file: u32(length) || bytes per entry, with
// the limits of ReadEntries.
type frameSource struct {
	r *bufio.Reader
	n int
	// large, if set, is called before an entry longer than batchBytes is
	// read, so that the stream waits for what is in flight to be consumed
	// first: the first mix (224 MB at a million ballots) read while the
	// cleansing is replayed was held at the verifier's peak (spec §11.7).
	large func()
}

func newFrameSource(r io.Reader) *frameSource {
	return &frameSource{r: bufio.NewReaderSize(r, 1<<20)}
}

func (s *frameSource) next() ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(s.r, n[:]); err == io.EOF {
		return nil, io.EOF
	} else if err != nil {
		return nil, fmt.Errorf("%w: entry %d: truncated length%s", ErrLoad, s.n, cause(err))
	}
	l := binary.BigEndian.Uint32(n[:])
	if l > maxEntry {
		return nil, fmt.Errorf("%w: entry %d: length %d over the limit", ErrLoad, s.n, l)
	}
	if s.n >= maxEntries {
		return nil, fmt.Errorf("%w: more than %d entries", ErrLoad, maxEntries)
	}
	if l > batchBytes && s.large != nil {
		s.large()
	}
	data := make([]byte, l)
	if _, err := io.ReadFull(s.r, data); err != nil {
		return nil, fmt.Errorf("%w: entry %d: truncated%s", ErrLoad, s.n, cause(err))
	}
	s.n++
	return data, nil
}

// cause describes a read error other than the end of the stream (a
// download's failure), which "truncated" alone would hide.
func cause(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ""
	}
	return fmt.Sprintf(" (%v)", err)
}

// A batch is a run of consecutive entries, checked by one worker (decoding,
// log, signatures; ballots' proofs once the context is known) and then
// consumed in order by the replay.
type batch struct {
	first   uint64 // index of data[0] in the log
	data    [][]byte
	size    int               // bytes of data
	leaves  [][32]byte        // LeafHash of each entry: equal entries have equal leaves
	entries []*bulletin.Entry // nil where decoding failed
	fmtErr  []error
	sigErr  []error
	pre     []*precheck // a ballot's stateless checks, if a worker made them
	done    chan struct{}
}

// budget bounds the bytes of entries read ahead of the replay.
type budget struct {
	mu   sync.Mutex
	cond *sync.Cond
	used int
}

func newBudget() *budget {
	b := &budget{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n more bytes fit in flightBytes, or nothing is in
// flight (so that one entry larger than the budget still passes). A batch
// over batchBytes (a single large entry: a mix, 23 MB at 100,000 ballots)
// also waits until nothing is in flight, and is read alone: two mixes
// read ahead of each other are both held while the first is verified.
func (b *budget) acquire(n int) {
	b.mu.Lock()
	for b.used > 0 && (b.used+n > flightBytes || n > batchBytes) {
		b.cond.Wait()
	}
	b.used += n
	b.mu.Unlock()
}

// drained waits until nothing is in flight.
func (b *budget) drained() {
	b.mu.Lock()
	for b.used > 0 {
		b.cond.Wait()
	}
	b.mu.Unlock()
}

func (b *budget) release(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// stream reads every entry from src (first is the first, already read),
// has the workers check them in batches and consumes the batches in log
// order: duplicates, the tree, the failures of the entry checks, then the
// replay (§11.4.1 to §11.4.6).
func (v *verifier) stream(note []byte, first []byte, src source) error {
	v.tree = (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	v.roots = map[uint64][32]byte{}
	v.sizes = map[uint64]bool{}
	for _, n := range append([][]byte{note}, v.opt.Earlier...) {
		if s := claimedSize(n); s > 0 {
			v.sizes[s] = true
		}
	}
	v.seen = newLeafIndex(v.total)
	v.state = election.NewState()

	work := make(chan *batch)
	order := make(chan *batch, 2*v.opt.Workers+2)
	bud := newBudget()
	var readErr error
	go func() {
		readErr = v.read(first, src, work, order, bud)
		close(work)
		close(order)
	}()
	var wg sync.WaitGroup
	for range v.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // for threadCPU; the goroutine ends with its work
			for b := range work {
				v.check(b)
				close(b.done)
			}
		}()
	}
	for b := range order {
		<-b.done
		v.consume(b)
		bud.release(b.size)
	}
	wg.Wait()
	if readErr != nil {
		return readErr
	}
	if testHookStreamed != nil {
		testHookStreamed()
	}
	v.rep.count(CheckEntryFormat, v.n)
	v.rep.count(CheckEntryDuplicate, v.n)
	v.rep.count(CheckEntrySignature, v.n)
	return nil
}

// read cuts the entries into batches and hands each to the workers and,
// in order, to the consumer; it returns src's error, if any.
func (v *verifier) read(first []byte, src source, work, order chan<- *batch, bud *budget) error {
	var next uint64
	b := &batch{}
	send := func() {
		if len(b.data) == 0 {
			return
		}
		bud.acquire(b.size)
		b.done = make(chan struct{})
		order <- b
		work <- b
		next += uint64(len(b.data))
		b = &batch{first: next}
	}
	if fs, ok := src.(*frameSource); ok {
		fs.large = func() {
			send()
			bud.drained()
		}
		defer func() { fs.large = nil }()
	}
	data := first
	for {
		b.data = append(b.data, data)
		b.size += len(data)
		if len(b.data) >= v.opt.batch || b.size >= batchBytes {
			send()
		}
		var err error
		data, err = src.next()
		if err == io.EOF {
			send()
			return nil
		} else if err != nil {
			send()
			return err
		}
		if b.size > 0 && b.size+len(data) > batchBytes {
			send() // a large entry starts a batch of its own
		}
	}
}

// decodeEntry is bulletin.DecodeEntry without its copy of the payload:
// the payload aliases data, which the stream allocated for this entry
// alone. Anything DecodeEntry would refuse goes to DecodeEntry, for its
// error.
func decodeEntry(data []byte) (*bulletin.Entry, error) {
	if len(data) >= bulletin.HeaderSize {
		if h, err := bulletin.ParseHeader(data[:bulletin.HeaderSize]); err == nil && uint64(len(data)) == uint64(h.EncodedSize()) {
			n := bulletin.HeaderSize + int(h.PayloadLen)
			e := &bulletin.Entry{Version: h.Version, Log: h.Log, Type: h.Type, Author: h.Author, Payload: data[bulletin.HeaderSize:n:n]}
			copy(e.Signature[:], data[n:])
			return e, nil
		}
	}
	return bulletin.DecodeEntry(data)
}

// check makes a batch's stateless entry checks (§11.4.1): hashes, decoding,
// log, signatures in one Ed25519 batch; then, if the election context is
// known, its ballots' stateless checks with their proofs in batches.
func (v *verifier) check(b *batch) {
	t0 := threadCPU()
	n := len(b.data)
	b.leaves = make([][32]byte, n)
	b.entries, b.fmtErr, b.sigErr = make([]*bulletin.Entry, n), make([]error, n), make([]error, n)
	var items []sig.Item
	var idx []int
	for k, data := range b.data {
		b.leaves[k] = bulletin.LeafHash(data)
		e, err := decodeEntry(data)
		if err != nil {
			b.fmtErr[k] = err
			continue
		}
		if e.Log != v.logID {
			b.fmtErr[k] = fmt.Errorf("entry belongs to log %x, not to %q", e.Log[:8], v.log.Origin)
			continue
		}
		b.entries[k] = e
		items = append(items, sig.Item{PublicKey: e.Author[:], Message: e.SigningMessage(), Signature: e.Signature[:]})
		idx = append(idx, k)
	}
	for j, err := range sig.VerifyEach(items) {
		b.sigErr[idx[j]] = err
	}
	v.spent(CheckEntrySignature, threadCPU()-t0)
	pre := v.pre.Load()
	if pre == nil {
		return
	}
	b.pre = make([]*precheck, n)
	var ballots []int
	flush := func() {
		es := make([]*bulletin.Entry, len(ballots))
		for j, k := range ballots {
			es[j] = b.entries[k]
		}
		res := v.precheckChunk(pre, es)
		for j, k := range ballots {
			b.pre[k] = &res[j]
		}
		ballots = ballots[:0]
	}
	for k, e := range b.entries {
		if e != nil && e.Type == bulletin.TypeBallot && b.sigErr[k] == nil {
			ballots = append(ballots, k)
			if len(ballots) == ballotChunk {
				flush()
			}
		}
	}
	if len(ballots) > 0 {
		flush()
	}
}

// consume takes a checked batch in log order: duplicates and the failures
// of the entry checks, each entry reported once under the first check it
// fails in the order of §11.4.1 (format, duplicate of any earlier entry,
// signature); the tree; then the replay of each entry. It frees the batch.
func (v *verifier) consume(b *batch) {
	t0 := threadCPU()
	for k := range b.data {
		i := b.first + uint64(k)
		j, dup := v.seen.add(b.leaves[k])
		switch {
		case b.fmtErr[k] != nil:
			v.rep.fail(int64(i), CheckEntryFormat, "%v", b.fmtErr[k])
		case dup:
			v.rep.fail(int64(i), CheckEntryDuplicate, "repeats entry %d", j)
			b.entries[k] = nil
		case b.sigErr[k] != nil:
			e := b.entries[k]
			v.rep.fail(int64(i), CheckEntrySignature, "%s entry by %x: %v", e.Type, e.Author[:8], b.sigErr[k])
			b.entries[k] = nil
		}
	}
	t1 := threadCPU()
	v.spent(CheckEntryDuplicate, t1-t0)
	for k := range b.data {
		v.tree.Append(b.leaves[k][:], nil)
		if size := b.first + uint64(k) + 1; v.sizes[size] {
			r, _ := v.tree.GetRootHash(nil)
			v.roots[size] = [32]byte(r)
		}
	}
	v.n = b.first + uint64(len(b.data))
	if r, err := v.tree.GetRootHash(nil); err == nil && v.n > 0 {
		v.root = [32]byte(r) // the last batch's is the record's root
	}
	v.spent(CheckTree, threadCPU()-t1)
	for k := range b.data {
		var p *precheck
		if b.pre != nil {
			p = b.pre[k]
		}
		v.replayEntry(b.first+uint64(k), b.entries[k], p)
		if testHookReplayed != nil {
			var t bulletin.Type
			if b.entries[k] != nil {
				t = b.entries[k].Type
			}
			testHookReplayed(b.first+uint64(k), t)
		}
		b.data[k], b.entries[k] = nil, nil
		if b.pre != nil {
			b.pre[k] = nil
		}
	}
	v.progress("verify", v.n, v.total)
}
