// Package verify is the auditor's verifier of an election record (spec
// chapter 11): given the record exported from the bulletin board and the
// log's public key, it checks every entry signature, the Merkle tree
// against the signed checkpoint and against checkpoints the auditor saw
// before, then replays the whole election through the rules of package
// election, batching the expensive cryptography: entry signatures as
// batched Ed25519 and ballot proofs as zkp batches, both in parallel
// chunks.
//
// Most callers use [VerifyPath] (a record directory or archive), or
// [FetchStream] from a board found by [FindBoard] and [VerifyStream], with
// the published fingerprint in [Options], then print the [Report]; a
// failed check is a [Failure] naming one [Check] from a closed set. These
// read the record once, as a stream, checking the tree as entries arrive
// and keeping only what later checks need, so memory grows with the
// ballots counted, not with the record (spec §11.1, §11.7); [Verify] gives
// the same report for a [Record] already in memory ([Load], [Fetch]). The
// example verifies the spec's example record.
// The package imports only the packages that define the record and its
// cryptography, never the server, the store or the identity service (a
// test enforces it), so an auditor's build contains nothing else.
package verify

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
)

// Options configure Verify.
type Options struct {
	// Fingerprint is the election's fingerprint as the officials published
	// it, obtained by the auditor independently of the record (spec
	// §11.2): the record's manifest must have it, and the log's keys, the
	// witnesses and their quorum are then taken from that manifest. It is
	// the verifier's trust anchor; without it nothing is verified.
	Fingerprint ballot.ExpectedFingerprint
	// Log, if set (non-empty origin), is the log's public key as the
	// auditor also obtained it: it must equal the one the manifest pins.
	Log bulletin.LogVerifier
	// Earlier are signed checkpoints of the same log that the auditor saw
	// before (from the board, a witness or a voter's receipt); each must be
	// a prefix of the record's tree.
	Earlier [][]byte
	// Partial accepts a record that ends before the result (an election in
	// progress); otherwise a record without a valid result fails.
	Partial bool
	// Workers is the number of parallel workers (0: GOMAXPROCS).
	Workers int
	// Progress, if set, is called from time to time with the stage and how
	// far it has gone; calls come from one goroutine at a time.
	Progress func(stage string, done, total uint64)

	// batch, if set, is the number of entries per batch instead of
	// sigChunk (tests make it small, so that workers check batches both
	// before and after the election context is known).
	batch int
}

// A worker checks the signatures of up to sigChunk entries as one batch,
// and the proofs of up to ballotChunk ballots as one batch. A batch of
// entries also ends at batchBytes; at most flightBytes of entries are read
// ahead of the replay (a single larger entry, a mix of a million ballots,
// is read alone).
const (
	sigChunk    = 512
	ballotChunk = 128
	batchBytes  = 4 << 20
	flightBytes = 64 << 20
)

type verifier struct {
	opt     Options
	anchors *ballot.BoardAnchors // from the manifest, once it matched the fingerprint
	log     bulletin.LogVerifier
	logID   bulletin.LogID
	rep     *Report
	pmu     sync.Mutex
	mixes   uint64
	shares  uint64
	tmu     sync.Mutex
	times   map[Check]time.Duration
	// cps are the checkpoints whose signatures verified (the record's
	// first, then the earlier ones), for the checks of their times once
	// the replay has found the opening (§11.4.2).
	cps []dated
	// opened is the open entry the rules accepted, if any: its position
	// and its time.
	opened *dated

	// What the stream keeps, used by the consumer alone: entries read so
	// far, the compact Merkle range over them (a hash per level), the
	// roots at the sizes of the checkpoints to check, and the leaf hash of
	// every entry for the duplicate check (equal entries, equal leaves).
	n     uint64
	total uint64 // entries expected, for progress only
	tree  *compact.Range
	root  [32]byte // of the first n entries
	roots map[uint64][32]byte
	sizes map[uint64]bool
	seen  *leafIndex
	// The replay's state, and whether it stopped (no manifest).
	state        *election.State
	stopped      bool
	released     bool // the mixed input lists, once decryption began
	castReleased bool // the casting rules' state, once the cleansing is accepted
	// pre is what a ballot's stateless checks read (manifest, context,
	// key), set once the context is applied; workers precheck the ballots
	// of the batches they take after that.
	pre atomic.Pointer[election.State]
}

// dated is a checkpoint's (or the open entry's) tree size and time; name
// says which it is in a report.
type dated struct {
	name string
	size uint64 // a checkpoint's tree size; the open entry's position + 1
	time uint64 // Unix seconds
	fail string // the prefix rule an earlier checkpoint breaks, if any
}

// spent adds d, CPU time, to check c; safe for concurrent use.
func (v *verifier) spent(c Check, d time.Duration) {
	v.tmu.Lock()
	v.times[c] += d
	v.tmu.Unlock()
}

// Verify checks rec completely and returns the report; Report.OK is true
// only if every check holds. It never panics on a malformed record.
// [VerifyStream] and [VerifyPath] do the same reading the record once,
// without holding it in memory.
func Verify(rec *Record, opt Options) *Report {
	rep, _ := verifySource(rec.Checkpoint, &sliceSource{entries: rec.Entries}, uint64(len(rec.Entries)), opt)
	return rep
}

// verifySource verifies the record whose checkpoint is note and whose
// entries src yields; total is how many entries are expected, for progress
// only. An error is returned, and no report, only if src cannot be read.
func verifySource(note []byte, src source, total uint64, opt Options) (*Report, error) {
	start := time.Now()
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.batch <= 0 {
		opt.batch = sigChunk
	}
	v := &verifier{opt: opt, rep: newReport(), times: map[Check]time.Duration{}, total: total}
	v.rep.Workers = opt.Workers
	// The consumer's checks are timed with its thread's CPU time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t := time.Now()
	first, err := v.checkAnchors(src)
	if err != nil {
		return nil, err
	}
	v.stageSince("anchors", t)
	if v.anchors == nil {
		// Nothing in a record whose manifest is not the published one
		// can be trusted, not even its log key: stop here, only counting
		// the entries.
		n, err := drain(src, first)
		if err != nil {
			return nil, err
		}
		v.rep.Size, v.rep.Counts.Entries = n, n
		v.rep.times = v.times
		v.rep.finish()
		v.rep.Seconds = time.Since(start).Seconds()
		return v.rep, nil
	}
	t = time.Now()
	if err := v.stream(note, first, src); err != nil {
		return nil, err
	}
	v.summarise(v.state)
	v.stageSince("entries and replay", t)
	t = time.Now()
	v.checkTree(note)
	v.checkTimes()
	v.stageSince("tree", t)

	v.rep.times = v.times
	v.rep.finish()
	v.rep.Seconds = time.Since(start).Seconds()
	return v.rep, nil
}

// drain counts the entries left in src, plus first if there is one.
func drain(src source, first []byte) (uint64, error) {
	var n uint64
	if first != nil {
		n++
	}
	for {
		if _, err := src.next(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return 0, err
		}
		n++
	}
}

func (v *verifier) stageSince(name string, t time.Time) {
	v.rep.Stages = append(v.rep.Stages, StageTime{Stage: name, Seconds: time.Since(t).Seconds()})
}

func (v *verifier) progress(stage string, done, total uint64) {
	if v.opt.Progress == nil {
		return
	}
	v.pmu.Lock()
	defer v.pmu.Unlock()
	v.opt.Progress(stage, done, max(done, total))
}

// checkAnchors reads the first entry, the manifest, checks it against the
// expected fingerprint and takes the board's anchors from it (§11.2). The
// manifest entry's signature and the rules are checked later with the
// rest; here only its identity matters. It returns the first entry (nil
// if the record has none), and an error only if src cannot be read.
func (v *verifier) checkAnchors(src source) ([]byte, error) {
	t0 := threadCPU()
	defer func() { v.spent(CheckAnchors, threadCPU()-t0) }()
	v.rep.count(CheckAnchors, 1)
	if v.opt.Fingerprint.IsZero() {
		v.rep.fail(NoEntry, CheckAnchors, "no election fingerprint given: the record cannot be tied to the election the officials published")
		return nil, nil
	}
	first, err := src.next()
	if err == io.EOF {
		v.rep.fail(NoEntry, CheckAnchors, "the record has no entries, so no manifest")
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	e, err := bulletin.DecodeEntry(first)
	if err != nil || e.Type != bulletin.TypeManifest {
		v.rep.fail(0, CheckAnchors, "the first entry is not a manifest entry (%v)", err)
		return first, nil
	}
	m, err := ballot.DecodeManifest(e.Payload)
	if err != nil {
		v.rep.fail(0, CheckAnchors, "%v", err)
		return first, nil
	}
	if err := v.opt.Fingerprint.Check(m); err != nil {
		v.rep.fail(0, CheckAnchors, "%v", err)
		return first, nil
	}
	lv := m.Board.LogVerifier()
	if e.Log != bulletin.LogIDFor(lv.Origin) {
		v.rep.fail(0, CheckAnchors, "the manifest entry belongs to log %x, not to the manifest's origin %q", e.Log[:8], lv.Origin)
		return first, nil
	}
	if o := v.opt.Log; o.Origin != "" && (o.Origin != lv.Origin || o.Ed25519 != lv.Ed25519 || !bytes.Equal(o.MLDSA, lv.MLDSA)) {
		v.rep.fail(0, CheckAnchors, "the log key given (origin %q) is not the one the manifest pins (origin %q)", o.Origin, lv.Origin)
		return first, nil
	}
	v.anchors, v.log, v.logID = &m.Board, lv, bulletin.LogIDFor(lv.Origin)
	v.rep.Origin = lv.Origin
	return first, nil
}

// rootAt returns the root of the first size entries, which the stream
// recorded (size 0, a checkpoint's size or the record's), and whether it
// has it.
func (v *verifier) rootAt(size uint64) ([32]byte, bool) {
	switch size {
	case 0:
		return [32]byte(rfc6962.DefaultHasher.EmptyRoot()), true
	case v.n:
		return v.root, true
	}
	r, ok := v.roots[size]
	return r, ok
}

// checkTree checks the roots the stream computed against the record's
// checkpoint and every earlier checkpoint (§11.4.2).
func (v *verifier) checkTree(note []byte) {
	t0 := threadCPU()
	defer func() { v.spent(CheckTree, threadCPU()-t0) }()
	n := v.n
	v.rep.Size, v.rep.Counts.Entries = n, n
	v.rep.count(CheckCheckpointSig, 1+uint64(len(v.opt.Earlier)))
	v.rep.count(CheckTree, 1)
	v.rep.count(CheckConsistency, uint64(len(v.opt.Earlier)))
	root, _ := v.rootAt(n)
	v.rep.Root = fmt.Sprintf("%x", root)
	// The record's checkpoint must carry the witness quorum's
	// cosignatures: a log signature alone is the server's word, and a
	// server can sign a fork that drops ballots.
	// Each checkpoint is reported once, under the first check it fails
	// (§11.5); its times are checked after the replay (checkTimes).
	cp, err := v.anchors.VerifyCheckpoint(note)
	if err != nil {
		v.rep.fail(NoEntry, CheckCheckpointSig, "record checkpoint: %v", err)
	} else if cp.Size != n {
		v.rep.fail(NoEntry, CheckTree, "the record has %d entries, its checkpoint says %d", n, cp.Size)
	} else if root != cp.Root {
		v.rep.fail(NoEntry, CheckTree, "the entries hash to root %x, the checkpoint says %x", root, cp.Root)
	} else {
		v.cps = append(v.cps, dated{name: "the record's checkpoint", size: cp.Size, time: uint64(cp.Time.Unix())})
	}
	for k, note := range v.opt.Earlier {
		c, err := v.anchors.VerifyCheckpoint(note)
		if err != nil {
			v.rep.fail(NoEntry, CheckCheckpointSig, "earlier checkpoint %d: %v", k+1, err)
			continue
		}
		d := dated{name: fmt.Sprintf("earlier checkpoint %d", k+1), size: c.Size, time: uint64(c.Time.Unix())}
		// The first rule it breaks, reported with the time checks once the
		// replay has found the opening (checkTimes).
		switch {
		case cp.Size == n && c.Time.After(cp.Time):
			d.fail = fmt.Sprintf("earlier checkpoint %d is dated %s, after the record's own (%s): a log's time never decreases", k+1, c.Time.Format(time.RFC3339), cp.Time.Format(time.RFC3339))
		case c.Size > n:
			d.fail = fmt.Sprintf("earlier checkpoint %d has %d entries, the record only %d (the log was rolled back or the record is truncated)", k+1, c.Size, n)
		default:
			if root, ok := v.rootAt(c.Size); !ok || root != c.Root {
				d.fail = fmt.Sprintf("earlier checkpoint %d (size %d, root %x) is not a prefix of the record: the log forked", k+1, c.Size, c.Root)
			}
		}
		v.cps = append(v.cps, d)
	}
}

// checkTimes reports checkpoint.consistency (§11.4.2) for the checkpoints
// whose signatures verified, the record's first, then the earlier ones in
// the order given, each at most once: the first rule it breaks among an
// earlier checkpoint's prefix rules (found by checkTree) and the time
// rules. A log signs with its clock, so no checkpoint is dated 0 (1970),
// and none whose tree contains the open entry is dated before that entry's
// time, which the authority's server wrote from the same clock before the
// log signed anything covering it.
func (v *verifier) checkTimes() {
	t0 := threadCPU()
	defer func() { v.spent(CheckConsistency, threadCPU()-t0) }()
	v.rep.count(CheckConsistency, 1) // the record's checkpoint; earlier ones are counted in checkTree
	for _, c := range v.cps {
		switch {
		case c.fail != "":
			v.rep.fail(NoEntry, CheckConsistency, "%s", c.fail)
		case c.time == 0:
			v.rep.fail(NoEntry, CheckConsistency, "%s is dated 0 (1970-01-01): not a time the log signed at", c.name)
		case v.opened != nil && c.size >= v.opened.size && c.time < v.opened.time:
			v.rep.fail(NoEntry, CheckConsistency, "%s (size %d) is dated %s, before the opening it contains (entry %d, %s)", c.name, c.size,
				time.Unix(int64(c.time), 0).UTC().Format(time.RFC3339), v.opened.size-1, time.Unix(int64(v.opened.time), 0).UTC().Format(time.RFC3339))
		}
	}
}

// finish fills the per-check table and sorts the failures into report
// order: entry checks by entry, then tree and checkpoints, then the
// replay's failures in log order.
//
// The table lists the checks of the election's mode: chapter 15's
// (revote.*) only for an election in deniable re-voting mode, and for such
// an election chapter 9's checks of pseudonymous credentials, marks,
// ballots, audits and the cleansing only if some entry was checked under
// them.
func (r *Report) finish() {
	for _, c := range Checks {
		if revoteOnly := strings.HasPrefix(string(c), "revote."); revoteOnly != r.coercion && (revoteOnly || r.items[c] == 0 && chapter9Only[c]) {
			continue
		}
		r.Checks = append(r.Checks, CheckSummary{Check: c, Title: c.Title(), Items: r.items[c], Failures: r.fails[c], Seconds: r.times[c].Seconds()})
	}
	sortFailures(r.Failures)
	r.OK = r.FailureCount == 0
}

// chapter9Only are the checks of entries that an election in deniable
// re-voting mode does not have (spec §15.14.2 rule 1).
var chapter9Only = map[Check]bool{
	CheckCredential: true, CheckInPerson: true, CheckBallotFormat: true, CheckBallotProof: true, CheckBallotCred: true,
	CheckBallotStyle: true, CheckBallotPeriod: true, CheckBallotUnique: true, CheckBallotPolicy: true, CheckAudit: true, CheckCleansing: true,
}
