package ballotbox

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"evote/ballot"
	"evote/bulletin"
	"evote/bulletin/board"
	"evote/crypto/threshold"
	"evote/election"
	"evote/record"
	"evote/store"
	"evote/tally/revote"
)

// Posted is the answer to an entry posted through the box.
type Posted struct {
	Index     uint64
	EntryHash [32]byte
	// Valid is false for a trustee's mix or decryption share whose proof
	// failed: it is on the board, its trustee named, and the tally ignores
	// it. Reason says why.
	Valid  bool
	Reason string
	// Replayed is true when the identical entry was already on the board.
	Replayed bool
}

// Trustee entry types (spec/10-api.md §10.3).
var trusteeTypes = []bulletin.Type{
	bulletin.TypeKeygenCommitment, bulletin.TypeKeygenEncryptedShare, bulletin.TypeKeygenComplaint,
	bulletin.TypeKeygenComplaintAnswer, bulletin.TypeKeygenExtraction,
	bulletin.TypeMixOutput, bulletin.TypeDecryptionShare,
	bulletin.TypeRevoteTagKey, bulletin.TypeRevoteBlind, // deniable re-voting (spec §15.1, §15.5)
}

// Identity-service entry types (spec/08-identity.md).
var identityTypes = []bulletin.Type{
	bulletin.TypeIdentityKeySet, bulletin.TypeVoterListChange,
	bulletin.TypeCredentialIssued, bulletin.TypeInPersonMark,
	bulletin.TypePollingRegistration,
	bulletin.TypeRevoteRoll, // deniable re-voting (spec §15.7)
}

// PostTrustee posts an entry signed by a trustee of the manifest: a
// key-generation message, a mix or a decryption share. The election rules
// check that the author is the trustee the message names and the phase.
func (b *Box) PostTrustee(ctx context.Context, entry []byte) (*Posted, error) {
	return b.postSigned(ctx, entry, func(s *election.State, e *bulletin.Entry) error {
		if !slices.Contains(trusteeTypes, e.Type) {
			return fmt.Errorf("%w: entry type %s is not a trustee's", ErrBadEntry, e.Type)
		}
		if s.Manifest == nil {
			return ErrNotReady
		}
		for _, t := range s.Manifest.Trustees {
			if t.SignKey == e.Author {
				return nil
			}
		}
		return fmt.Errorf("%w: the author is not a trustee of the manifest", ErrWrongAuthor)
	})
}

// CheckTrusteeHeader makes, from an entry's header alone, the checks of
// PostTrustee that need no more (spec/10-api.md §10.3): this election's
// log, a trustee's entry type, an author who is a trustee of the
// manifest, and the phase in which the election rules take that type. The
// HTTP edge calls it before it reads the rest of a body of up to 64 MiB,
// so that a stranger's body costs its header only.
func (b *Box) CheckTrusteeHeader(h bulletin.Header) error {
	if h.Log != b.log.ID() {
		return fmt.Errorf("%w: %w", ErrBadEntry, bulletin.ErrWrongLog)
	}
	if !slices.Contains(trusteeTypes, h.Type) {
		return fmt.Errorf("%w: entry type %s is not a trustee's", ErrBadEntry, h.Type)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.state
	if s.Manifest == nil {
		return ErrNotReady
	}
	if !slices.ContainsFunc(s.Manifest.Trustees, func(t ballot.Trustee) bool { return t.SignKey == h.Author }) {
		return fmt.Errorf("%w: the author is not a trustee of the manifest", ErrWrongAuthor)
	}
	// The phase rules of election.State (keygen.go, tally.go), refused
	// with the same error.
	want := []election.Phase{election.PhaseSetup}
	switch h.Type {
	case bulletin.TypeMixOutput:
		want = []election.Phase{election.PhaseMixing}
	case bulletin.TypeDecryptionShare:
		want = []election.Phase{election.PhaseDecrypting}
	case bulletin.TypeRevoteTagKey:
		want = []election.Phase{election.PhaseReady}
	case bulletin.TypeRevoteBlind:
		want = []election.Phase{election.PhaseClosed}
	}
	if s.Coercion() && (h.Type == bulletin.TypeMixOutput || h.Type == bulletin.TypeDecryptionShare) {
		// The filter's mixes and shares come after the close (spec §15.14.2 rule 5).
		want = append(want, election.PhaseClosed)
	}
	if !slices.Contains(want, s.Phase) {
		return fmt.Errorf("%w: %w: %s posted in phase %s", ErrEntryInvalid, election.ErrRefused, h.Type, s.Phase)
	}
	return nil
}

// PostIdentity posts an entry signed by the identity service named in the
// manifest: its key set, voter-list changes, polling registrations, issued
// credentials and in-person marks.
func (b *Box) PostIdentity(ctx context.Context, entry []byte) (*Posted, error) {
	return retryBehind(ctx, b, func() (*Posted, error) { return b.postIdentity(ctx, entry) })
}

func (b *Box) postIdentity(ctx context.Context, entry []byte) (*Posted, error) {
	if e, err := bulletin.DecodeEntry(entry); err == nil && e.Type == bulletin.TypeCredentialIssued && e.Log == b.log.ID() {
		if err := e.Verify(); err != nil {
			return nil, err
		}
		return b.postCredential(ctx, e)
	}
	return b.postSigned(ctx, entry, func(s *election.State, e *bulletin.Entry) error {
		if !slices.Contains(identityTypes, e.Type) {
			return fmt.Errorf("%w: entry type %s is not the identity service's", ErrBadEntry, e.Type)
		}
		if s.Manifest == nil {
			return ErrNotReady
		}
		if e.Author != s.Manifest.IdentityKey {
			return fmt.Errorf("%w: the author is not the manifest's identity service", ErrWrongAuthor)
		}
		return nil
	})
}

// postCredential posts a credential-issued entry alongside casts, without
// waiting for them: a new credential changes nothing a cast in flight
// relies on. It makes the checks of the election rules for credentials
// (spec/08-identity.md, election.State) against the applied state and the
// credentials in flight, reserves the device key, and goes through the
// ordered append like a ballot.
func (b *Box) postCredential(ctx context.Context, e *bulletin.Entry) (*Posted, error) {
	h := e.Hash()
	b.gate.RLock()
	defer b.gate.RUnlock()
	for attempt := 1; ; attempt++ {
		b.mu.Lock()
		b.catchUpLocked()
		horizon := b.state.Size
		dev, err := b.reserveCredentialLocked(e, h)
		b.mu.Unlock()
		if errors.Is(err, errReplayed) {
			i, _ := b.log.IndexOf(h)
			return &Posted{Index: i, EntryHash: h, Valid: true, Replayed: true}, nil
		}
		if err != nil {
			return nil, err
		}
		idx, err := b.appendOrdered(horizon, nil, func() { delete(b.devInFlight, dev) }, pendingApply{entry: e})
		b.mu.Lock()
		delete(b.devInFlight, dev)
		b.mu.Unlock()
		if isStale(err) && attempt < maxStale {
			if err := b.awaitForeign(); err != nil {
				return nil, err
			}
			continue
		}
		if errors.Is(err, bulletin.ErrDuplicate) {
			if i, ok := b.log.IndexOf(h); ok {
				return &Posted{Index: i, EntryHash: h, Valid: true, Replayed: true}, nil
			}
		}
		if isStale(err) {
			return nil, fmt.Errorf("%w: the board moved under %d attempts", ErrCastInProgress, attempt)
		}
		if err != nil {
			return nil, err
		}
		return &Posted{Index: idx, EntryHash: h, Valid: true}, nil
	}
}

var errReplayed = errors.New("ballotbox: entry already on the board")

func (b *Box) reserveCredentialLocked(e *bulletin.Entry, h [32]byte) ([32]byte, error) {
	if err := b.check(); err != nil {
		return [32]byte{}, err
	}
	if _, ok := b.log.IndexOf(h); ok {
		return [32]byte{}, errReplayed
	}
	s := b.state
	if s.Manifest == nil {
		return [32]byte{}, ErrNotReady
	}
	if e.Author != s.Manifest.IdentityKey {
		return [32]byte{}, fmt.Errorf("%w: the author is not the manifest's identity service", ErrWrongAuthor)
	}
	if s.Phase != election.PhaseOpen {
		return [32]byte{}, fmt.Errorf("%w: credentials are issued only while voting is open", ErrNotOpen)
	}
	c, err := record.DecodeCredentialIssued(e.Payload)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", ErrEntryInvalid, err)
	}
	if s.VotedInPerson(c.Pseudonym) {
		return [32]byte{}, ErrVotedInPerson
	}
	// The rules' own check, the one the verifier replays.
	if err := s.CheckCredential(c); err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", ErrEntryInvalid, err)
	}
	// The credentials in flight are applied before this one: the rules
	// that relate credentials to each other (one device key, one ballot
	// style per voter, the list's count of a style, the order of
	// issued-at) must still accept it then, or the log would hold an
	// entry the rules refuse. A conflict with one in flight is retried.
	pending := make([]*record.CredentialIssued, 0, len(b.devInFlight))
	for _, p := range b.devInFlight {
		pending = append(pending, p)
	}
	if err := s.CheckPendingCredential(c, pending); err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", ErrCastInProgress, err)
	}
	b.devInFlight[c.DeviceKey] = c
	return c.DeviceKey, nil
}

func (b *Box) postSigned(ctx context.Context, raw []byte, allowed func(*election.State, *bulletin.Entry) error) (*Posted, error) {
	e, err := bulletin.DecodeEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	if e.Log != b.log.ID() {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, bulletin.ErrWrongLog)
	}
	if err := e.Verify(); err != nil {
		return nil, err
	}
	return b.post(ctx, e, allowed)
}

// post applies e to the state and appends it, with no cast in flight.
// The state is checked first, so a refused entry never reaches the log; if
// the append itself fails, the state is rebuilt from the log. If another
// instance appended meanwhile (board.ErrStale), the state is rebuilt with
// its entries and e checked and appended again, up to maxStale times.
func (b *Box) post(ctx context.Context, e *bulletin.Entry, allowed func(*election.State, *bulletin.Entry) error) (*Posted, error) {
	b.gate.Lock()
	defer b.gate.Unlock()
	// Other instances' appends wait while this one catches up, checks and
	// appends (store.Barrier; the retries below remain for a store
	// without one).
	if bs, ok := b.cfg.Store.(store.Barrier); ok {
		release, err := bs.Barrier(ctx, b.sid())
		if err != nil {
			return nil, fmt.Errorf("ballotbox: %w", err)
		}
		defer release()
		ctx = store.WithBarrier(ctx)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for attempt := 1; ; attempt++ {
		p, err := b.postOnceLocked(ctx, e, allowed)
		if !isStale(err) {
			if attempt > 1 {
				b.cfg.Logger.Info("entry posted after other instances' appends moved the board", "type", e.Type.String(), "attempts", attempt, "err", err)
			}
			return p, err
		}
		if attempt == maxStale {
			return nil, fmt.Errorf("%w: the board moved under %d attempts", ErrCastInProgress, attempt)
		}
	}
}

// postOnceLocked is one attempt of post, with the gate held exclusively
// and b.mu held.
func (b *Box) postOnceLocked(ctx context.Context, e *bulletin.Entry, allowed func(*election.State, *bulletin.Entry) error) (*Posted, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if err := b.catchUpAllLocked(ctx); err != nil {
		return nil, err
	}
	h := e.Hash()
	if i, ok := b.log.IndexOf(h); ok {
		r, bad := b.invalid[i]
		return &Posted{Index: i, EntryHash: h, Valid: !bad, Reason: r, Replayed: true}, nil
	}
	if allowed != nil {
		if err := allowed(b.state, e); err != nil {
			return nil, err
		}
	}
	if e.Type == bulletin.TypeClose && b.state.Phase == election.PhaseOpen {
		// Every accepted audit goes on the board before voting closes
		// (the rules refuse audits after the close), in one last batch:
		// those accepted by any instance.
		if err := b.mergeStorePoolLocked(ctx); err != nil {
			return nil, err
		}
		if err := b.publishAllLocked(ctx); err != nil {
			return nil, err
		}
	}
	pos := b.state.Size
	if pos < b.log.Size() {
		// Another instance's entries arrived since the catch-up (no entry
		// of this box is in flight: the gate is held).
		return nil, board.ErrStale
	}
	if pos > b.log.Size() {
		b.halt(fmt.Errorf("%w: state at %d, log at %d", ErrInconsistentBox, pos, b.log.Size()))
		return nil, b.fatal
	}
	if err := b.applyLocked(e, nil, nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntryInvalid, err)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	idx, err := b.log.AppendAfter(actx, pos, e)
	cancel()
	if err != nil || idx[0] != pos {
		if rerr := b.rebuildLocked(ctx); rerr != nil {
			b.halt(fmt.Errorf("%w: rebuild after a failed append: %w", ErrInconsistentBox, rerr))
		}
		if err == nil {
			err = fmt.Errorf("%w: appended at %d, applied at %d", ErrInconsistentBox, idx[0], pos)
		}
		return nil, err
	}
	r, bad := b.invalid[pos]
	// Every entry but a ballot (whose receipt makes one) gets a checkpoint
	// the witnesses cosign, soon: the public board then always ends with
	// a witnessed checkpoint covering the election's latest step (the
	// result, right after the tally), which is what auditors fetch.
	b.cp.refresh()
	return &Posted{Index: pos, EntryHash: h, Valid: !bad, Reason: r}, nil
}

// rebuildLocked replays the log into a fresh state and fresh indices.
func (b *Box) rebuildLocked(ctx context.Context) error {
	fresh := &Box{cfg: b.cfg, log: b.log, auth: b.auth}
	fresh.resetIndices()
	if err := fresh.replay(ctx); err != nil {
		return err
	}
	b.state = fresh.state
	b.snap.Store(fresh.snap.Load())
	b.codes, b.ciphertexts, b.voters, b.turnout, b.invalid, b.lifecycle = fresh.codes, fresh.ciphertexts, fresh.voters, fresh.turnout, fresh.invalid, fresh.lifecycle
	b.rv = fresh.rv // rebuilt from the board and the ledger at its next use
	b.dropPendingBelowLocked()
	return b.reservePoolLocked()
}

// PostAuthority signs payload as the election authority and posts it.
func (b *Box) PostAuthority(ctx context.Context, t bulletin.Type, payload []byte) (*Posted, error) {
	e, err := bulletin.NewEntry(b.log.ID(), t, b.auth, bulletin.NewEd25519Signer(b.cfg.Authority), payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	return b.post(ctx, e, nil)
}

// Actions officials may ask for (spec/10-api.md §10.4), in protocol order.
const (
	ActionQualified       = "qualified"
	ActionCloseExtraction = "close-extraction"
	ActionContext         = "context"
	ActionOpen            = "open"
	ActionClose           = "close"
	ActionCleanse         = "cleanse"
	ActionStartMixing     = "start-mixing"
	ActionStartDecrypting = "start-decrypting"
	ActionTally           = "tally"
)

// Actions lists every action.
var Actions = []string{ActionQualified, ActionCloseExtraction, ActionContext, ActionOpen, ActionClose, ActionCleanse, ActionStartMixing, ActionStartDecrypting, ActionTally}

// Act computes what an official's action posts from the board and posts it
// as the authority: the qualified set of key generation, the election
// context, a lifecycle transition, the cleansing or the result. Out of
// order actions fail with ErrWrongPhase (or ErrNotReady when the board
// lacks what the action needs, e.g. trustees' messages).
func (b *Box) Act(ctx context.Context, action, official string) (*Posted, error) {
	// The action is computed from the board as the store holds it, not as
	// this instance last saw it.
	if err := b.Sync(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	t, payload, err := b.prepare(b.state, action, official)
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p, err := b.PostAuthority(ctx, t, payload)
	if errors.Is(err, ErrEntryInvalid) {
		// The phase allowed the action but the rules refused what it
		// posts: what it needs is not on the board yet (every contest
		// mixed, enough shares), or another official's action moved the
		// board meanwhile.
		return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	return p, err
}

// ActionState says whether an action would be computed now: Err is nil
// when it would, else why not (ErrWrongPhase, ErrNotReady, …).
type ActionState struct {
	Action string
	Err    error
}

// Readiness runs, for every action in protocol order, the same
// computation Act would (without posting anything), so that a console
// enables exactly the actions the board allows. Posting can still fail if
// the board moves in between; Act decides.
func (b *Box) Readiness() []ActionState {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ActionState, len(Actions))
	for i, a := range Actions {
		_, _, err := b.prepare(b.state, a, "")
		out[i] = ActionState{Action: a, Err: err}
	}
	return out
}

// prepare computes the entry an action posts from the state s (under
// b.mu): its type and payload, or why the action is not possible now.
// An action out of order fails with ErrWrongPhase and a message saying
// what must happen first (nextStep), so that an operator is never shown
// an internal check's failure for a premature action.
func (b *Box) prepare(s *election.State, action, official string) (t bulletin.Type, payload []byte, err error) {
	if s.Manifest == nil {
		return 0, nil, ErrNotReady
	}
	ai := slices.Index(Actions, action)
	if ai < 0 {
		return 0, nil, fmt.Errorf("%w: %q", ErrUnknownAction, action)
	}
	if next, wait := nextStep(s); ai != next {
		return 0, nil, outOfOrder(s, action, next, wait)
	}
	id := s.Manifest.ElectionID
	transition := func(to election.Phase, typ bulletin.Type) {
		t = typ
		payload = (&election.Transition{ElectionID: id, To: to, Official: official, At: uint64(b.cfg.Now().Unix())}).Encode()
	}
	switch action {
	case ActionQualified:
		var q *threshold.Qualified
		if q, _, err = threshold.ComputeQualified(s.Keygen()); err != nil {
			err = fmt.Errorf("%w: the trustees' key generation (dealings, complaints, answers) is not complete on the board: %w", ErrNotReady, err)
			break
		}
		t, payload = bulletin.TypeKeygenQualified, q.Bytes()
	case ActionCloseExtraction:
		var base [32]byte
		if base, err = s.Manifest.BaseHash(); err == nil {
			t, payload = bulletin.TypeKeygenQualified, election.ExtractionClosed(base)
		}
	case ActionContext:
		payload, err = contextPayload(s)
		t = bulletin.TypeElectionContext
	case ActionOpen:
		if s.IdentityKeys == nil {
			err = fmt.Errorf("%w: the identity service has not posted its key set (start evote-idp with this election's context hash)", ErrNotReady)
			break
		}
		transition(election.PhaseOpen, bulletin.TypeOpen)
	case ActionClose:
		transition(election.PhaseClosed, bulletin.TypeClose)
	case ActionCleanse:
		c, cerr := s.ComputeCleansing()
		if cerr != nil {
			err = cerr
			break
		}
		t, payload = bulletin.TypeCleansingResult, c.Encode()
	case ActionStartMixing:
		transition(election.PhaseMixing, bulletin.TypeTransition)
	case ActionStartDecrypting:
		transition(election.PhaseDecrypting, bulletin.TypeTransition)
	case ActionTally:
		r, rerr := s.ComputeResult()
		if errors.Is(rerr, revote.ErrFlags) {
			// No share will mend it: the rows this box posted are at
			// fault (a kept padding row, a dummy counted as a ballot).
			err = fmt.Errorf("%w: the result cannot be counted: %w", ErrEntryInvalid, rerr)
			break
		}
		if rerr != nil {
			err = fmt.Errorf("%w: the trustees' decryption shares are not all on the board: %w", ErrNotReady, rerr)
			break
		}
		t, payload = bulletin.TypeResult, r.Encode()
	}
	return t, payload, err
}

// nextStep returns the index in Actions of the one action the board
// allows next (len(Actions) once the election is tallied), and what
// others must post before it, if anything ("" when nothing is awaited).
// Actions follow one another in protocol order; only the extraction
// round may be left open when every trustee extracted (then context
// follows qualified directly).
func nextStep(s *election.State) (int, string) {
	switch s.Phase {
	case election.PhaseSetup:
		if s.Keygen().Qualified == nil {
			return 0, "the trustees' key generation messages (evote trustee keygen)"
		}
		if _, closed := s.ExtractionClosedAt(); !closed {
			return 1, "the trustees' extraction messages"
		}
		return 2, ""
	case election.PhaseReady:
		if s.IdentityKeys == nil {
			return 3, "the identity service's key set"
		}
		return 3, ""
	case election.PhaseOpen:
		return 4, ""
	case election.PhaseClosed:
		if s.Coercion() {
			// Deniable re-voting: no cleansing; the filter and roll call
			// of every style come first (spec §15.14.2 rule 6).
			for _, rs := range s.RevoteStyles() {
				if !rs.Done {
					return 6, "the close's slots, padding, depths and marks (the ballot box) and the filter of every ballot style (the trustees, the box, the identity service's roll)"
				}
			}
			return 6, ""
		}
		if s.Cleansing == nil {
			return 5, ""
		}
		return 6, ""
	case election.PhaseMixing:
		return 7, "every trustee's mixes (evote trustee mix)"
	case election.PhaseDecrypting:
		return 8, "the trustees' decryption shares (evote trustee decrypt)"
	}
	return len(Actions), ""
}

// outOfOrder explains why action cannot run now: it was done already, or
// what must happen first.
func outOfOrder(s *election.State, action string, next int, wait string) error {
	ai := slices.Index(Actions, action)
	if ai < next {
		// The extraction round may be skipped: context directly after
		// qualified when no extraction is missing.
		return fmt.Errorf("%w: %s is done already (the election is in phase %s)", ErrWrongPhase, action, s.Phase)
	}
	first := "post `" + Actions[next] + "` first"
	if wait != "" {
		first = "wait for " + wait + ", then post `" + Actions[next] + "`"
	}
	if next == len(Actions) {
		first = "the election is tallied"
	}
	return fmt.Errorf("%w: %s is not possible yet (the election is in phase %s): %s", ErrWrongPhase, action, s.Phase, first)
}

// contextPayload computes the election context from the key-generation
// transcript on the board (as election/sim does).
func contextPayload(s *election.State) ([]byte, error) {
	res, err := threshold.VerifyTranscript(s.Keygen())
	if err != nil {
		return nil, fmt.Errorf("%w: key generation incomplete or invalid: %w", ErrNotReady, err)
	}
	base, err := s.Manifest.BaseHash()
	if err != nil {
		return nil, err
	}
	c := &election.Context{ElectionID: s.Manifest.ElectionID, JointKey: res.JointKey, VerificationKeys: res.VerificationKeys, VoterListCommitment: s.VoterListCommitment()}
	c.ExtendedHash = threshold.ExtendedHash(base, c.JointKey, c.VerificationKeys, c.VoterListCommitment)
	return c.Encode(), nil
}

// entryInvalid reports whether the entry just applied at pos was posted but
// recorded as invalid (a trustee's failed mix or decryption share).
func entryInvalid(s *election.State, e *bulletin.Entry, pos uint64) (string, bool) {
	if e.Type != bulletin.TypeMixOutput && e.Type != bulletin.TypeDecryptionShare {
		return "", false
	}
	if n := len(s.Culprits); n > 0 && s.Culprits[n-1].Position == pos {
		return s.Culprits[n-1].String(), true
	}
	return "", false
}
