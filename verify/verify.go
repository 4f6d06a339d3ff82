// Package verify is the auditor's verifier of an election record (spec
// chapter 11): given the record exported from the bulletin board and the
// log's public key, it checks every entry signature, the Merkle tree
// against the signed checkpoint and against checkpoints the auditor saw
// before, then replays the whole election through the rules of package
// election, batching the expensive cryptography: entry signatures as
// batched Ed25519 and ballot proofs as zkp batches, both in parallel
// chunks.
//
// Most callers use [Load] (or [LoadArchive], or [Fetch] from a board found
// by [FindBoard]) and [Verify] with the published fingerprint in
// [Options], then print the [Report]; a failed check is a [Failure] naming
// one [Check] from a closed set. The example verifies the spec's example
// record.
// The package imports only the packages that define the record and its
// cryptography, never the server, the store or the identity service (a
// test enforces it), so an auditor's build contains nothing else.
package verify

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/sig"
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
}

// chunk is how many entries one worker checks as one signature batch, and
// how many ballots as one proof batch.
const (
	sigChunk    = 512
	ballotChunk = 128
)

type verifier struct {
	rec     *Record
	opt     Options
	anchors *ballot.BoardAnchors // from the manifest, once it matched the fingerprint
	log     bulletin.LogVerifier
	rep     *Report
	entries []*bulletin.Entry // nil where the entry failed an entry check
	leaves  [][32]byte
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
}

// dated is a checkpoint's (or the open entry's) tree size and time; name
// says which it is in a report.
type dated struct {
	name string
	size uint64 // a checkpoint's tree size; the open entry's position + 1
	time uint64 // Unix seconds
	fail string // the prefix rule an earlier checkpoint breaks, if any
}

// spent adds the time since start to check c; safe for concurrent use.
func (v *verifier) spent(c Check, start time.Time) {
	d := time.Since(start)
	v.tmu.Lock()
	v.times[c] += d
	v.tmu.Unlock()
}

// Verify checks rec completely and returns the report; Report.OK is true
// only if every check holds. It never panics on a malformed record.
func Verify(rec *Record, opt Options) *Report {
	start := time.Now()
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	v := &verifier{rec: rec, opt: opt, rep: newReport(), times: map[Check]time.Duration{}}
	v.rep.Workers = opt.Workers
	v.rep.Size = uint64(len(rec.Entries))
	v.rep.Counts.Entries = uint64(len(rec.Entries))

	v.stage("anchors", v.checkAnchors)
	if v.anchors == nil {
		// Nothing in a record whose manifest is not the published one
		// can be trusted, not even its log key: stop here.
		v.rep.times = v.times
		v.rep.finish()
		v.rep.Seconds = time.Since(start).Seconds()
		return v.rep
	}
	v.stage("entries", v.checkEntries)
	v.stage("tree", v.checkTree)
	v.stage("replay", v.replay)
	v.checkTimes()

	v.rep.times = v.times
	v.rep.finish()
	v.rep.Seconds = time.Since(start).Seconds()
	return v.rep
}

func (v *verifier) stage(name string, f func()) {
	t := time.Now()
	f()
	v.rep.Stages = append(v.rep.Stages, StageTime{Stage: name, Seconds: time.Since(t).Seconds()})
}

func (v *verifier) progress(stage string, done, total uint64) {
	if v.opt.Progress == nil {
		return
	}
	v.pmu.Lock()
	defer v.pmu.Unlock()
	v.opt.Progress(stage, done, total)
}

// parallel runs f(lo, hi) over [0, n) in chunks of size c on the workers,
// reporting progress for stage.
func (v *verifier) parallel(stage string, n, c int, f func(lo, hi int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	var mu sync.Mutex
	done := 0
	for range v.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				hi := min(lo+c, n)
				f(lo, hi)
				mu.Lock()
				done += hi - lo
				d := done
				mu.Unlock()
				v.progress(stage, uint64(d), uint64(n))
			}
		}()
	}
	for lo := 0; lo < n; lo += c {
		next <- lo
	}
	close(next)
	wg.Wait()
}

// checkAnchors finds the manifest (the first entry), checks it against
// the expected fingerprint and takes the board's anchors from it (§11.2).
// The manifest entry's signature and the rules are checked later with the
// rest; here only its identity matters.
func (v *verifier) checkAnchors() {
	defer v.spent(CheckAnchors, time.Now())
	v.rep.count(CheckAnchors, 1)
	if v.opt.Fingerprint.IsZero() {
		v.rep.fail(NoEntry, CheckAnchors, "no election fingerprint given: the record cannot be tied to the election the officials published")
		return
	}
	if len(v.rec.Entries) == 0 {
		v.rep.fail(NoEntry, CheckAnchors, "the record has no entries, so no manifest")
		return
	}
	e, err := bulletin.DecodeEntry(v.rec.Entries[0])
	if err != nil || e.Type != bulletin.TypeManifest {
		v.rep.fail(0, CheckAnchors, "the first entry is not a manifest entry (%v)", err)
		return
	}
	m, err := ballot.DecodeManifest(e.Payload)
	if err != nil {
		v.rep.fail(0, CheckAnchors, "%v", err)
		return
	}
	if err := v.opt.Fingerprint.Check(m); err != nil {
		v.rep.fail(0, CheckAnchors, "%v", err)
		return
	}
	lv := m.Board.LogVerifier()
	if e.Log != bulletin.LogIDFor(lv.Origin) {
		v.rep.fail(0, CheckAnchors, "the manifest entry belongs to log %x, not to the manifest's origin %q", e.Log[:8], lv.Origin)
		return
	}
	if o := v.opt.Log; o.Origin != "" && (o.Origin != lv.Origin || o.Ed25519 != lv.Ed25519 || !bytes.Equal(o.MLDSA, lv.MLDSA)) {
		v.rep.fail(0, CheckAnchors, "the log key given (origin %q) is not the one the manifest pins (origin %q)", o.Origin, lv.Origin)
		return
	}
	v.anchors, v.log = &m.Board, lv
	v.rep.Origin = lv.Origin
}

// checkEntries decodes every entry, checks that it belongs to the log, that
// no entry repeats, and every signature, in parallel batches (§11.4.1).
func (v *verifier) checkEntries() {
	n := len(v.rec.Entries)
	id := bulletin.LogIDFor(v.log.Origin)
	v.entries = make([]*bulletin.Entry, n)
	v.leaves = make([][32]byte, n)
	hashes := make([][32]byte, n)
	fmtErr := make([]error, n)
	sigErr := make([]error, n)
	v.parallel("signatures", n, sigChunk, func(lo, hi int) {
		defer v.spent(CheckEntrySignature, time.Now())
		var items []sig.Item
		var idx []int
		for i := lo; i < hi; i++ {
			data := v.rec.Entries[i]
			v.leaves[i] = bulletin.LeafHash(data)
			hashes[i] = sha256.Sum256(data)
			e, err := bulletin.DecodeEntry(data)
			if err != nil {
				fmtErr[i] = err
				continue
			}
			if e.Log != id {
				fmtErr[i] = fmt.Errorf("entry belongs to log %x, not to %q", e.Log[:8], v.log.Origin)
				continue
			}
			v.entries[i] = e
			items = append(items, sig.Item{PublicKey: e.Author[:], Message: e.SigningMessage(), Signature: e.Signature[:]})
			idx = append(idx, i)
		}
		for j, ie := range sig.VerifyEach(items) {
			sigErr[idx[j]] = ie
		}
	})
	// Each entry is reported once, under the first check it fails in the
	// order of §11.4.1: format, duplicate (of any earlier entry), signature.
	seen := make(map[[32]byte]int, n)
	for i := range n {
		j, dup := seen[hashes[i]]
		if !dup {
			seen[hashes[i]] = i
		}
		switch {
		case fmtErr[i] != nil:
			v.rep.fail(int64(i), CheckEntryFormat, "%v", fmtErr[i])
		case dup:
			v.rep.fail(int64(i), CheckEntryDuplicate, "repeats entry %d", j)
			v.entries[i] = nil
		case sigErr[i] != nil:
			v.rep.fail(int64(i), CheckEntrySignature, "%s entry by %x: %v", v.entries[i].Type, v.entries[i].Author[:8], sigErr[i])
			v.entries[i] = nil
		}
	}
	v.rep.count(CheckEntryFormat, uint64(n))
	v.rep.count(CheckEntryDuplicate, uint64(n))
	v.rep.count(CheckEntrySignature, uint64(n))
}

// checkTree rebuilds the RFC 6962 tree and checks it against the record's
// checkpoint and every earlier checkpoint (§11.4.2).
func (v *verifier) checkTree() {
	defer v.spent(CheckTree, time.Now())
	tree := bulletin.NewTree()
	tree.AppendLeaves(v.leaves...)
	n := uint64(len(v.leaves))
	v.leaves = nil
	v.rep.count(CheckCheckpointSig, 1+uint64(len(v.opt.Earlier)))
	v.rep.count(CheckTree, 1)
	v.rep.count(CheckConsistency, uint64(len(v.opt.Earlier)))
	if root, err := tree.RootAt(n); err == nil {
		v.rep.Root = fmt.Sprintf("%x", root)
	}
	// The record's checkpoint must carry the witness quorum's
	// cosignatures: a log signature alone is the server's word, and a
	// server can sign a fork that drops ballots.
	// Each checkpoint is reported once, under the first check it fails
	// (§11.5); its times are checked after the replay (checkTimes).
	cp, err := v.anchors.VerifyCheckpoint(v.rec.Checkpoint)
	if err != nil {
		v.rep.fail(NoEntry, CheckCheckpointSig, "record checkpoint: %v", err)
	} else if cp.Size != n {
		v.rep.fail(NoEntry, CheckTree, "the record has %d entries, its checkpoint says %d", n, cp.Size)
	} else if root, _ := tree.RootAt(n); root != cp.Root {
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
			if root, _ := tree.RootAt(c.Size); root != c.Root {
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
	defer v.spent(CheckConsistency, time.Now())
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
func (r *Report) finish() {
	for _, c := range Checks {
		r.Checks = append(r.Checks, CheckSummary{Check: c, Title: c.Title(), Items: r.items[c], Failures: r.fails[c], Seconds: r.times[c].Seconds()})
	}
	sortFailures(r.Failures)
	r.OK = r.FailureCount == 0
}
