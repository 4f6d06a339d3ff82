package idp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"evote/idp/idpstore"
	"evote/idp/voterlist"
	"evote/record"
)

// VoterStatus is what a polling station learns about the voter in front of
// it: enough to sign an in-person mark, nothing about how they voted.
type VoterStatus struct {
	Pseudonym   [32]byte
	BallotStyle string
	MarkedAt    time.Time // zero if not marked
	// CredentialsIssued is the number of online credentials issued so
	// far; -1 in deniable re-voting mode, where the count would tell the
	// station whether the voter signed in again (spec §15.8).
	CredentialsIssued int
}

func officialError(err error) error {
	return fmt.Errorf("%w: %w", ErrOfficial, err)
}

// LookupVoter answers a polling station's signed lookup.
func (s *Service) LookupVoter(ctx context.Context, client string, l *voterlist.LookupRequest) (*VoterStatus, error) {
	now := s.cfg.Now()
	if err := s.guard.locked(client, now); err != nil {
		return nil, err
	}
	if err := s.cfg.Authority.VerifyLookup(l, now); err != nil {
		s.guard.fail(client, now)
		s.access(ctx, client, "official:"+l.OfficialID, "lookup", "refused")
		return nil, officialError(err)
	}
	ps := s.Pseudonym(l.PIN)
	v, err := s.cfg.Store.Voter(ctx, s.cfg.ElectionID, ps)
	if errors.Is(err, idpstore.ErrNotFound) || err == nil && v.Removed {
		s.access(ctx, client, "official:"+l.OfficialID, "lookup", "not_on_list")
		return nil, ErrNotOnList
	}
	if err != nil {
		return nil, err
	}
	st := &VoterStatus{Pseudonym: ps, BallotStyle: v.BallotStyle, CredentialsIssued: -1}
	if s.cfg.Revote == nil {
		creds, err := s.cfg.Store.Credentials(ctx, s.cfg.ElectionID, ps)
		if err != nil {
			return nil, err
		}
		st.CredentialsIssued = len(creds)
	}
	if v.MarkedAt != 0 {
		st.MarkedAt = time.Unix(v.MarkedAt, 0).UTC()
	}
	s.access(ctx, client, "official:"+l.OfficialID, "lookup", "ok")
	return st, nil
}

// checkMark makes MarkInPerson's checks of a signed mark and returns the
// voter's list entry.
func (s *Service) checkMark(ctx context.Context, client string, m *record.InPersonMark) (*idpstore.Voter, error) {
	now := s.cfg.Now()
	if err := s.guard.locked(client, now); err != nil {
		return nil, err
	}
	if err := s.open(now); err != nil {
		return nil, err
	}
	if err := s.cfg.Authority.VerifyMark(m, now); err != nil {
		s.guard.fail(client, now)
		s.access(ctx, client, "official:"+m.OfficialID, "mark", "refused")
		return nil, officialError(err)
	}
	if err := s.checkRegistered(ctx, m); err != nil {
		s.access(ctx, client, "official:"+m.OfficialID, "mark", "unregistered")
		return nil, err
	}
	v, err := s.cfg.Store.Voter(ctx, s.cfg.ElectionID, m.Pseudonym)
	if errors.Is(err, idpstore.ErrNotFound) || err == nil && v.Removed {
		return nil, ErrNotOnList
	}
	if err != nil {
		return nil, err
	}
	if v.BallotStyle != m.BallotStyle {
		return nil, officialError(fmt.Errorf("ballot style %s differs from the voter list's %s", m.BallotStyle, v.BallotStyle))
	}
	creds, err := s.cfg.Store.Credentials(ctx, s.cfg.ElectionID, m.Pseudonym)
	if err != nil {
		return nil, err
	}
	for _, c := range creds {
		if c.BallotStyle != m.BallotStyle {
			return nil, officialError(fmt.Errorf("ballot style %s differs from the voter's credential's %s", m.BallotStyle, c.BallotStyle))
		}
	}
	return v, nil
}

// MarkInPerson records a signed in-person mark: it checks the station's and
// official's signatures, that both are configured and registered on the
// board (§8.8.6) under the keys the mark names, the election's context
// hash, that the voter is on the list with that ballot style, which is
// also the style of every credential issued to them, and not marked
// before; it stores the mark, posts it to the board and tells the voter by
// SMS. These are the checks of the election rules (spec/08-identity.md
// §8.8.3), made here so that the service never queues a mark the board
// would refuse. From then on the voter cannot sign in for online voting,
// and cleansing cancels any online ballot of theirs.
// In deniable re-voting mode marks are rows (MarkRevote).
func (s *Service) MarkInPerson(ctx context.Context, client string, m *record.InPersonMark) error {
	if s.cfg.Revote != nil {
		return fmt.Errorf("%w: in deniable re-voting mode a mark is a row (MarkRevote, spec §15.16.4)", ErrConflict)
	}
	v, err := s.checkMark(ctx, client, m)
	if err != nil {
		return err
	}
	payload := m.Encode()
	row := &idpstore.Mark{ElectionID: m.ElectionID, Pseudonym: m.Pseudonym, StationID: m.StationID, OfficialID: m.OfficialID, MarkedAt: int64(m.MarkedAt)}
	if _, err := s.cfg.Store.MarkInPerson(ctx, row, entryInPersonMark, payload); err != nil {
		if errors.Is(err, idpstore.ErrAlreadyMarked) {
			return fmt.Errorf("%w: voter already marked", ErrConflict)
		}
		return err
	}
	s.access(ctx, client, "official:"+m.OfficialID, "mark", "ok")
	// In the language of the voter's last online sign-in, if any.
	note := markedInPersonText(v.NotifyLang, m.StationID, time.Unix(int64(m.MarkedAt), 0))
	for _, phone := range distinct(v.Phone, v.NotifyPhone) {
		if err := s.cfg.Sender.Send(ctx, phone, note); err != nil {
			s.log.Warn("in-person notice not sent", "err", err)
		}
	}
	if _, err := s.FlushBoard(ctx); err != nil {
		s.log.Warn("board unavailable; mark queued", "err", err)
	}
	return nil
}

// checkRegistered checks that the mark's station and official are
// registered on the board with the keys it names.
func (s *Service) checkRegistered(ctx context.Context, m *record.InPersonMark) error {
	for _, r := range []struct {
		role uint8
		id   string
		key  [32]byte
		what string
	}{{idpstore.RoleStation, m.StationID, m.StationKey, "station"}, {idpstore.RoleOfficial, m.OfficialID, m.OfficialKey, "official"}} {
		k, err := s.cfg.Store.PollingKeyOf(ctx, s.cfg.ElectionID, r.role, r.id)
		if errors.Is(err, idpstore.ErrNotFound) || err == nil && k != r.key {
			return officialError(fmt.Errorf("%w: %s %q is not registered on the board with that key", ErrNotRegistered, r.what, r.id))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// RegisterPolling registers, on a list official's signed request,
// polling stations and officials on the board (spec/08-identity.md
// §8.8.6): it checks the request (Authority.VerifyRegistration), that
// voting has not opened (registrations must precede the board's open
// entry) and that no id or key is registered already, records the keys
// and queues the entry in one transaction, then posts it. Marks are
// accepted only from registered keys.
func (s *Service) RegisterPolling(ctx context.Context, client string, r *record.PollingRegistration) error {
	now := s.cfg.Now()
	if err := s.guard.locked(client, now); err != nil {
		return err
	}
	if err := s.cfg.Authority.VerifyRegistration(r, now); err != nil {
		s.guard.fail(client, now)
		s.access(ctx, client, "official:"+r.OfficialID, "polling_registration", "refused")
		return officialError(err)
	}
	if !s.cfg.VotingOpens.IsZero() && !now.Before(s.cfg.VotingOpens) {
		return fmt.Errorf("%w: stations and officials are registered only before voting opens", ErrConflict)
	}
	var keys []idpstore.PollingKey
	for _, k := range r.Stations {
		keys = append(keys, idpstore.PollingKey{Role: idpstore.RoleStation, ID: k.ID, PublicKey: k.Key})
	}
	for _, k := range r.Officials {
		keys = append(keys, idpstore.PollingKey{Role: idpstore.RoleOfficial, ID: k.ID, PublicKey: k.Key})
	}
	if _, err := s.cfg.Store.RegisterPolling(ctx, s.cfg.ElectionID, keys, now.Unix(), entryPolling, r.Encode()); err != nil {
		s.access(ctx, client, "official:"+r.OfficialID, "polling_registration", "conflict")
		switch {
		case errors.Is(err, idpstore.ErrRegistered):
			return fmt.Errorf("%w: %w", ErrConflict, err)
		case errors.Is(err, idpstore.ErrVotingStarted):
			return fmt.Errorf("%w: stations and officials are registered only before voting opens (%w)", ErrConflict, err)
		}
		return err
	}
	s.access(ctx, client, "official:"+r.OfficialID, "polling_registration", "ok")
	if _, err := s.FlushBoard(ctx); err != nil {
		s.log.Warn("board unavailable; polling registration queued", "err", err)
	}
	return nil
}

// CheckListStatement checks the signed statement of a voter-list change
// (voterlist.Authority.VerifyStatement) before its details are read: a
// change can carry a whole voter list, and a stranger's must cost no more
// than its statement. A refusal counts against the client as in
// ChangeVoterList, which checks the whole change again.
func (s *Service) CheckListStatement(ctx context.Context, client string, st *record.VoterListChange) error {
	now := s.cfg.Now()
	if err := s.guard.locked(client, now); err != nil {
		return err
	}
	if err := s.cfg.Authority.VerifyStatement(st, now); err != nil {
		s.guard.fail(client, now)
		s.access(ctx, client, "official:"+st.OfficialID, "list_change", "refused")
		return officialError(err)
	}
	return nil
}

// ChangeVoterList applies a list official's signed change (initial build,
// import, additions, removals, phone updates). The change is applied and
// its VoterListChange entry queued in one transaction, then posted. It
// returns the entry as posted.
func (s *Service) ChangeVoterList(ctx context.Context, client string, r *voterlist.ChangeRequest) (*record.VoterListChange, error) {
	now := s.cfg.Now()
	if err := s.guard.locked(client, now); err != nil {
		return nil, err
	}
	if err := s.cfg.Authority.VerifyChange(r, now); err != nil {
		if errors.Is(err, voterlist.ErrInvalid) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		s.guard.fail(client, now)
		s.access(ctx, client, "official:"+r.Statement.OfficialID, "list_change", "refused")
		return nil, officialError(err)
	}
	ops := make([]idpstore.ChangeOp, len(r.Items))
	for i, it := range r.Items {
		ops[i] = idpstore.ChangeOp{Op: uint8(it.Op), Pseudonym: s.Pseudonym(it.PIN), BallotStyle: it.BallotStyle, Phone: it.Phone}
	}
	entry := r.Statement
	build := func(res idpstore.ChangeResult) ([]byte, error) {
		entry.Added, entry.Removed, entry.Updated = res.Added, res.Removed, res.Updated
		entry.Counts = voterlist.SortedCounts(res.Counts)
		b := entry.Encode()
		if _, err := record.DecodeVoterListChange(b); err != nil {
			return nil, err
		}
		return b, nil
	}
	st := &r.Statement
	_, _, err := s.cfg.Store.ApplyChange(ctx, s.cfg.ElectionID, st.Sequence, st.Kind, st.OfficialID, int64(st.ChangedAt), ops, entryVoterListChange, build)
	if err != nil {
		s.access(ctx, client, "official:"+st.OfficialID, "list_change", "conflict")
		switch {
		case errors.Is(err, idpstore.ErrSequence), errors.Is(err, idpstore.ErrAlreadyOnList), errors.Is(err, idpstore.ErrNotOnList),
			errors.Is(err, idpstore.ErrHasCredential):
			return nil, fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return nil, err
	}
	s.access(ctx, client, "official:"+st.OfficialID, "list_change", "ok")
	if _, err := s.FlushBoard(ctx); err != nil {
		s.log.Warn("board unavailable; list change queued", "err", err)
	}
	return &entry, nil
}

// NextListSequence returns the sequence number the next list change must
// carry.
func (s *Service) NextListSequence(ctx context.Context) (uint64, error) {
	n, err := s.cfg.Store.LastSequence(ctx, s.cfg.ElectionID)
	return n + 1, err
}

// distinct returns the non-empty values of xs without repetition.
func distinct(xs ...string) []string {
	var out []string
	for _, x := range xs {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
