package ballotbox_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"evote/ballot"
	"evote/ballotbox"
	"evote/ballotbox/boxtest"
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
		t.Fatalf("the audit after the close: published %v, %v", av != nil && av.Published, err)
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

// TestInstancesCloseRacesAudits closes voting on A while audits arrive
// at B: every audit B accepted is published before the close entry (the
// close publishes the store's whole pool under the barrier, and an audit
// is added only under it), every later one is refused as not open, and
// none is accepted and then left out.
func TestInstancesCloseRacesAudits(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	n := 16
	if testing.Short() {
		n = 8
	}
	type aud struct {
		tok            string
		opened, ballot []byte
		code           ballot.ShownCode
		err            error
	}
	auds := make([]*aud, n)
	for i := range auds {
		v := voter(t, f, [32]byte{})
		_, p := prepare(t, f, v, i)
		auds[i] = &aud{tok: v.Token, opened: p.Audit().Encode(), ballot: p.Ballot.Encode(), code: p.Ballot.TrackingCode().Shown()}
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Four clients send the audits in order; the close is posted when
	// the first quarter is done, so it lands among the others.
	var wg sync.WaitGroup
	var next sync.Mutex
	i := 0
	quarter := make(chan struct{})
	var once sync.Once
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				if k == n/4 {
					once.Do(func() { close(quarter) })
				}
				x := auds[k]
				_, x.err = b.Audit(ctx, x.tok, x.opened, x.ballot)
			}
		}()
	}
	<-quarter
	closed, err := a.Act(ctx, ballotbox.ActionClose, "official-1")
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	accepted := 0
	for i, x := range auds {
		switch {
		case x.err == nil:
			accepted++
			av, err := a.AuditByCode(ctx, x.code)
			switch {
			case err != nil:
				t.Errorf("audit %d accepted on B, then after the close on A: %v", i, err)
			case !av.Published:
				t.Errorf("audit %d accepted on B, not published by the close on A", i)
			case av.Index >= closed.Index:
				t.Errorf("audit %d accepted on B, published at %d after the close at %d", i, av.Index, closed.Index)
			}
		case errors.Is(x.err, ballotbox.ErrNotOpen):
		default:
			t.Errorf("audit %d: %v", i, x.err)
		}
	}
	t.Logf("%d of %d audits accepted before the close", accepted, n)
	checkInstancesAgree(t, f, dsn, a, b)
}

// TestInstancesInPersonRacesCast: in-person marks posted through A while
// the same voters cast through B, under the one-ballot policy. For each
// voter the board's order decides: a ballot acknowledged lies before the
// voter's mark, and a cast refused is refused because of the mark.
func TestInstancesInPersonRacesCast(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.SingleBallot)
	ctx := context.Background()
	n := 12
	if testing.Short() {
		n = 6
	}
	type race struct {
		v       *boxtest.Voter
		raw     []byte
		rcpt    *ballotbox.Receipt
		castErr error
		markErr error
	}
	races := make([]*race, n)
	for i := range races {
		v := voter(t, f, [32]byte{})
		raw, _ := prepare(t, f, v, i)
		races[i] = &race{v: v, raw: raw}
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// The voters cast through B in order, two at a time, while the
	// polling station marks them through A in the reverse order: the
	// first ones cast before their mark, the last ones after it, and
	// those in the middle race.
	var wg sync.WaitGroup
	var next sync.Mutex
	i := 0
	start := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				next.Lock()
				k := i
				i++
				next.Unlock()
				if k >= n {
					return
				}
				r := races[k]
				r.rcpt, r.castErr = b.Cast(ctx, r.v.Token, r.raw)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		for k := n - 1; k >= 0; k-- {
			races[k].markErr = f.MarkInPerson(ctx, races[k].v)
		}
	}()
	close(start)
	wg.Wait()
	cast := 0
	for i, r := range races {
		if r.markErr != nil {
			t.Fatalf("voter %d: mark: %v", i, r.markErr)
		}
		if err := b.AwaitSize(ctx, a.View().Size); err != nil {
			t.Fatal(err)
		}
		es, _ := b.Voter(r.v.Pseudonym)
		if es.InPerson == nil {
			t.Fatalf("voter %d: no mark on B", i)
		}
		switch {
		case r.castErr == nil:
			cast++
			if r.rcpt.Index >= *es.InPerson {
				t.Errorf("voter %d: ballot acknowledged at %d, after the mark at %d", i, r.rcpt.Index, *es.InPerson)
			}
		case errors.Is(r.castErr, ballotbox.ErrVotedInPerson):
			if len(es.Ballots) != 0 {
				t.Errorf("voter %d: cast refused, the board holds %d of its ballots", i, len(es.Ballots))
			}
		default:
			t.Errorf("voter %d: cast %v", i, r.castErr)
		}
	}
	t.Logf("%d of %d ballots before the mark", cast, n)
	checkInstancesAgree(t, f, dsn, a, b)
}

// TestInstancesAuditRetryElsewhere: a retry of an audit accepted by A
// that lands on B gets A's receipt, while the audit waits in A's pool and
// once A has published it; B never publishes it itself.
func TestInstancesAuditRetryElsewhere(t *testing.T) {
	f, dsn, a, b := twoInstances(t, ballot.LastBallotCounts)
	ctx := context.Background()
	v := voter(t, f, [32]byte{})
	_, p := prepare(t, f, v, 1)
	ra, err := a.Audit(ctx, v.Token, p.Audit().Encode(), p.Ballot.Encode())
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.Audit(ctx, v.Token, p.Audit().Encode(), p.Ballot.Encode())
	if err != nil || !rb.Replayed || rb.Published || rb.EntryHash != ra.EntryHash {
		t.Fatalf("retry on B of A's pending audit: %v %+v", err, rb)
	}
	if b.PendingAudits() != 0 {
		t.Fatal("B took A's audit into its own pool")
	}
	if err := ballotbox.PublishBatch(a); err != nil {
		t.Fatal(err)
	}
	if err := b.AwaitSize(ctx, a.View().Size); err != nil {
		t.Fatal(err)
	}
	rb, err = b.Audit(ctx, v.Token, p.Audit().Encode(), p.Ballot.Encode())
	if err != nil || !rb.Replayed || !rb.Published || rb.EntryHash != ra.EntryHash {
		t.Fatalf("retry on B of A's published audit: %v %+v", err, rb)
	}
	if _, err := b.Act(ctx, ballotbox.ActionClose, "official-1"); err != nil {
		t.Fatal(err)
	}
	checkInstancesAgree(t, f, dsn, a, b)
}
