package idp

import (
	"context"
	"fmt"
	"sync"
	"time"

	"evote/idp/idpstore"
	"evote/record"
)

// The outbox is posted to the board in rounds, by one goroutine at a time
// (spec/08-identity.md §8.9). A sign-in whose credential is queued joins
// the next round and waits for it; the rounds follow one another without
// pause while there are waiters, so that under load each round posts what
// many sign-ins queued meanwhile, the way the ballot box group-commits
// ballots. Within a round, entries are posted in queue order, except that
// a run of consecutive credentials of distinct voters is posted
// concurrently (they do not depend on one another: the ballot box checks
// each against the rules and the others in flight, and its log commits
// them together); any other entry (a key set, a list change, a mark), and
// a voter's second credential, waits for everything before it and is
// posted alone, so the board receives it after what preceded it in the
// queue. A failed post ends the round.
const (
	// roundMax bounds the entries one round reads from the outbox.
	roundMax = 1024
	// PostConcurrency bounds the posts a round has in flight: the board
	// client should keep as many connections (client.NewPooled).
	PostConcurrency = 64
	// roundTimeout bounds one round (its posts and their marking).
	roundTimeout = 2 * time.Minute
)

// outboxRound is one round of posting, which callers wait for (done is
// closed when it ends); then it holds what it posted (outbox id → board index), whether
// it left entries pending beyond roundMax, and its error.
type outboxRound struct {
	done   chan struct{}
	posted map[int64]uint64
	more   bool
	err    error
}

// poster serialises the rounds: next is the round the next flush runs
// (joined by callers while another round is running), running whether a
// goroutine is running rounds.
type poster struct {
	mu      sync.Mutex
	next    *outboxRound
	running bool
}

// joinRound returns the next round to run, starting the goroutine that
// runs rounds if none is. The round begins after the call, so it reads
// every entry queued before the call (up to roundMax).
func (s *Service) joinRound() *outboxRound {
	p := &s.poster
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next == nil {
		p.next = &outboxRound{done: make(chan struct{})}
	}
	r := p.next
	if !p.running {
		p.running = true
		go s.runRounds()
	}
	return r
}

// runRounds runs the waiting rounds one after the other until none waits.
func (s *Service) runRounds() {
	p := &s.poster
	for {
		p.mu.Lock()
		r := p.next
		p.next = nil
		if r == nil {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), roundTimeout)
		r.posted, r.more, r.err = s.postRound(ctx)
		cancel()
		close(r.done)
	}
}

// awaitPosted waits until outbox entry id is on the board.
func (s *Service) awaitPosted(ctx context.Context, id int64) error {
	for {
		r := s.joinRound()
		select {
		case <-r.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if _, ok := r.posted[id]; ok {
			return nil
		}
		if r.err != nil {
			return r.err
		}
		if !r.more {
			// Not pending and not posted by this round: posted by an
			// earlier one.
			return nil
		}
	}
}

// FlushBoard posts queued board entries and returns how many it posted
// (see the outbox's order above). It stops at the first failure; the rest
// stay queued for the next call, so nothing the service decided is ever
// lost.
func (s *Service) FlushBoard(ctx context.Context) (int, error) {
	n := 0
	for {
		r := s.joinRound()
		select {
		case <-r.done:
		case <-ctx.Done():
			return n, ctx.Err()
		}
		n += len(r.posted)
		if r.err != nil || !r.more {
			return n, r.err
		}
	}
}

// postRound posts up to roundMax pending entries and marks them posted,
// all in one store transaction. It returns what it posted, whether more
// were pending, and the first failure (after which it posts nothing more).
func (s *Service) postRound(ctx context.Context) (map[int64]uint64, bool, error) {
	batch, err := s.cfg.Store.Pending(ctx, roundMax+1)
	if err != nil {
		return nil, false, err
	}
	more := len(batch) > roundMax
	batch = batch[:min(len(batch), roundMax)]
	posted := make(map[int64]uint64, len(batch))
	var postErr error
	for i := 0; i < len(batch) && postErr == nil; {
		j := credentialRun(batch[i:])
		if j == 0 {
			var idx uint64
			if idx, postErr = s.cfg.Board.Post(ctx, batch[i].EntryType, batch[i].Payload); postErr == nil {
				posted[batch[i].ID] = idx
			}
			i++
			continue
		}
		postErr = s.postConcurrently(ctx, batch[i:i+j], posted)
		i += j
	}
	if postErr != nil {
		postErr = fmt.Errorf("%w: %w", ErrBoardUnavailable, postErr)
	}
	if len(posted) > 0 {
		marks := make([]idpstore.Posted, 0, len(posted))
		for id, idx := range posted {
			marks = append(marks, idpstore.Posted{ID: id, Index: idx})
		}
		if err := s.cfg.Store.MarkPosted(ctx, s.cfg.Now().Unix(), marks...); err != nil {
			// On the board but not marked: posted again next round, the
			// board answers with the same index (the entry is identical).
			return nil, more, err
		}
	}
	return posted, more, postErr
}

// credentialRun returns how many entries at the start of batch are
// credentials of distinct voters (0 if the first is another entry).
func credentialRun(batch []idpstore.OutboxEntry) int {
	seen := map[[32]byte]bool{}
	for i, e := range batch {
		if e.EntryType != entryCredentialIssued {
			return i
		}
		c, err := record.DecodeCredentialIssued(e.Payload)
		if err != nil || seen[c.Pseudonym] {
			// Posted alone (the board refuses a malformed one, and a
			// voter's credentials go in queue order).
			return i
		}
		seen[c.Pseudonym] = true
	}
	return len(batch)
}

// postConcurrently posts entries with at most postConcurrency in flight,
// records those posted, and returns the first failure.
func (s *Service) postConcurrently(ctx context.Context, entries []idpstore.OutboxEntry, posted map[int64]uint64) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, PostConcurrency)
	for _, e := range entries {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			idx, err := s.cfg.Board.Post(ctx, e.EntryType, e.Payload)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			posted[e.ID] = idx
		}()
	}
	wg.Wait()
	return first
}
