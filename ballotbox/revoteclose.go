package ballotbox

// The close of an election in deniable re-voting mode (spec §15.4,
// §15.16.6): per ballot style, one more slot after the close entry, then
// slots while casts accepted before the close wait; then the padding (so
// that every identifier has exactly M rows), the depths (each row's rank
// among its identifier's rows, board order first) and the marks. Each
// step is one entry the rules take once; the padding's plan (whose row is
// whose) is stored under the barrier before the padding's append, so the
// depths are computed from the ledger and the board after any crash.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"

	"evote/ballot"
	"evote/bulletin"
	"evote/election"
	"evote/store"
	"evote/tally/revote"
)

// paddingSlot is the plan slot number of a style's padding.
const paddingSlot = math.MaxUint32

// closeRevote takes the next step of the close for every style, until
// each has its padding, depths and marks.
func (b *Box) closeRevote(ctx context.Context) error {
	for {
		b.mu.Lock()
		if err := b.syncRevoteLocked(ctx); err != nil {
			b.mu.Unlock()
			return err
		}
		step, style, slot := b.nextCloseStepLocked()
		b.mu.Unlock()
		var err error
		switch step {
		case "":
			return nil
		case "slot":
			err = b.postSlot(ctx, style, int64(slot))
		case "padding":
			err = b.postPadding(ctx, style)
		case "depths":
			err = b.postDepths(ctx, style)
		case "marks":
			err = b.postMarks(ctx, style)
		case "filter":
			err = b.postFilter(ctx, style)
		}
		if err != nil {
			return fmt.Errorf("ballotbox: %s of style %s: %w", step, style, err)
		}
	}
}

// nextCloseStepLocked names the next entry of the close: a slot while the
// style has none after the close entry or casts wait, then its padding,
// depths and marks. b.mu is held.
func (b *Box) nextCloseStepLocked() (step, style string, slot uint32) {
	var closedAt uint64
	for _, m := range b.lifecycle {
		if m.Phase == election.PhaseClosed {
			closedAt = m.Index
		}
	}
	for _, st := range b.state.RevoteStyles() {
		switch {
		case !st.Padded:
			after := false
			for k, se := range b.rv.slots {
				if k.style == st.Style && se.index > closedAt {
					after = true
				}
			}
			if !after || b.queuedLocked(st.Style) > 0 {
				return "slot", st.Style, st.Slots
			}
			return "padding", st.Style, 0
		case !st.HasDepths:
			return "depths", st.Style, 0
		case !st.HasMarks:
			return "marks", st.Style, 0
		}
	}
	// The filter entry of the current style, once t valid shares of its
	// tags are on the board (spec §15.5 step 5).
	if k := b.state.RevoteCurrent(); k >= 0 && k < len(b.state.RevoteStyles()) {
		st := b.state.RevoteStyles()[k]
		if st.Kept == nil && len(st.TagShareList) >= int(b.state.Manifest.Threshold) {
			return "filter", st.Style, 0
		}
	}
	return "", "", 0
}

// postFilter posts the authority's filter entry of the style whose tag
// shares are on the board (spec §15.5 steps 4-5), as the rules compute it
// (election.State.ComputeRevoteFilter: the tags from t valid shares of the
// last blinded list, and the positions revote.Select keeps).
func (b *Box) postFilter(ctx context.Context, style string) error {
	b.mu.Lock()
	fl, err := b.state.ComputeRevoteFilter()
	b.mu.Unlock()
	if errors.Is(err, election.ErrFilterNotReady) {
		return fmt.Errorf("%w: %v", ErrNotReady, err)
	}
	if err != nil {
		return err
	}
	if fl.Style != style {
		return fmt.Errorf("%w: the filter due is style %s's, not %s's", ErrNotReady, fl.Style, style)
	}
	return b.postCloseEntry(ctx, bulletin.TypeRevoteFilter, fl.Encode(), style, func(x election.RevoteStyle) bool { return x.Kept != nil }, nil)
}

// queuedLocked counts the casts of a style not on the board.
func (b *Box) queuedLocked(style string) int {
	n := 0
	for _, q := range b.rv.style(style).queue {
		if !b.state.RevoteHasDevice(q.dev) {
			n++
		}
	}
	return n
}

// ident is an identifier of the filter as the box knows it: a voter's
// pseudonym or a dummy voter's index.
type ident struct {
	voter [32]byte
	dummy uint64
}

// identOf returns the identifier of a plan row. b.mu is held.
func (b *Box) identOf(pr planRow) ident {
	if pr.dummy {
		return ident{dummy: pr.n}
	}
	return ident{voter: b.rv.bySeq[pr.n].c.Voter}
}

// postPadding posts a style's padding (spec §15.4): M − n rows for each
// identifier with n board rows, real voters' with the identity service's
// padding credentials (M − 1 asked for each voter whatever n, so that the
// requests show participation only, §15.16.2), dummies' with dummy
// credentials; the flag (1, g^2) in clear; shuffled.
func (b *Box) postPadding(ctx context.Context, style string) error {
	src := b.cfg.Credentials
	if src == nil {
		return ErrNoCredentialSource
	}
	b.mu.Lock()
	sr := b.rv.style(style)
	m := int(b.state.Manifest.Coercion.MaxBallots)
	el, ext, electionID := b.state.Election(), b.state.Context.ExtendedHash, b.state.Manifest.ElectionID
	count := map[ident]int{}
	firstSeq := map[[32]byte]uint64{}
	for _, pr := range sr.owners {
		id := b.identOf(pr)
		count[id]++
		if !pr.dummy {
			if s, ok := firstSeq[id.voter]; !ok || pr.n < s {
				firstSeq[id.voter] = pr.n
			}
		}
	}
	n, r := len(sr.owners), len(sr.real)
	dummies := len(sr.dummies)
	b.mu.Unlock()
	if g := revote.DummyGroups(n, r, m); g != dummies {
		return fmt.Errorf("%d dummy voters started, the rule wants %d for %d rows and %d voters (too few dummy rows: B exceeded the casting rate)", dummies, g, n, r)
	}
	voters := make([][32]byte, 0, len(firstSeq))
	for v := range firstSeq {
		voters = append(voters, v)
	}
	slices.SortFunc(voters, func(x, y [32]byte) int { return bytes.Compare(x[:], y[:]) })
	var (
		pitems []PaddingItem
		pkeys  []ed25519.PrivateKey
		ditems []DummyItem
		dkeys  []ed25519.PrivateKey
		plan   []planRow
	)
	newKey := func() (ed25519.PrivateKey, [32]byte, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, [32]byte(k.Public().(ed25519.PublicKey)), err
	}
	for _, v := range voters {
		for k := 0; k < m-1; k++ {
			key, dev, err := newKey()
			if err != nil {
				return err
			}
			pitems, pkeys = append(pitems, PaddingItem{Style: style, Voter: v, DeviceKey: dev}), append(pkeys, key)
		}
	}
	for i := 1; i <= dummies; i++ {
		for k := count[ident{dummy: uint64(i)}]; k < m; k++ {
			key, dev, err := newKey()
			if err != nil {
				return err
			}
			ditems, dkeys = append(ditems, DummyItem{Style: style, Index: uint64(i), DeviceKey: dev}), append(dkeys, key)
		}
	}
	var pcreds, dcreds []SignedCredential
	var err error
	if len(pitems) > 0 {
		if pcreds, err = src.PaddingCredentials(ctx, electionID, pitems); err != nil || len(pcreds) != len(pitems) {
			return fmt.Errorf("padding credentials: %d for %d items: %w", len(pcreds), len(pitems), err)
		}
	}
	if len(ditems) > 0 {
		if dcreds, err = src.DummyCredentials(ctx, electionID, ditems); err != nil || len(dcreds) != len(ditems) {
			return fmt.Errorf("dummy credentials: %d for %d items: %w", len(dcreds), len(ditems), err)
		}
	}
	type padRow struct {
		pr  planRow
		row *revote.SignedRow
	}
	var rows []padRow
	k := 0
	for _, v := range voters {
		need := m - count[ident{voter: v}]
		for j := 0; j < m-1; j++ {
			it := pitems[k]
			if j < need {
				row, err := paddingRow(b.log.ID(), el, style, it.DeviceKey, pcreds[k], pkeys[k])
				if err != nil {
					return err
				}
				rows = append(rows, padRow{planRow{n: firstSeq[v], dev: it.DeviceKey}, row})
			}
			k++
		}
	}
	for i, it := range ditems {
		row, err := paddingRow(b.log.ID(), el, style, it.DeviceKey, dcreds[i], dkeys[i])
		if err != nil {
			return err
		}
		rows = append(rows, padRow{planRow{dummy: true, n: it.Index, dev: it.DeviceKey}, row})
	}
	if err := shuffle(rand.Reader, len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] }); err != nil {
		return err
	}
	pad := &revote.Padding{Context: ext, Style: style}
	for _, r := range rows {
		pad.Rows = append(pad.Rows, r.row)
		plan = append(plan, r.pr)
	}
	return b.postCloseEntry(ctx, bulletin.TypeRevotePadding, pad.Encode(), style, func(st election.RevoteStyle) bool { return st.Padded },
		&store.RevotePlan{Style: style, Slot: paddingSlot, Plan: encodePlan(plan)})
}

// paddingRow makes a padding row: a blank ballot, the flag (1, g^2) in
// clear with no proof (spec §15.4), the device's signature.
func paddingRow(log bulletin.LogID, el *ballot.Election, style string, dev [32]byte, c SignedCredential, key ed25519.PrivateKey) (*revote.SignedRow, error) {
	cred, err := revote.DecodeCredential(c.Credential)
	if err != nil {
		return nil, fmt.Errorf("padding credential: %w", err)
	}
	if cred.DeviceKey != dev || cred.Style != style {
		return nil, errors.New("padding credential: not for the device key or style asked")
	}
	p, err := el.Encrypt(style, dev, ballot.Selection{}, rand.Reader)
	if err != nil {
		return nil, err
	}
	row := &revote.SignedRow{Credential: c.Credential, CredentialSig: c.Signature, Cred: cred, Ballot: p.Ballot.Encode(), B: p.Ballot, Flag: revote.PaddingFlag()}
	copy(row.DeviceSig[:], ed25519.Sign(key, revote.RowMessage(log, row)))
	return row, nil
}

// postCloseEntry posts an entry of the close as the authority unless
// done(style) already holds under the barrier; plan, if set, is stored
// first under the barrier.
func (b *Box) postCloseEntry(ctx context.Context, t bulletin.Type, payload []byte, style string, done func(election.RevoteStyle) bool, plan *store.RevotePlan) error {
	e, err := bulletin.NewEntry(b.log.ID(), t, b.auth, bulletin.NewEd25519Signer(b.cfg.Authority), payload)
	if err != nil {
		return err
	}
	l, err := b.ledger()
	if err != nil {
		return err
	}
	_, err = b.post(ctx, e, func(s *election.State, _ *bulletin.Entry) error {
		for _, st := range s.RevoteStyles() {
			if st.Style == style && done(st) {
				return errSlotTaken
			}
		}
		if plan != nil {
			return l.PutRevotePlan(ctx, b.sid(), *plan)
		}
		return nil
	})
	if errors.Is(err, errSlotTaken) {
		return nil
	}
	return err
}

// postDepths posts a style's depths (spec §15.3): each identifier's board
// rows on top in board order (depths M − n + 1 … M), its padding rows
// below (1 … M − n), from the slot plans and the padding's plan.
func (b *Box) postDepths(ctx context.Context, style string) error {
	l, err := b.ledger()
	if err != nil {
		return err
	}
	p, err := l.RevotePlan(ctx, b.sid(), style, paddingSlot)
	if err != nil {
		return fmt.Errorf("%w: padding plan: %w", ErrInconsistentBox, err)
	}
	padPlan, err := decodePlan(p.Plan)
	if err != nil {
		return fmt.Errorf("%w: padding plan: %w", ErrInconsistentBox, err)
	}
	b.mu.Lock()
	sr := b.rv.style(style)
	var keys [][32]byte
	for _, st := range b.state.RevoteStyles() {
		if st.Style == style {
			keys = st.Keys
		}
	}
	m := int(b.state.Manifest.Coercion.MaxBallots)
	pk, ext := b.state.PublicKey, b.state.Context.ExtendedHash
	rows := append(slices.Clone(sr.owners), padPlan...)
	ids := make([]ident, len(rows))
	for i, pr := range rows {
		ids[i] = b.identOf(pr)
	}
	b.mu.Unlock()
	if len(rows) != len(keys) {
		return fmt.Errorf("%w: %d planned rows, %d on the board", ErrInconsistentBox, len(rows), len(keys))
	}
	count := map[ident]int{}
	for i, pr := range rows {
		if pr.dev != keys[i] {
			return fmt.Errorf("%w: row %d of the filter differs from its plan", ErrInconsistentBox, i)
		}
		if i < len(sr.owners) {
			count[ids[i]]++
		}
	}
	seen, padSeen, total := map[ident]int{}, map[ident]int{}, map[ident]int{}
	ds := &revote.Depths{Context: ext, Style: style, MaxDepth: m}
	for i, pr := range rows {
		id := ids[i]
		var d int
		if i < len(sr.owners) {
			seen[id]++
			d = m - count[id] + seen[id]
		} else {
			padSeen[id]++
			d = padSeen[id]
		}
		total[id]++
		c, p, err := revote.EncryptDepth(pk, revote.DepthProofContext(ext, pr.dev), d, m, rand.Reader)
		if err != nil {
			return err
		}
		ds.Rows = append(ds.Rows, revote.DepthRow{Depth: c, Proof: p})
	}
	for _, n := range total {
		if n != m {
			return fmt.Errorf("%w: an identifier has %d filter rows, M = %d", ErrInconsistentBox, n, m)
		}
	}
	return b.postCloseEntry(ctx, bulletin.TypeRevoteDepths, ds.Encode(), style, func(st election.RevoteStyle) bool { return st.HasDepths }, nil)
}

// postMarks posts a style's marks entry (spec §15.3): the opening and
// signatures of every mark row on the board, from the ledger, rows
// ascending.
func (b *Box) postMarks(ctx context.Context, style string) error {
	b.mu.Lock()
	ext := b.state.Context.ExtendedHash
	ms := &revote.Marks{Context: ext, Style: style}
	for i, pr := range b.rv.style(style).owners {
		if pr.dummy {
			continue
		}
		q := b.rv.bySeq[pr.n]
		if !q.c.Mark {
			continue
		}
		one, err := revote.DecodeMarks(q.c.Extra)
		if err != nil || len(one.Marks) != 1 {
			b.mu.Unlock()
			return fmt.Errorf("%w: the ledger's mark %d: %v", ErrInconsistentBox, pr.n, err)
		}
		k := one.Marks[0]
		k.Row = uint32(i)
		ms.Marks = append(ms.Marks, k)
	}
	b.mu.Unlock()
	return b.postCloseEntry(ctx, bulletin.TypeRevoteMarks, ms.Encode(), style, func(st election.RevoteStyle) bool { return st.HasMarks }, nil)
}
