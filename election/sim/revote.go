package sim

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"slices"

	"evote/ballot"
	"evote/bulletin"
	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/crypto/threshold"
	"evote/crypto/zkp"
	"evote/election"
	"evote/tally"
	"evote/tally/revote"
)

// A simulated election in deniable re-voting mode (spec chapter 15): the
// sim plays the identity service (credentials with encrypted identifiers,
// the roll), the ballot box (slots of B_st rows with dummies, the close's
// padding, depths and marks) and the trustees (tag keys, mixes, blinding,
// decryption shares), with the functions of tally/revote, so that the
// rules and the verifier have a whole record to check. The real parties
// do the same across machines (§15.13 steps 3-5).

// RevoteHooks let tests make the parties of the filter misbehave.
type RevoteHooks struct {
	// Slot, Padding, Blind and Filter, if set, may replace an entry's
	// payload before it is posted.
	Slot    func(s *revote.Slot) *revote.Slot
	Padding func(p *revote.Padding) *revote.Padding
	Blind   func(b *revote.BlindEntry) *revote.BlindEntry
	Filter  func(f *revote.Filter) *revote.Filter
	// Voter, if set, overrides the number of online ballots of voter i
	// (0: the Config's rule).
	Ballots func(i int) int
	// Rows, if set, is called with each slot's rows before they are
	// shuffled: for the two-boards test.
	Rows func(style string, slot uint32, rows []string)
	// Unflagged, if set, reports the voters whose device flags their
	// online rows f = 0 instead of 1 (a voter's own client, or malware):
	// such a voter's last row counts as no ballot.
	Unflagged func(i int) bool
	// CountedDummies, if set, reports the dummy voters (numbered from 1)
	// whose rows the box flags f = 1 instead of 0: a dummy counted as a
	// ballot, which the tally must refuse (spec §15.5 step 6).
	CountedDummies func(v int) bool
}

// rowPlan is a row the simulated box will post: what it is and for whom.
type rowPlan struct {
	kind      string // "ballot", "mark", "dummy", "padding"
	voter     int    // real voter index, or dummy voter number (dummy and padding of a dummy)
	dummy     bool
	sel       ballot.Selection
	seq       int  // cast order
	unflagged bool // an online ballot flagged f = 0 by its device
	counted   bool // a dummy row flagged f = 1 by the box
}

// A signed row with what the sim keeps about it.
type simRow struct {
	plan   rowPlan
	row    *revote.SignedRow
	device ed25519.PrivateKey
	flagR  *group.Scalar // the flag's randomness (marks and audits are opened)
	ballot *ballot.PreparedBallot
}

// revoteSetup sets the manifest's coercion option (Setup calls it).
func revoteManifest(cfg Config, m *ballot.Manifest) {
	b := cfg.SlotRows
	if b == 0 {
		b = 8
	}
	mb := cfg.MaxBallots
	if mb == 0 {
		mb = 4
	}
	m.Revote = ballot.LastBallotCounts
	m.Coercion = ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: 60, SlotRows: b, MaxBallots: mb}
}

// postTagKeys has every trustee draw and post its tag key (spec §15.1).
func (e *Election) postTagKeys() error {
	ext := e.State.Context.ExtendedHash
	for j := 1; j <= len(e.Keys.Trustees); j++ {
		k, err := revote.NewTagKey(j, e.rand)
		if err != nil {
			return err
		}
		p, err := k.Prove(ext, e.rand)
		if err != nil {
			return err
		}
		e.Keys.TagKeys = append(e.Keys.TagKeys, k)
		entry := &revote.TagKeyEntry{Context: ext, Trustee: j, Key: k.Public(), Proof: p}
		if err := e.Post(bulletin.TypeRevoteTagKey, e.Keys.Trustees[j-1], entry.Encode()); err != nil {
			return err
		}
	}
	return nil
}

// makeRow makes one row of the style for identifier id (spec §15.3): the
// identity service's credential, the ballot (sel, blank for marks, dummies
// and padding), the flag and the device's signature.
func (e *Election) makeRow(style string, id *group.Element, sel ballot.Selection, flag int) (*simRow, error) {
	s := e.State
	ext := s.Context.ExtendedHash
	pk := s.PublicKey
	dev := e.key()
	dk := pub(dev)
	cid, _, proof, err := revote.EncryptID(pk, revote.IDProofContext(ext, dk), id, e.rand)
	if err != nil {
		return nil, err
	}
	c := &revote.Credential{ElectionID: e.Cfg.ElectionID, Context: ext, ID: cid, Style: style, DeviceKey: dk, KeyID: s.IdentityKeys.Keys[0].KeyID, Proof: proof}
	io.ReadFull(e.rand, c.TokenID[:])
	row := &revote.SignedRow{Credential: c.Encode(), Cred: c}
	ce, err := bulletin.NewEntry(e.Log, bulletin.TypeRevoteCredential, pub(e.Keys.Identity), bulletin.NewEd25519Signer(e.Keys.Identity), row.Credential)
	if err != nil {
		return nil, err
	}
	row.CredentialSig = ce.Signature
	if sel == nil {
		sel = ballot.Selection{}
	}
	p, err := s.Election().Encrypt(style, dk, sel, e.rand)
	if err != nil {
		return nil, err
	}
	row.Ballot, row.B = p.Ballot.Encode(), p.Ballot
	out := &simRow{row: row, device: dev, ballot: p}
	if flag == revote.FlagPadding {
		row.Flag = revote.PaddingFlag()
	} else {
		ct, r, err := pk.Encrypt(uint64(flag), e.rand)
		if err != nil {
			return nil, err
		}
		fp, err := zkp.ProveRange(revote.FlagProofContext(ext, dk), &zkp.RangeStatement{PK: pk, Ciphertext: ct, Max: 1}, uint64(flag), r, e.rand)
		if err != nil {
			return nil, err
		}
		row.Flag, row.FlagProof, out.flagR = ct, fp.Bytes(), r
	}
	copy(row.DeviceSig[:], ed25519.Sign(dev, revote.RowMessage(e.Log, row)))
	return out, nil
}

// styleBox is the simulated ballot box's state for one ballot style.
type styleBox struct {
	style   string
	queue   []rowPlan // casts waiting for a slot
	board   []*simRow // posted rows, in board order
	real    map[int]bool
	dummies []int // rows of each dummy voter (index i−1)
	slots   uint32
}

// assignDummy gives a dummy row to a dummy voter (spec §15.4): start the
// next dummy voter while fewer are started than ⌈(n − r)/M⌉ for the n rows
// (this one included) and r real voters so far; else fill the lowest one
// with room.
func (b *styleBox) assignDummy(n, m int) int {
	want := (n - len(b.real) + m - 1) / m
	if len(b.dummies) < want {
		b.dummies = append(b.dummies, 1)
		return len(b.dummies)
	}
	for i, c := range b.dummies {
		if c < m {
			b.dummies[i]++
			return i + 1
		}
	}
	b.dummies = append(b.dummies, 1)
	return len(b.dummies)
}

// postSlot posts the next slot of a style: up to B_st waiting casts,
// dummies for the rest, in an order drawn from the sim's randomness.
func (e *Election) postSlot(b *styleBox, h RevoteHooks) error {
	s := e.State
	bst := s.SlotRows(b.style)
	m := int(s.Manifest.Coercion.MaxBallots)
	take := min(bst, len(b.queue))
	plans := slices.Clone(b.queue[:take])
	b.queue = b.queue[take:]
	n := len(b.board)
	for _, p := range plans {
		n++
		b.real[p.voter] = true
	}
	for range bst - take {
		n++
		v := b.assignDummy(n, m)
		plans = append(plans, rowPlan{kind: "dummy", voter: v, dummy: true, counted: h.CountedDummies != nil && h.CountedDummies(v)})
	}
	e.shuffle(len(plans), func(i, j int) { plans[i], plans[j] = plans[j], plans[i] })
	if h.Rows != nil {
		kinds := make([]string, len(plans))
		for i, p := range plans {
			kinds[i] = p.kind
		}
		h.Rows(b.style, b.slots, kinds)
	}
	// A voter's rows stay in cast order: the queue is in cast order, and
	// the shuffle may have swapped two rows of one voter back.
	fixOrder(plans)
	sl := &revote.Slot{Context: s.Context.ExtendedHash, Slot: b.slots, Style: b.style}
	var made []*simRow
	for _, p := range plans {
		r, err := e.rowFor(b.style, p)
		if err != nil {
			return err
		}
		made = append(made, r)
		sl.Rows = append(sl.Rows, r.row)
	}
	if h.Slot != nil {
		sl = h.Slot(sl)
	}
	if err := e.Post(bulletin.TypeRevoteSlot, e.Keys.Authority, sl.Encode()); err != nil {
		return fmt.Errorf("slot %d of %s: %w", b.slots, b.style, err)
	}
	b.board = append(b.board, made...)
	b.slots++
	return nil
}

// fixOrder restores the cast order of each real voter's rows within a slot.
func fixOrder(plans []rowPlan) {
	byVoter := map[int][]int{}
	for i, p := range plans {
		if !p.dummy {
			byVoter[p.voter] = append(byVoter[p.voter], i)
		}
	}
	orig := slices.Clone(plans)
	for _, pos := range byVoter {
		var rows []rowPlan
		for _, i := range pos {
			rows = append(rows, orig[i])
		}
		slices.SortFunc(rows, func(a, b rowPlan) int { return a.seq - b.seq })
		for k, i := range pos {
			plans[i] = rows[k]
		}
	}
}

func (e *Election) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		var b [8]byte
		io.ReadFull(e.rand, b[:])
		j := int(uint64(b[0])<<56|uint64(b[1])<<48|uint64(b[2])<<40|uint64(b[3])<<32|uint64(b[4])<<24|uint64(b[5])<<16|uint64(b[6])<<8|uint64(b[7])) % (i + 1)
		if j < 0 {
			j = -j
		}
		swap(i, j)
	}
}

func (e *Election) idOf(style string, p rowPlan) *group.Element {
	if p.dummy {
		return revote.DummyID(e.Cfg.ElectionID, style, uint64(p.voter))
	}
	return revote.VoterID(e.Cfg.ElectionID, e.voters[p.voter].pseudonym)
}

func (e *Election) rowFor(style string, p rowPlan) (*simRow, error) {
	flag := revote.FlagNone
	switch p.kind {
	case "ballot":
		if !p.unflagged {
			flag = revote.FlagBallot
		}
	case "dummy":
		if p.counted {
			flag = revote.FlagBallot
		}
	case "padding":
		flag = revote.FlagPadding
	}
	r, err := e.makeRow(style, e.idOf(style, p), p.sel, flag)
	if err != nil {
		return nil, err
	}
	r.plan = p
	return r, nil
}

// VoteRevote runs the voting phase of a coercion-mode election: opens;
// every voter casts (every RevoteEvery-th voter twice, every
// InPersonEvery-th also votes in person, which wins); the box posts a slot
// of each style after every SlotEvery casts; closes; posts the closing
// slots, then each style's padding, depths and marks, and the roll.
func (e *Election) VoteRevote(h RevoteHooks) error {
	if err := e.Transition(election.PhaseOpen); err != nil {
		return err
	}
	m := e.State.Manifest
	boxes := map[string]*styleBox{}
	var order []*styleBox
	for _, st := range m.BallotStyles {
		b := &styleBox{style: st.ID, real: map[int]bool{}}
		boxes[st.ID] = b
		order = append(order, b)
	}
	every := func(n, i int) bool { return n > 0 && i%n == n-1 }
	slotEvery := max(e.Cfg.SlotEvery, 1)
	casts := 0
	postAll := func() error {
		for _, b := range order {
			if err := e.postSlot(b, h); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i < e.Cfg.Voters; i++ {
		var pseudo [32]byte
		io.ReadFull(e.rand, pseudo[:])
		style := m.BallotStyles[i%len(m.BallotStyles)].ID
		e.voters = append(e.voters, simVoter{pseudo, style})
		n := 1
		if every(e.Cfg.RevoteEvery, i) {
			n = 2
		}
		if h.Ballots != nil && h.Ballots(i) > 0 {
			n = h.Ballots(i)
		}
		b := boxes[style]
		if every(e.Cfg.AuditEvery, i) {
			// The voter's device audits a prepared row first (spec
			// §15.9): its ballot and flag opened; it is never cast.
			r, err := e.makeRow(style, e.idOf(style, rowPlan{voter: i}), e.Selection(i+7, style), revote.FlagBallot)
			if err != nil {
				return err
			}
			if err := e.Post(bulletin.TypeAuditedBallot, e.Keys.Authority, r.ballot.Audit().WithFlag(r.row.Flag, r.flagR).Encode()); err != nil {
				return fmt.Errorf("audit: %w", err)
			}
		}
		for k := 0; k < n; k++ {
			sel := e.Selection(i+3*k, style)
			unflagged := h.Unflagged != nil && h.Unflagged(i)
			b.queue = append(b.queue, rowPlan{kind: "ballot", voter: i, sel: sel, seq: len(b.queue) + int(b.slots)*1e6, unflagged: unflagged})
			if unflagged {
				delete(e.Intended, pseudo)
			} else {
				e.Intended[pseudo] = sel
			}
		}
		if every(e.Cfg.InPersonEvery, i) {
			b.queue = append(b.queue, rowPlan{kind: "mark", voter: i, seq: len(b.queue) + int(b.slots)*1e6})
			delete(e.Intended, pseudo)
		}
		casts++
		if casts%slotEvery == 0 {
			if err := postAll(); err != nil {
				return err
			}
		}
	}
	if err := e.Transition(election.PhaseClosed); err != nil {
		return err
	}
	// One closing slot of each style, then more while casts wait.
	if err := postAll(); err != nil {
		return err
	}
	for _, b := range order {
		for len(b.queue) > 0 {
			if err := e.postSlot(b, h); err != nil {
				return err
			}
		}
	}
	for _, b := range order {
		if err := e.closeStyle(b, h); err != nil {
			return fmt.Errorf("close of style %s: %w", b.style, err)
		}
	}
	return e.postRoll(order)
}

// closeStyle posts a style's padding, depths and marks (spec §15.3, §15.4).
func (e *Election) closeStyle(b *styleBox, h RevoteHooks) error {
	s := e.State
	mm := int(s.Manifest.Coercion.MaxBallots)
	type ident struct {
		v     int
		dummy bool
	}
	count := map[ident]int{}
	for _, r := range b.board {
		count[ident{r.plan.voter, r.plan.dummy}]++
	}
	g := revote.DummyGroups(len(b.board), len(b.real), mm)
	if g != len(b.dummies) {
		return fmt.Errorf("the sim started %d dummy voters, the rule wants %d (too few dummy rows: raise SlotRows)", len(b.dummies), g)
	}
	var ids []ident
	for v := range e.voters {
		if b.real[v] {
			ids = append(ids, ident{v, false})
		}
	}
	for i := 1; i <= g; i++ {
		ids = append(ids, ident{i, true})
	}
	rows := slices.Clone(b.board)
	depths := make([]int, 0, len(rows))
	seen := map[ident]int{}
	for _, r := range b.board {
		id := ident{r.plan.voter, r.plan.dummy}
		seen[id]++
		depths = append(depths, mm-count[id]+seen[id])
	}
	pad := &revote.Padding{Context: s.Context.ExtendedHash, Style: b.style}
	for _, id := range ids {
		if count[id] > mm {
			return fmt.Errorf("identifier %v has %d rows, M = %d", id, count[id], mm)
		}
		for k := 1; k <= mm-count[id]; k++ {
			r, err := e.rowFor(b.style, rowPlan{kind: "padding", voter: id.v, dummy: id.dummy})
			if err != nil {
				return err
			}
			rows = append(rows, r)
			pad.Rows = append(pad.Rows, r.row)
			depths = append(depths, k)
		}
	}
	if h.Padding != nil {
		pad = h.Padding(pad)
	}
	if err := e.Post(bulletin.TypeRevotePadding, e.Keys.Authority, pad.Encode()); err != nil {
		return err
	}
	ds := &revote.Depths{Context: s.Context.ExtendedHash, Style: b.style, MaxDepth: mm}
	for i, r := range rows {
		c, p, err := revote.EncryptDepth(s.PublicKey, revote.DepthProofContext(s.Context.ExtendedHash, r.row.Cred.DeviceKey), depths[i], mm, e.rand)
		if err != nil {
			return err
		}
		ds.Rows = append(ds.Rows, revote.DepthRow{Depth: c, Proof: p})
	}
	if err := e.Post(bulletin.TypeRevoteDepths, e.Keys.Authority, ds.Encode()); err != nil {
		return err
	}
	marks := &revote.Marks{Context: s.Context.ExtendedHash, Style: b.style}
	for i, r := range b.board {
		if r.plan.kind != "mark" {
			continue
		}
		k := revote.Mark{Row: uint32(i), Randomness: r.flagR, StationID: "station-bishkek-1", StationKey: pub(e.Keys.Station), OfficialID: "official-7", OfficialKey: pub(e.Keys.Official)}
		stmt := revote.MarkStatement(marks.Context, b.style, r.row.Cred.DeviceKey, k.StationID, k.OfficialID)
		copy(k.StationSig[:], ed25519.Sign(e.Keys.Station, stmt))
		copy(k.OfficialSig[:], ed25519.Sign(e.Keys.Official, stmt))
		marks.Marks = append(marks.Marks, k)
	}
	return e.Post(bulletin.TypeRevoteMarks, e.Keys.Authority, marks.Encode())
}

// postRoll posts the identity service's roll: every listed voter's
// identifier (the sim's voters, and listed voters who did not vote).
func (e *Election) postRoll(order []*styleBox) error {
	s := e.State
	l := &revote.Roll{Context: s.Context.ExtendedHash}
	per := map[string]int{}
	for _, v := range e.voters {
		l.Voters = append(l.Voters, revote.RollVoter{ID: revote.VoterID(e.Cfg.ElectionID, v.pseudonym), Style: v.style})
		per[v.style]++
	}
	for _, b := range order {
		for k := per[b.style]; k < e.listed(); k++ {
			var p [32]byte
			io.ReadFull(e.rand, p[:])
			l.Voters = append(l.Voters, revote.RollVoter{ID: revote.VoterID(e.Cfg.ElectionID, p), Style: b.style})
		}
	}
	revote.SortRoll(l.Voters)
	return e.Post(bulletin.TypeRevoteRoll, e.Keys.Identity, l.Encode())
}

func (e *Election) listed() int {
	if e.Cfg.Listed != 0 {
		return e.Cfg.Listed
	}
	return max(e.Cfg.Voters, 16)
}

// Filter runs every style's filter and roll call as the trustees and the
// authority do (spec §15.5, §15.7): Mixes trustees mix X and Y, t trustees
// blind and decrypt the tags, the authority posts the kept positions, then
// the roll call is mixed and decrypted.
func (e *Election) Filter(h RevoteHooks) error {
	s := e.State
	m := s.Manifest
	ext := s.Context.ExtendedHash
	mixes, t := int(m.Mixes), int(m.Threshold)
	for k := range s.RevoteStyles() {
		if s.RevoteCurrent() != k {
			return fmt.Errorf("style %d's filter is not the current one", k)
		}
		rs := s.RevoteStyles()[k]
		if err := e.mixFilterChain(k, revote.ChainX, mixes); err != nil {
			return err
		}
		if err := e.mixFilterChain(k, revote.ChainY, mixes); err != nil {
			return err
		}
		rs = s.RevoteStyles()[k]
		list, err := revote.TagList(rs.X, rs.Y)
		if err != nil {
			return err
		}
		for j := 1; j <= len(m.Trustees) && len(s.RevoteStyles()[k].Blinders) < t; j++ {
			if cur := s.RevoteStyles()[k].Blinded; cur != nil {
				list = cur
			}
			step, err := e.Keys.TagKeys[j-1].Blind(ext, list, e.rand)
			if err != nil {
				return err
			}
			be := &revote.BlindEntry{Style: rs.Style, Input: list.Digest(), Step: step}
			if h.Blind != nil {
				be = h.Blind(be)
			}
			if err := e.Post(bulletin.TypeRevoteBlind, e.Keys.Trustees[j-1], be.Encode()); err != nil {
				return err
			}
		}
		blinded, err := s.RevoteStyles()[k].Blinded.Ciphertexts()
		if err != nil {
			return err
		}
		if _, err := e.postShares(k, election.ShareTags, blinded); err != nil {
			return err
		}
		if ok, err := e.PostRevoteFilter(h); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("style %s: no filter entry after the tags' decryption", rs.Style)
		}
		if err := e.mixFilterChain(k, revote.ChainRoll, mixes); err != nil {
			return err
		}
		roll, err := s.RevoteStyles()[k].Roll.Ciphertexts()
		if err != nil {
			return err
		}
		if _, err := e.postShares(k, election.ShareRoll, roll); err != nil {
			return err
		}
	}
	return nil
}

// PostRevoteFilter is the authority's part of the current style's filter
// (spec §15.5 step 5): once t valid decryption shares of the tag list are
// on the board and the filter entry is not, it posts the revote-filter
// entry election.State.ComputeRevoteFilter gives. It reports whether it
// posted.
func (e *Election) PostRevoteFilter(h RevoteHooks) (bool, error) {
	fl, err := e.State.ComputeRevoteFilter()
	if errors.Is(err, election.ErrFilterNotReady) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if h.Filter != nil {
		fl = h.Filter(fl)
	}
	if err := e.Post(bulletin.TypeRevoteFilter, e.Keys.Authority, fl.Encode()); err != nil {
		return false, err
	}
	return true, nil
}

// mixFilterChain has trustees mix one of the filter's chains until it has
// mixes valid mixes.
func (e *Election) mixFilterChain(k int, chain string, mixes int) error {
	s := e.State
	for j := 1; j <= len(e.Keys.Trustees); j++ {
		rs := s.RevoteStyles()[k]
		cur, done := rs.X, len(rs.XMixers)
		switch chain {
		case revote.ChainY:
			cur, done = rs.Y, len(rs.YMixers)
		case revote.ChainRoll:
			cur, done = rs.Roll, len(rs.RollMixes)
		}
		if done >= mixes {
			return nil
		}
		p := rs.Params.MixParams(chain)
		entry, _, err := tally.Mix(p, uint32(j), cur, nil, e.rand)
		if err != nil {
			return fmt.Errorf("trustee %d mixing %s: %w", j, chain, err)
		}
		if err := e.Post(bulletin.TypeMixOutput, e.Keys.Trustees[j-1], entry.Encode()); err != nil {
			return err
		}
	}
	return nil
}

// postShares has the first t trustees post decryption shares of list.
func (e *Election) postShares(k int, id string, list []*elgamal.Ciphertext) ([]*threshold.DecryptionShare, error) {
	s := e.State
	var out []*threshold.DecryptionShare
	for j := 1; j <= int(s.Manifest.Threshold); j++ {
		sh, err := e.Keys.Shares[j-1].DecryptShares(s.Context.ExtendedHash, list, e.rand)
		if err != nil {
			return nil, err
		}
		d := &tally.DecryptionEntry{ElectionID: s.Manifest.ElectionID, ContestID: id, Kind: tally.TargetMixed, Target: tally.TargetDigest(list), Share: sh}
		if err := e.Post(bulletin.TypeDecryptionShare, e.Keys.Trustees[j-1], d.Encode()); err != nil {
			return nil, fmt.Errorf("style %d, %s share of trustee %d: %w", k, id, j, err)
		}
		out = append(out, sh)
	}
	return out, nil
}

// RunRevote sets up, votes, filters, mixes, decrypts and publishes a whole
// election in deniable re-voting mode (cfg.Coercion is set).
func RunRevote(cfg Config, h RevoteHooks) (*Election, error) {
	cfg.Coercion = true
	e, err := Setup(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.VoteRevote(h); err != nil {
		return nil, err
	}
	if err := e.Filter(h); err != nil {
		return nil, err
	}
	if err := e.Mix(Hooks{}); err != nil {
		return nil, err
	}
	if err := e.Decrypt(Hooks{}); err != nil {
		return nil, err
	}
	if _, err := e.Publish(); err != nil {
		return nil, err
	}
	return e, nil
}
