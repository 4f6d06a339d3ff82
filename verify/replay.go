package verify

import (
	"errors"
	"slices"
	"strings"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/threshold"
	"evote/crypto/zkp"
	"evote/election"
	"evote/tally"
	"evote/tally/revote"
)

// checkOf names the check that an entry of type t undergoes in the replay
// (ballots have several; see castCheck and precheckFailure).
func checkOf(t bulletin.Type) Check {
	switch t {
	case bulletin.TypeManifest:
		return CheckManifest
	case bulletin.TypeKeygenCommitment, bulletin.TypeKeygenEncryptedShare, bulletin.TypeKeygenComplaint,
		bulletin.TypeKeygenComplaintAnswer, bulletin.TypeKeygenQualified, bulletin.TypeKeygenExtraction:
		return CheckKeygen
	case bulletin.TypeElectionContext:
		return CheckContext
	case bulletin.TypeIdentityKeySet:
		return CheckIdentityKeys
	case bulletin.TypeVoterListChange:
		return CheckVoterList
	case bulletin.TypePollingRegistration:
		return CheckPolling
	case bulletin.TypeOpen, bulletin.TypeClose, bulletin.TypeTransition:
		return CheckLifecycle
	case bulletin.TypeCredentialIssued:
		return CheckCredential
	case bulletin.TypeInPersonMark:
		return CheckInPerson
	case bulletin.TypeBallot:
		return CheckBallotProof
	case bulletin.TypeAuditedBallot:
		return CheckAudit
	case bulletin.TypeCleansingResult:
		return CheckCleansing
	case bulletin.TypeMixOutput:
		return CheckMixChain
	case bulletin.TypeDecryptionShare:
		return CheckDecryption
	case bulletin.TypeResult:
		return CheckResult
	case bulletin.TypeRevoteTagKey:
		return CheckRevoteTagKey
	case bulletin.TypeRevoteSlot, bulletin.TypeRevoteCredential:
		return CheckRevoteSlot
	case bulletin.TypeRevotePadding:
		return CheckRevotePadding
	case bulletin.TypeRevoteDepths:
		return CheckRevoteDepths
	case bulletin.TypeRevoteMarks:
		return CheckRevoteMarks
	case bulletin.TypeRevoteRoll:
		return CheckRevoteRoll
	case bulletin.TypeRevoteBlind:
		return CheckRevoteBlind
	case bulletin.TypeRevoteFilter:
		return CheckRevoteFilter
	}
	return CheckProtocol
}

// revoteCheck names the check of an entry of a coercion-mode election
// (spec §15.11) where it differs from checkOf's: the filter's and roll
// call's mixes and decryption shares, which are posted before the tally's,
// while voting is closed; and a refusal by the roll call's rules, which
// the share completing it meets.
func revoteCheck(s *election.State, e *bulletin.Entry, c Check, err error) Check {
	if !s.Coercion() {
		return c
	}
	if s.Phase == election.PhaseClosed {
		switch e.Type {
		case bulletin.TypeMixOutput:
			c = CheckRevoteMix
		case bulletin.TypeDecryptionShare:
			c = CheckRevoteShares
		}
	}
	if err != nil && (errors.Is(err, revote.ErrRollCall) || errors.Is(err, revote.ErrDummyGroupCount)) {
		c = CheckRevoteRollCall
	}
	return c
}

// chainFailure reports whether a skipped mix broke the chain (wrong
// contest, a trustee mixing twice, not the last valid list) rather than
// failing its proof.
func chainFailure(err error) bool {
	return errors.Is(err, tally.ErrWrongContest) || errors.Is(err, tally.ErrDuplicateMixer) || errors.Is(err, tally.ErrInputMismatch)
}

// ballotChecks are the checks every ballot entry undergoes.
var ballotChecks = []Check{CheckBallotFormat, CheckBallotProof, CheckBallotCred, CheckBallotStyle, CheckBallotPeriod, CheckBallotUnique, CheckBallotPolicy}

// reason strips the rules' framing from a refusal.
func reason(err error) string {
	s := err.Error()
	if i := strings.Index(s, election.ErrRefused.Error()+": "); i >= 0 {
		return s[i+len(election.ErrRefused.Error())+2:]
	}
	return s
}

// A precheck is the outcome of a ballot's stateless checks, made by a
// worker ahead of the replay.
type precheck struct {
	cb    *election.CheckedBallot
	check Check // set with err
	err   error
}

// replayEntry applies entry i (nil if it failed an entry check) to the
// election's state in log order (§11.4.3 to §11.4.6). A refused entry is
// reported and skipped, but keeps its position, so later positions stay
// those of the log. A ballot after the election context has had its
// stateless checks (decoding, proofs) made by a worker (p), or has them
// made here if its batch was checked before the context was known.
func (v *verifier) replayEntry(i uint64, e *bulletin.Entry, p *precheck) {
	if v.stopped {
		return
	}
	s := v.state
	if e != nil && e.Type == bulletin.TypeBallot && s.Context != nil {
		if p == nil {
			p = &v.precheckChunk(v.prestate(), []*bulletin.Entry{e})[0]
		}
		v.applyBallot(s, i, e, *p)
		return
	}
	if !v.applyOne(s, i, e) {
		v.stopped = true
		return
	}
	if s.Context != nil {
		v.prestate()
	}
	v.release(s)
}

// release drops from the replayed state what the rules no longer read,
// so that the verifier's memory during the tally is not that of the
// casting as well: once the cleansing is accepted, the cast ballots and
// the casting rules' indices (election.State.ReleaseCasting: the tally's
// input lists hold the ciphertexts counting needs; no ballot, credential
// or in-person mark is accepted and no cleansing recomputed after it), and
// once decryption has begun, the single-choice contests' cleansed lists
// (their last mix's output is what is decrypted).
func (v *verifier) release(s *election.State) {
	if s.Cleansing != nil && !v.castReleased {
		s.ReleaseCasting()
		v.castReleased = true
	}
	if s.Phase >= election.PhaseDecrypting && !v.released {
		for _, c := range s.Tally {
			c.ReleaseInput()
		}
		v.released = true
	}
}

// prestate returns the state a ballot's stateless checks read, made once
// the context is applied: it holds only what PrecheckBallot reads, and the
// context never changes once set, so every ballot is prechecked as at its
// position.
func (v *verifier) prestate() *election.State {
	if pre := v.pre.Load(); pre != nil {
		return pre
	}
	s := v.state
	pre := &election.State{Manifest: s.Manifest, Context: s.Context, PublicKey: s.PublicKey}
	v.pre.Store(pre)
	return pre
}

// applyOne applies a non-ballot (or early ballot) entry; it returns false
// if the replay cannot go on (no manifest).
func (v *verifier) applyOne(s *election.State, i uint64, e *bulletin.Entry) bool {
	if e == nil {
		if s.Manifest == nil {
			v.rep.fail(int64(i), CheckManifest, "the first entry is unusable, so nothing after it can be checked")
			return false
		}
		s.Size++
		return true
	}
	c := checkOf(e.Type)
	if e.Type == bulletin.TypeBallot {
		for _, bc := range ballotChecks {
			v.rep.count(bc, 1)
		}
		v.rep.Counts.Ballots++
		c = CheckBallotPeriod // before the election context: not yet open
	} else {
		v.rep.count(c, 1)
	}
	culprits := len(s.Culprits)
	tc := c
	switch e.Type {
	case bulletin.TypeMixOutput:
		tc = CheckMixProof
	case bulletin.TypeDecryptionShare:
		tc = CheckDecryptionProof
	}
	if rc := revoteCheck(s, e, c, nil); rc != c {
		// The filter's mixes and shares: counted and timed as theirs.
		v.rep.items[c]--
		v.rep.count(rc, 1)
		c, tc = rc, rc
	}
	// A proof of shuffle's verification runs goroutines of its own: its
	// CPU is the process's (the workers meanwhile check little more than
	// the signatures of the few entries after it).
	cpu := threadCPU
	if e.Type == bulletin.TypeMixOutput {
		cpu = processCPU
	}
	t0 := cpu()
	err := s.Apply(e)
	v.spent(tc, cpu()-t0)
	if err != nil {
		if s.Manifest == nil {
			v.rep.fail(int64(i), CheckManifest, "%s; nothing after it can be checked", reason(err))
			return false
		}
		v.rep.fail(int64(i), revoteCheck(s, e, c, err), "%s", reason(err))
		s.Size++
		return true
	}
	if e.Type == bulletin.TypeOpen {
		// Accepted by the rules, so it decodes: its time bounds the
		// checkpoints that contain it (checkTimes).
		if t, err := election.DecodeTransition(e.Payload); err == nil {
			v.opened = &dated{name: "open", size: s.Size, time: t.At}
		}
	}
	// An invalid mix or decryption share is kept by the rules, which go on
	// without it and name its trustee: the verifier reports it.
	proof := map[bulletin.Type]Check{bulletin.TypeMixOutput: CheckMixProof, bulletin.TypeDecryptionShare: CheckDecryptionProof}
	if pc, ok := proof[e.Type]; ok || e.Type == bulletin.TypeRevoteBlind {
		if strings.HasPrefix(string(c), "revote.") {
			// The filter's checks count each entry once, proof included.
			pc = c
		} else {
			v.rep.count(pc, 1)
		}
		for _, cu := range s.Culprits[culprits:] {
			c := pc
			if pc == CheckMixProof && chainFailure(cu.Err) {
				c = CheckMixChain
			}
			v.rep.fail(int64(i), c, "trustee %d, contest %s: %s", cu.Trustee, cu.Contest, cu.Reason)
		}
	}
	v.counted(e)
	return true
}

func (v *verifier) counted(e *bulletin.Entry) {
	switch e.Type {
	case bulletin.TypeCredentialIssued:
		v.rep.Counts.Credentials++
	case bulletin.TypeInPersonMark:
		v.rep.Counts.InPerson++
	case bulletin.TypeAuditedBallot:
		v.rep.Counts.Audited++
	case bulletin.TypeBallot:
		v.rep.Counts.ValidBallots++
	case bulletin.TypeMixOutput:
		v.mixes++
	case bulletin.TypeDecryptionShare:
		v.shares++
	}
}

// precheckChunk makes the stateless checks of a chunk of ballots with all
// their proofs in one batch; if the batch fails, each ballot is checked
// alone to name every bad one.
func (v *verifier) precheckChunk(pre *election.State, entries []*bulletin.Entry) []precheck {
	t0 := threadCPU()
	defer func() { v.spent(CheckBallotProof, threadCPU()-t0) }()
	res := make([]precheck, len(entries))
	batch := zkp.NewBatch()
	for j, e := range entries {
		cb, err := pre.PrecheckBallot(e, batch)
		if err != nil {
			res[j] = precheck{check: precheckFailure(pre, e, err), err: err}
			continue
		}
		res[j].cb = cb
	}
	if err := batch.Verify(); err != nil {
		for j, e := range entries {
			if res[j].cb == nil {
				continue
			}
			if _, err := pre.CheckBallot(e); err != nil {
				res[j] = precheck{check: CheckBallotProof, err: err}
			}
		}
	}
	// The proofs have been verified: the replayed state, which keeps every
	// ballot, needs only their ciphertexts (the proofs are about 700 bytes
	// per ballot).
	for _, r := range res {
		if r.cb != nil {
			for k := range r.cb.Ballot.Contests {
				r.cb.Ballot.Contests[k].Proof = nil
			}
		}
	}
	return res
}

// precheckFailure names the check a ballot failed in PrecheckBallot with
// err: its encoding and shape (a ciphertext in clear among them, §9.3),
// the entry's author, the style, else its proofs.
func precheckFailure(pre *election.State, e *bulletin.Entry, err error) Check {
	if errors.Is(err, ballot.ErrClearCiphertext) {
		return CheckBallotFormat
	}
	b, err := ballot.DecodeBallot(e.Payload)
	if err != nil {
		return CheckBallotFormat
	}
	if b.CredentialKey != e.Author {
		return CheckBallotCred
	}
	m := pre.Manifest
	if b.ElectionID != m.ElectionID {
		return CheckBallotFormat
	}
	style, ok := m.Style(b.Style)
	if !ok {
		return CheckBallotStyle
	}
	if len(b.Contests) != len(style.Contests) {
		return CheckBallotFormat
	}
	for i, id := range style.Contests {
		c, _ := m.Contest(id)
		want := 1
		if c.Kind == ballot.MultiSelect {
			want = len(c.Candidates)
		}
		if len(b.Contests[i].Ciphertexts) != want {
			return CheckBallotFormat
		}
	}
	return CheckBallotProof
}

// castCheck names the casting rule (spec §9.5 rules 2, 3, 5, 6) that a
// ballot breaks, looking at the state in the order election.State.CheckCast
// does (§11.4.3); it is consulted only when the rules refuse the ballot.
func castCheck(s *election.State, cb *election.CheckedBallot) Check {
	if s.Phase != election.PhaseOpen {
		return CheckBallotPeriod
	}
	cred, ok := s.Credential(cb.Ballot.CredentialKey)
	if !ok {
		return CheckBallotCred
	}
	if cred.BallotStyle != cb.Ballot.Style {
		return CheckBallotStyle
	}
	if s.VotedInPerson(cred.Pseudonym) {
		return CheckBallotCred
	}
	if _, dup := s.BallotByCode(cb.Code); dup {
		return CheckBallotUnique
	}
	if _, dup := s.RepeatedCiphertext(cb); dup {
		return CheckBallotUnique
	}
	return CheckBallotPolicy
}

func (v *verifier) applyBallot(s *election.State, i uint64, e *bulletin.Entry, p precheck) {
	for _, bc := range ballotChecks {
		v.rep.count(bc, 1)
	}
	v.rep.Counts.Ballots++
	if p.err != nil {
		v.rep.fail(int64(i), p.check, "%s", reason(p.err))
		s.Size++
		return
	}
	c := castCheck(s, p.cb)
	t0 := threadCPU()
	err := s.ApplyChecked(e, p.cb)
	v.spent(CheckBallotUnique, threadCPU()-t0)
	if err != nil {
		v.rep.fail(int64(i), c, "%s", reason(err))
		s.Size++
		return
	}
	v.counted(e)
}

// summarise records what the replayed state says about the election.
func (v *verifier) summarise(s *election.State) {
	if s.Manifest != nil {
		v.rep.ElectionID = s.Manifest.ElectionID
		v.rep.coercion = s.Coercion()
	}
	v.rep.Phase = s.Phase.String()
	if s.Result == nil && !v.opt.Partial {
		v.rep.count(CheckResult, 1)
		v.rep.fail(NoEntry, CheckResult, "the record ends in phase %s, without a result (use a partial verification for an election in progress)", s.Phase)
	}
	v.rep.Counts.Mixes, v.rep.Counts.Shares = v.mixes, v.shares
	if s.Result != nil {
		for _, c := range s.Result.Contests {
			v.rep.Result = append(v.rep.Result, ContestCounts{Contest: c.ContestID, Ballots: c.Ballots, Withheld: c.Withheld, Counts: c.Counts,
				Names: countNames(s.Manifest, c.ContestID, len(c.Counts))})
		}
	}
	if s.Coercion() {
		for _, rs := range s.RevoteStyles() {
			v.rep.Counts.RevoteSlots += uint64(rs.Slots)
			v.rep.Counts.RevoteRows += uint64(rs.Board)
			v.rep.Counts.RevoteVoters += uint64(rs.Voters)
		}
	}
	if s.Cleansing != nil {
		v.rep.Counts.Counted = uint64(len(s.Cleansing.Counted))
		v.rep.Counts.Cancelled = uint64(len(s.Cleansing.Cancelled))
	}
	if s.Result != nil {
		v.noteMissingShares(s)
	}
}

// noteMissingShares notes, once the result is accepted, every trustee
// without a decryption share of a decrypted contest (§11.5). The result
// needs only t shares, so a missing share breaks no rule; but a share the
// trustee withheld or the board dropped is an event the auditor hears of,
// and a trustee with shares of some contests and not of others is the
// pattern of a board dropping one. A contest for which the trustee posted
// an invalid share is not noted: decryption.proof already names it.
func (v *verifier) noteMissingShares(s *election.State) {
	invalid := map[string]map[int]bool{}
	for _, cu := range s.Culprits {
		if errors.Is(cu.Err, threshold.ErrInvalidShare) {
			if invalid[cu.Contest] == nil {
				invalid[cu.Contest] = map[int]bool{}
			}
			invalid[cu.Contest][cu.Trustee] = true
		}
	}
	for _, tr := range s.Manifest.Trustees {
		j := int(tr.Index)
		var missing []string
		decrypted, has := 0, 0
		for _, c := range s.Tally {
			if c.Withheld {
				continue
			}
			decrypted++
			if _, ok := c.Shares[j]; ok {
				has++
			} else if !invalid[c.Contest.ID][j] {
				missing = append(missing, c.Contest.ID)
			}
		}
		switch {
		case len(missing) == 0:
		case has == 0 && len(missing) == decrypted:
			v.rep.note(NoEntry, CheckDecryption, "trustee %d has no decryption share of any contest: the result was combined from other trustees' shares", j)
		default:
			v.rep.note(NoEntry, CheckDecryption, "trustee %d has no decryption share of contest %s, though it has of %d other contest(s): withheld by the trustee or dropped by the board; the result was combined from other trustees' shares", j, strings.Join(missing, ", "), has)
		}
	}
}

// sortFailures puts failures in report order (see Report.finish).
func sortFailures(f []Failure) {
	slices.SortStableFunc(f, func(a, b Failure) int {
		if d := a.Check.stage() - b.Check.stage(); d != 0 {
			return d
		}
		if a.Entry != b.Entry {
			// Failures about no single entry come after the entries' own.
			if a.Entry == NoEntry || b.Entry != NoEntry && a.Entry > b.Entry {
				return 1
			}
			if b.Entry == NoEntry || a.Entry < b.Entry {
				return -1
			}
			return 1
		}
		return a.Check.order() - b.Check.order()
	})
}

// countNames labels a contest's counts from the manifest (nil if the
// contest or its candidates do not match the counts): a single-choice
// contest counts blank ballots first.
func countNames(m *ballot.Manifest, contest string, n int) []string {
	if m == nil {
		return nil
	}
	for _, c := range m.Contests {
		if c.ID != contest {
			continue
		}
		var names []string
		if c.Kind == ballot.SingleChoice {
			names = append(names, "(blank)")
		}
		for _, cand := range c.Candidates {
			name := cand.Name.En
			if name == "" {
				name = cand.ID
			}
			names = append(names, name)
		}
		if len(names) != n {
			return nil
		}
		return names
	}
	return nil
}
