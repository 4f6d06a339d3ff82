package ballotbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"evote/ballot"
	"evote/ballotbox"
)

// auditLost reports the refusals a Benaloh audit may get when the same
// ballot is cast (or about to be) through another instance: the precise
// ones (its ciphertexts or code are on the board) and the transient one
// (a conflicting cast in flight, which a retry turns into a precise one).
func auditLost(err error) bool {
	return errors.Is(err, ballotbox.ErrDuplicateCipher) || errors.Is(err, ballotbox.ErrDuplicateBallot) || errors.Is(err, ballotbox.ErrCastInProgress)
}

// castLost likewise for a cast of a ballot audited through another
// instance: its ciphertexts are those of an audit (pending or published).
func castLost(err error) bool {
	return errors.Is(err, ballotbox.ErrDuplicateCipher) || errors.Is(err, ballotbox.ErrCastInProgress)
}

// TestInstancesAuditThenCast: a ballot audited through A is then cast
// through B (the voter's device, or anyone who saw the opening, sends
// the prepared ballot to the other instance). The audit reveals the
// ballot's randomness, so the cast must be refused: a counted ballot
// whose opening is served would break the secrecy of that vote, and the
// pending audit could never be published (its ciphertexts on the board).
func TestInstancesAuditThenCast(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	raw, p := prepare(t, f, v, 1)
	if _, err := a.Audit(ctx, v.Token, p.Audit().Encode(), p.Ballot.Encode()); err != nil {
		t.Fatalf("audit on A: %v", err)
	}
	r, err := b.Cast(ctx, v.Token, raw)
	if err == nil {
		t.Fatalf("the ballot audited on A was cast on B at %d", r.Index)
	}
	if !errors.Is(err, ballotbox.ErrDuplicateCipher) {
		t.Fatalf("cast on B of the ballot audited on A: %v, want ErrDuplicateCipher", err)
	}
	// The audit is published at the close, and the board verifies.
	if _, err := b.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	if av, err := a.AuditByCode(ctx, p.Ballot.TrackingCode().Shown()); err != nil || !av.Published {
		t.Fatalf("the audit after the close: %v %+v", err, av)
	}
	checkInstancesAgree(t, f, dsn, a, b)
}

// TestInstancesCastThenAudit: a ballot cast through B is then audited
// through A, which may not have applied B's entry yet. The audit must be
// refused (its ciphertexts are on the board), whether or not A has seen
// the ballot.
func TestInstancesCastThenAudit(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	n := 8
	for i := range n {
		v := voter(t, f, [32]byte{})
		raw, p := prepare(t, f, v, i)
		if _, err := b.Cast(ctx, v.Token, raw); err != nil {
			t.Fatalf("cast %d on B: %v", i, err)
		}
		_, err := a.Audit(ctx, v.Token, p.Audit().Encode(), p.Ballot.Encode())
		if err == nil {
			t.Fatalf("voter %d: the ballot cast on B was then audited on A", i)
		}
		if !errors.Is(err, ballotbox.ErrDuplicateCipher) && !errors.Is(err, ballotbox.ErrDuplicateBallot) {
			t.Fatalf("voter %d: audit on A of the ballot cast on B: %v", i, err)
		}
	}
	checkInstancesAgree(t, f, dsn, a, b)
}

// TestInstancesAuditCastRace sends, for many voters at the same moment,
// the audit of a prepared ballot to one instance and its cast to the
// other. Exactly one of the two succeeds for each voter; the other is
// refused (the ballot's ciphertexts belong to the one that won); no
// counted ballot has an accepted audit; every accepted audit is
// published at the close; and a fresh instance replays the board and the
// pool (it refuses to open on a pending audit whose ciphertexts a
// counted ballot repeats).
func TestInstancesAuditCastRace(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	n := 24
	if testing.Short() {
		n = 10
	}
	type pair struct {
		tok     string
		raw     []byte
		opened  []byte
		ballot  []byte
		code    ballot.ShownCode
		castErr error
		audErr  error
		rcpt    *ballotbox.Receipt
	}
	pairs := make([]*pair, n)
	for i := range pairs {
		v := voter(t, f, [32]byte{})
		raw, p := prepare(t, f, v, i)
		pairs[i] = &pair{tok: v.Token, raw: raw, opened: p.Audit().Encode(), ballot: p.Ballot.Encode(), code: p.Ballot.TrackingCode().Shown()}
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range pairs {
		auditor, caster := a, b
		if i%2 == 1 {
			auditor, caster = b, a
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, p.audErr = auditor.Audit(ctx, p.tok, p.opened, p.ballot)
		}()
		go func() {
			defer wg.Done()
			<-start
			p.rcpt, p.castErr = caster.Cast(ctx, p.tok, p.raw)
		}()
	}
	close(start)
	wg.Wait()
	audited, cast := 0, 0
	for i, p := range pairs {
		switch {
		case p.audErr == nil && p.castErr == nil:
			t.Errorf("voter %d: audited and cast (ballot at %d)", i, p.rcpt.Index)
		case p.audErr == nil && castLost(p.castErr):
			audited++
		case p.castErr == nil && auditLost(p.audErr):
			cast++
		case p.audErr != nil && p.castErr != nil && auditLost(p.audErr) && castLost(p.castErr):
			// Both saw the other in flight: neither happened.
		default:
			t.Errorf("voter %d: audit %v, cast %v", i, p.audErr, p.castErr)
		}
	}
	t.Logf("%d audited, %d cast, %d neither", audited, cast, n-audited-cast)
	if t.Failed() {
		t.FailNow()
	}
	if _, err := a.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	for i, p := range pairs {
		av, err := a.AuditByCode(ctx, p.code)
		if p.audErr == nil && (err != nil || !av.Published) {
			t.Errorf("voter %d: accepted audit after the close: %v", i, err)
		}
		if p.audErr != nil && !errors.Is(err, ballotbox.ErrUnknownAudit) {
			t.Errorf("voter %d: refused audit served: %v", i, err)
		}
	}
	checkInstancesAgree(t, f, dsn, a, b)
}
