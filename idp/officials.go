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
	Pseudonym         [32]byte
	BallotStyle       string
	MarkedAt          time.Time // zero if not marked
	CredentialsIssued int       // online credentials issued so far
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
	creds, err := s.cfg.Store.Credentials(ctx, s.cfg.ElectionID, ps)
	if err != nil {
		return nil, err
	}
	st := &VoterStatus{Pseudonym: ps, BallotStyle: v.BallotStyle, CredentialsIssued: len(creds)}
	if v.MarkedAt != 0 {
		st.MarkedAt = time.Unix(v.MarkedAt, 0).UTC()
	}
	s.access(ctx, client, "official:"+l.OfficialID, "lookup", "ok")
	return st, nil
}

// MarkInPerson records a signed in-person mark: it checks the station's and
// official's signatures and registration, that the voter is on the list
// with that ballot style and not marked before, stores it, posts it to the
// board and tells the voter by SMS. From then on the voter cannot sign in
// for online voting, and cleansing cancels any online ballot of theirs.
func (s *Service) MarkInPerson(ctx context.Context, client string, m *record.InPersonMark) error {
	now := s.cfg.Now()
	if err := s.guard.locked(client, now); err != nil {
		return err
	}
	if err := s.open(now); err != nil {
		return err
	}
	if err := s.cfg.Authority.VerifyMark(m, now); err != nil {
		s.guard.fail(client, now)
		s.access(ctx, client, "official:"+m.OfficialID, "mark", "refused")
		return officialError(err)
	}
	v, err := s.cfg.Store.Voter(ctx, s.cfg.ElectionID, m.Pseudonym)
	if errors.Is(err, idpstore.ErrNotFound) || err == nil && v.Removed {
		return ErrNotOnList
	}
	if err != nil {
		return err
	}
	if v.BallotStyle != m.BallotStyle {
		return officialError(errors.New("ballot style differs from the voter list"))
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
	for _, phone := range distinct(v.Phone, v.NotifyPhone) {
		note := fmt.Sprintf("evote: you were recorded as having voted in person at polling station %s at %s UTC. Any online ballot of yours will not be counted. If this was not you, call the election commission.",
			m.StationID, time.Unix(int64(m.MarkedAt), 0).UTC().Format("2006-01-02 15:04"))
		if err := s.cfg.Sender.Send(ctx, phone, note); err != nil {
			s.log.Warn("in-person notice not sent", "err", err)
		}
	}
	if _, err := s.FlushBoard(ctx); err != nil {
		s.log.Warn("board unavailable; mark queued", "err", err)
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
		case errors.Is(err, idpstore.ErrSequence), errors.Is(err, idpstore.ErrAlreadyOnList), errors.Is(err, idpstore.ErrNotOnList):
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
