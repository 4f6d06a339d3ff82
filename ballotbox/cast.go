package ballotbox

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/zkp"
	"evote/election"
	"evote/idp/token"
	"evote/store"
)

// Receipt is what a voter keeps after casting (spec/10-api.md §10.2): the
// ballot's place on the board and a checkpoint, cosigned by the witnesses,
// whose tree includes it.
type Receipt struct {
	TrackingCode   ballot.TrackingCode
	Pseudonym      [32]byte
	Index          uint64
	EntryHash      [32]byte
	Checkpoint     []byte // signed note with witness cosignatures
	CheckpointSize uint64
	InclusionProof [][32]byte
	// Witnessed is false when the checkpoint lacks the manifest's witness
	// quorum (a witness was down): the ballot is durably on the board, and
	// the voter's check fetches a witnessed checkpoint later (spec §10.2).
	Witnessed bool
	// Replayed is true when the same entry was already on the board: the
	// original receipt is returned (an idempotent retry).
	Replayed bool
}

// appendTimeout bounds one append; it is not tied to the request, because
// an entry that reaches the log must also reach the State.
const appendTimeout = time.Minute

// Cast checks a ballot entry against the voter's bearer token and the
// election rules, appends it, and returns the receipt (see the package
// comment for the steps).
func (b *Box) Cast(ctx context.Context, bearer string, entryBytes []byte) (*Receipt, error) {
	e, err := bulletin.DecodeEntry(entryBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	if e.Type != bulletin.TypeBallot {
		return nil, fmt.Errorf("%w: entry type %s is not ballot", ErrBadEntry, e.Type)
	}
	if e.Log != b.log.ID() {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, bulletin.ErrWrongLog)
	}
	r, err := retryBehind(ctx, b, func() (*Receipt, error) { return b.cast(ctx, bearer, e) })
	if err != nil {
		return nil, signatureFirst(e, err)
	}
	return r, nil
}

// signatureFirst gives a refusal that depends on the board (a duplicate,
// a cast in flight, voting not open) or on the ballot's content
// (onMerits) only to a correctly signed entry: an entry whose signature is
// forged is bad input (bad_signature), whatever the board holds, so
// that its answer tells nothing of the board. The signature of an
// accepted ballot is checked by the log's append, in a batch; this check
// costs only refusals.
func signatureFirst(e *bulletin.Entry, err error) error {
	if !onMerits(err) {
		return err
	}
	if verr := e.Verify(); verr != nil {
		return verr
	}
	return err
}

// cast is Cast after the entry's decoding.
func (b *Box) cast(ctx context.Context, bearer string, e *bulletin.Entry) (*Receipt, error) {
	snap := b.snap.Load()
	el, ver := snap.el, snap.verifier
	if el == nil || ver == nil {
		return nil, ErrNotOpen
	}
	if bearer == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrTokenInvalid)
	}
	c, err := b.tokens.do(tokenReq{ver, bearer})
	claims, err := tokenClaims(c, err, el.ExtendedHash, false)
	if err != nil {
		return nil, err
	}
	if !ed25519.PublicKey(e.Author[:]).Equal(claims.DeviceKey) {
		return nil, ErrWrongDeviceKey
	}
	// A retry of a ballot already on the board gets its original receipt.
	h := e.Hash()
	if i, ok := b.log.IndexOf(h); ok {
		return b.receipt(ctx, i, h, claims.Pseudonym, ballot.TrackingCodeOf(e.Payload), true)
	}
	if b.refusals(claims.TokenID, false) >= MaxRefusalsPerToken {
		return nil, ErrTooManyRefusals
	}
	bal, err := b.checkBallot(el, e)
	if err != nil {
		if errors.Is(err, ErrBallotInvalid) {
			b.refusals(claims.TokenID, true)
		}
		return nil, err
	}
	cb := election.NewCheckedBallot(e.Payload, bal) // hashes ciphertexts outside the mutex
	ctKeys := cb.CiphertextHashes()

	idx, pseudonym, err := b.castChecked(e, h, cb, claims, ctKeys)
	if errors.Is(err, errReplayed) || errors.Is(err, bulletin.ErrDuplicate) {
		// A concurrent identical cast won (on this instance or another):
		// answer as a retry.
		if i, ok := b.log.IndexOf(h); ok {
			return b.receipt(ctx, i, h, claims.Pseudonym, cb.Code, true)
		}
	}
	if err != nil {
		return nil, err
	}
	return b.receipt(ctx, idx, h, pseudonym, cb.Code, false)
}

// castChecked reserves the checked ballot against the state and appends
// it; if another instance appended meanwhile (board.ErrStale), it applies
// those entries and tries again, up to maxStale times. It holds b.gate
// shared, and not while the receipt waits for a checkpoint: entries that
// wait for casts in flight need not also wait for receipts.
func (b *Box) castChecked(e *bulletin.Entry, h [32]byte, cb *election.CheckedBallot, claims *token.Claims, ctKeys [][32]byte) (uint64, [32]byte, error) {
	b.gate.RLock()
	defer b.gate.RUnlock()
	for attempt := 1; ; attempt++ {
		b.mu.Lock()
		b.catchUpLocked()
		horizon, fence := b.state.Size, b.castFenceLocked()
		pseudonym, keys, err := b.reserveLocked(cb, claims, ctKeys)
		b.mu.Unlock()
		if err != nil {
			if _, ok := b.log.IndexOf(h); ok {
				return 0, pseudonym, errReplayed
			}
			return 0, pseudonym, err
		}
		idx, err := b.appendOrdered(horizon, fence, func() { b.releaseLocked(cb, pseudonym, keys, false) }, pendingApply{entry: e, cb: cb, pseudonym: pseudonym, keys: keys})
		fenced := errors.Is(err, store.ErrAuditFence)
		if !isStale(err) && !fenced {
			return idx, pseudonym, err
		}
		if attempt == maxStale {
			return 0, pseudonym, fmt.Errorf("%w: the board moved under %d attempts", ErrCastInProgress, attempt)
		}
		if fenced {
			// Another instance accepted an audit since the checks: learn
			// it (its ciphertexts may be this ballot's) and check again.
			if err := b.syncAuditPool(context.Background()); err != nil {
				return 0, pseudonym, err
			}
			continue
		}
		// Another instance appended since the checks: apply its entries
		// and check again.
		if err := b.awaitForeign(); err != nil {
			return 0, pseudonym, err
		}
	}
}

// checkBallot decodes the ballot of entry e and checks its shape and
// proofs (spec §9.5 rules 1 and 4). Decoding the proofs and building their
// equations is most of a ballot's cost: it happens here, in the request's
// goroutine; the proof gatherer then checks many ballots' equations at
// once.
func (b *Box) checkBallot(el *ballot.Election, e *bulletin.Entry) (*ballot.EncryptedBallot, error) {
	bal, err := ballot.DecodeBallot(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBallotInvalid, err)
	}
	if bal.CredentialKey != e.Author {
		return nil, fmt.Errorf("%w: the ballot's credential key is not the entry's author", ErrBallotInvalid)
	}
	if bal.ElectionID != el.Manifest.ElectionID {
		return nil, fmt.Errorf("%w: ballot for election %q", ErrBallotInvalid, bal.ElectionID)
	}
	zb := zkp.NewBatch()
	if err := el.AddToBatch(zb, bal, "ballot"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBallotInvalid, err)
	}
	if _, err := b.proofs.do(zb); err != nil {
		if errors.Is(err, ErrShutdown) || errors.Is(err, errCheckFailed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrBallotInvalid, err)
	}
	return bal, nil
}

// MaxRefusalsPerToken bounds the casts of one voting token that may be
// refused as invalid ballots. An honest device never makes one; a client
// that sends ballots with false proofs costs every ballot of its merged
// batch a second check, so it is stopped (429 too_many_refusals). The
// count is kept in memory only.
const MaxRefusalsPerToken = 10

// refusals returns how many casts of the token tokenID were refused as
// invalid, counting one more first if add is set.
func (b *Box) refusals(tokenID string, add bool) int {
	b.refusedMu.Lock()
	defer b.refusedMu.Unlock()
	if add {
		b.refused[tokenID]++
	}
	return b.refused[tokenID]
}

// verifyToken checks the bearer token and its binding to the election's
// context.
func verifyToken(v *token.Verifier, bearer string, ctxHash [32]byte) (*token.Claims, error) {
	if bearer == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrTokenInvalid)
	}
	c, err := v.Verify(bearer)
	return tokenClaims(c, err, ctxHash, false)
}

// tokenClaims maps the outcome of a token's verification to the box's
// errors and checks the token's binding to the election's context, and
// that it is an in-person mark's token (claim "mark", spec §15.16.4)
// exactly when mark is set: a mark's token casts the mark's row and
// nothing else, and a mark's row needs one.
func tokenClaims(c *token.Claims, err error, ctxHash [32]byte, mark bool) (*token.Claims, error) {
	if errors.Is(err, ErrShutdown) || errors.Is(err, errCheckFailed) {
		return nil, err
	}
	if errors.Is(err, token.ErrExpired) {
		return nil, fmt.Errorf("%w: %w", ErrTokenExpired, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if c.ContextHash != ctxHash {
		return nil, fmt.Errorf("%w: token bound to another election context", ErrTokenInvalid)
	}
	switch {
	case c.Mark && !mark:
		return nil, fmt.Errorf("%w: an in-person mark's token casts only the mark's row", ErrTokenInvalid)
	case !c.Mark && mark:
		return nil, fmt.Errorf("%w: a mark's row needs the token the identity service issued for the mark", ErrTokenInvalid)
	}
	return c, nil
}

// A tokenReq is a bearer token to check under the verifier of the
// election's current state.
type tokenReq struct {
	v   *token.Verifier
	tok string
}

// tokenBatchMin is the batch size below which the token gatherer waits (up
// to tokenBatchWindow) for more casts.
const (
	tokenBatchMin    = 8
	tokenBatchWindow = time.Millisecond
)

// newTokenGatherer checks the tokens of concurrent casts with one signature
// batch per verifier (token.Verifier.VerifyBatch): a batch costs less than
// half as much per token as single checks. Tokens are checked before any
// ballot is decoded, so a request without a valid token costs little.
func newTokenGatherer(maxBatch int, logger *slog.Logger) *gatherer[tokenReq, *token.Claims] {
	return newGatherer("token check", tokenBatchWindow, tokenBatchMin, maxBatch, logger, verifyTokens)
}

func verifyTokens(reqs []tokenReq) ([]*token.Claims, []error) {
	outs, errs := make([]*token.Claims, len(reqs)), make([]error, len(reqs))
	byVerifier := map[*token.Verifier][]int{} // normally one
	for i, r := range reqs {
		byVerifier[r.v] = append(byVerifier[r.v], i)
	}
	for v, idx := range byVerifier {
		toks := make([]string, len(idx))
		for j, i := range idx {
			toks[j] = reqs[i].tok
		}
		cs, es := v.VerifyBatch(toks)
		for j, i := range idx {
			outs[i], errs[i] = cs[j], es[j]
		}
	}
	return outs, errs
}

// reserveLocked makes the stateful checks of spec §9.5 (rules 2, 3, 5, 6)
// against the applied state and every cast in flight, then reserves the
// ballot's tracking code, ciphertexts and pseudonym. b.mu is held.
func (b *Box) reserveLocked(cb *election.CheckedBallot, claims *token.Claims, ctKeys [][32]byte) ([32]byte, [][32]byte, error) {
	if err := b.check(); err != nil {
		return [32]byte{}, nil, err
	}
	s := b.state
	if s.Phase != election.PhaseOpen {
		return [32]byte{}, nil, fmt.Errorf("%w: phase %s", ErrNotOpen, s.Phase)
	}
	cred, ok := s.Credential(cb.Ballot.CredentialKey)
	if !ok {
		return [32]byte{}, nil, ErrNoCredential
	}
	if cred.Pseudonym != claims.Pseudonym || cred.BallotStyle != claims.BallotStyle {
		return [32]byte{}, nil, fmt.Errorf("%w: token and credential name different voters or styles", ErrTokenInvalid)
	}
	if cred.BallotStyle != cb.Ballot.Style {
		return [32]byte{}, nil, fmt.Errorf("%w: ballot style %s, the credential is for %s", ErrBallotInvalid, cb.Ballot.Style, cred.BallotStyle)
	}
	if s.VotedInPerson(cred.Pseudonym) {
		return [32]byte{}, nil, ErrVotedInPerson
	}
	if p, dup := b.codeAt(cb.Code); dup {
		if p == reservedPos {
			return [32]byte{}, nil, ErrCastInProgress
		}
		return [32]byte{}, nil, fmt.Errorf("%w: at entry %d", ErrDuplicateBallot, p)
	}
	keys := ctKeys
	for _, k := range keys {
		if p, dup := b.ciphertextAt(k); dup {
			switch p {
			case reservedPos:
				return [32]byte{}, nil, ErrCastInProgress
			case auditPendingPos:
				return [32]byte{}, nil, fmt.Errorf("%w: an audited ballot waiting to be published", ErrDuplicateCipher)
			}
			return [32]byte{}, nil, fmt.Errorf("%w: entry %d", ErrDuplicateCipher, p)
		}
	}
	if s.Manifest.Revote == ballot.SingleBallot {
		if len(s.BallotsOf(cred.Pseudonym)) > 0 {
			return [32]byte{}, nil, ErrOneBallotOnly
		}
		if b.inFlight[cred.Pseudonym] > 0 {
			return [32]byte{}, nil, ErrCastInProgress
		}
	}
	// The authoritative check, the same the verifier makes.
	if _, err := s.CheckCast(cb); err != nil {
		return [32]byte{}, nil, fmt.Errorf("%w: %w", ErrBallotInvalid, err)
	}
	b.codes[cb.Code] = reservedPos
	for _, k := range keys {
		b.ciphertexts[k] = reservedPos
	}
	b.inFlight[cred.Pseudonym]++
	return cred.Pseudonym, keys, nil
}

// releaseLocked drops a reservation: on failure the code and ciphertexts
// become free again; on success index() has already recorded them.
func (b *Box) releaseLocked(cb *election.CheckedBallot, pseudonym [32]byte, keys [][32]byte, applied bool) {
	if !applied {
		if cb != nil && b.codes[cb.Code] == reservedPos {
			delete(b.codes, cb.Code)
		}
		for _, k := range keys {
			if b.ciphertexts[k] == reservedPos {
				delete(b.ciphertexts, k)
			}
		}
	}
	if cb != nil {
		if b.inFlight[pseudonym]--; b.inFlight[pseudonym] <= 0 {
			delete(b.inFlight, pseudonym)
		}
	}
}

// appendOrdered appends reserved entries (one ballot or credential, or a
// batch of audits, at consecutive positions), checked against the state's
// first horizon entries and the reservations, then applies them (and any
// entries before them that are waiting) in index order, and returns the
// first index. A ballot's fence (castFenceLocked) is the audit pool it
// was checked against (store.ErrAuditFence if another instance has added
// an audit since). fail releases the reservations if the append is refused
// (board.ErrStale when another instance appended meanwhile); the caller
// holds b.gate shared.
func (b *Box) appendOrdered(horizon uint64, fence *uint64, fail func(), pas ...pendingApply) (uint64, error) {
	entries := make([]*bulletin.Entry, len(pas))
	for i := range pas {
		entries[i] = pas[i].entry
	}
	base := context.Background()
	if fence != nil {
		base = store.WithAuditFence(base, *fence)
	}
	actx, cancel := context.WithTimeout(base, appendTimeout)
	idx, err := b.log.AppendAfter(actx, horizon, entries...)
	cancel()
	b.mu.Lock()
	if err != nil {
		fail()
		if errors.Is(err, context.DeadlineExceeded) {
			// The entry may still become durable; the state can no longer
			// be trusted to follow the log.
			b.halt(fmt.Errorf("%w: append timed out", ErrInconsistentBox))
		}
		b.mu.Unlock()
		return 0, err
	}
	last := len(pas) - 1
	for j := range pas {
		if idx[j] < b.state.Size {
			// Applied already as a foreign entry: the log found it in the
			// store after its acknowledgement was lost.
			if pas[j].cb != nil {
				b.inFlightDone(pas[j].pseudonym)
			}
			continue
		}
		pas[j].done = make(chan struct{})
		b.pending[idx[j]] = pas[j]
	}
	b.catchUpLocked()
	done := pas[last].done
	b.mu.Unlock()
	if done != nil {
		<-done
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state.Size <= idx[last] {
		return 0, b.fatal
	}
	return idx[0], nil
}

// halt records a broken invariant: the box refuses everything from now on
// and every cast waiting for its apply is released with the error.
func (b *Box) halt(err error) {
	if b.fatal == nil {
		b.fatal = err
		b.cfg.Logger.Error("ballot box halted", "err", err)
	}
	for i, p := range b.pending {
		if p.done != nil {
			close(p.done)
		}
		delete(b.pending, i)
	}
}

func (b *Box) inFlightDone(p [32]byte) {
	if b.inFlight[p]--; b.inFlight[p] <= 0 {
		delete(b.inFlight, p)
	}
}

// receipt builds the receipt of the ballot at index i, waiting for a
// cosigned checkpoint that covers it.
func (b *Box) receipt(ctx context.Context, i uint64, h [32]byte, pseudonym [32]byte, code ballot.TrackingCode, replayed bool) (*Receipt, error) {
	cp, err := b.cp.covering(ctx, i, false)
	if err != nil {
		return nil, err
	}
	proof, err := b.log.InclusionProof(i, cp.size)
	if err != nil {
		return nil, err
	}
	return &Receipt{TrackingCode: code, Pseudonym: pseudonym, Index: i, EntryHash: h, Checkpoint: cp.note, CheckpointSize: cp.size, InclusionProof: proof,
		Witnessed: cp.witnessed, Replayed: replayed}, nil
}
