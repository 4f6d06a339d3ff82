package idp

import (
	"net/netip"
	"sync"
	"time"
)

// AbuseConfig sets the abuse limits (spec/08-identity.md §8.11). Zero
// fields take the defaults given.
//
// No limit on a voter's sign-in is keyed on something a stranger can name
// and then refuses the voter: failures by others only make answers
// unconfirmed (they stop telling whether details match), and what is
// refused is bounded by what only the voter holds (their document, for the
// answers; their phone, for the codes).
type AbuseConfig struct {
	ClientRate  float64 // sign-in requests per second per client address; default 1
	ClientBurst float64 // bucket size; default 10
	// ClientAnswers is how many failed first factors a client address gets
	// told about per ClientAnswerWindow; beyond them its answers are
	// unconfirmed (never refused). Default 10 per 15 min.
	ClientAnswers      int
	ClientAnswerWindow time.Duration
	// PINAnswers is how many answers per PIN may tell whether details
	// match, at most one more per PINAnswerInterval; default 5, 15 min.
	PINAnswers        int
	PINAnswerInterval time.Duration
	// PINCodes is how many codes per PIN may be texted (or authenticator
	// challenges opened), at most one more per PINCodeInterval; default 5,
	// 15 min.
	PINCodes        int
	PINCodeInterval time.Duration
	// UnconfirmedFloor is the least time an unconfirmed answer takes, so
	// that its timing does not tell a match from a mismatch; default 1 s,
	// negative for none.
	UnconfirmedFloor time.Duration
	// ClientMaxFailures and ClientLockout lock a client address out of the
	// officials' endpoints after that many refused official requests within
	// ClientLockout; defaults 10 and 15 min. Voters' endpoints ignore it.
	ClientMaxFailures int
	ClientLockout     time.Duration
}

func (c *AbuseConfig) fill() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.ClientRate == 0 {
		c.ClientRate = 1
	}
	if c.ClientBurst == 0 {
		c.ClientBurst = 10
	}
	def(&c.ClientAnswers, 10)
	defD(&c.ClientAnswerWindow, 15*time.Minute)
	def(&c.PINAnswers, 5)
	defD(&c.PINAnswerInterval, 15*time.Minute)
	def(&c.PINCodes, 5)
	defD(&c.PINCodeInterval, 15*time.Minute)
	defD(&c.UnconfirmedFloor, time.Second)
	def(&c.ClientMaxFailures, 10)
	defD(&c.ClientLockout, 15*time.Minute)
}

// clientGuard keeps, per client address: a token bucket on voters'
// sign-in requests; a count of failed first factors, which makes the
// address's answers unconfirmed (never refused); and the officials'
// lockout. State is in memory: it is about the last minutes only, and a
// restart forgetting it costs little.
type clientGuard struct {
	cfg       *AbuseConfig
	mu        sync.Mutex
	clients   map[string]*clientState
	lastSweep time.Time
}

type clientState struct {
	tokens float64
	last   time.Time
	// answersTAT is the GCRA's theoretical arrival time of the address's
	// failed first factors (see pinBudget in auth.go for the algorithm).
	answersTAT time.Time
	// The officials' lockout.
	failures    int
	windowStart time.Time
	lockedUntil time.Time
}

func newClientGuard(cfg *AbuseConfig) *clientGuard {
	return &clientGuard{cfg: cfg, clients: map[string]*clientState{}}
}

func (g *clientGuard) state(client string, now time.Time) *clientState {
	keep := max(g.cfg.ClientLockout, g.cfg.ClientAnswerWindow)
	if now.Sub(g.lastSweep) > keep {
		g.lastSweep = now
		for k, s := range g.clients {
			if now.After(s.lockedUntil) && now.After(s.answersTAT) && now.Sub(s.last) > keep {
				delete(g.clients, k)
			}
		}
	}
	s := g.clients[client]
	if s == nil {
		s = &clientState{tokens: g.cfg.ClientBurst, last: now, windowStart: now}
		g.clients[client] = s
	}
	return s
}

// clientKey is the unit limits apply to: an IPv4 address, or the /64
// prefix of an IPv6 address (one subscriber usually holds a whole /64, so
// rotating addresses inside it must not escape a limit). Anything that is
// not an IP address is used as given.
func clientKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// allow takes one token of client's bucket, or says for how long none is
// left (at most 1/ClientRate). It never looks at failures: a bucket refuses
// only traffic beyond the rate, whoever sends it.
func (g *clientGuard) allow(client string, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	s.tokens += now.Sub(s.last).Seconds() * g.cfg.ClientRate
	if s.tokens > g.cfg.ClientBurst {
		s.tokens = g.cfg.ClientBurst
	}
	s.last = now
	if s.tokens < 1 {
		return retry(ErrRateLimited, time.Duration((1-s.tokens)/g.cfg.ClientRate*float64(time.Second)))
	}
	s.tokens--
	return nil
}

// refund gives back the token of a request that succeeded, so that voters
// who sign in behind one address do not use up its bucket: in effect the
// bucket counts failed and flooding requests.
func (g *clientGuard) refund(client string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	s.tokens = min(s.tokens+1, g.cfg.ClientBurst)
}

// answering reports whether client may still be told whether its details
// match: fewer than ClientAnswers failed first factors in the last
// ClientAnswerWindow (as a GCRA).
func (g *clientGuard) answering(client string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	iv := g.cfg.ClientAnswerWindow / time.Duration(g.cfg.ClientAnswers)
	return !s.answersTAT.After(now.Add(time.Duration(g.cfg.ClientAnswers-1) * iv))
}

// failed counts a failed first factor (or an unconfirmed answer) against
// client. Failures go on counting once the address is unconfirmed, up to
// one window ahead, so an address recovers one answer ClientAnswerWindow /
// ClientAnswers after its failures stop.
func (g *clientGuard) failed(client string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	iv := g.cfg.ClientAnswerWindow / time.Duration(g.cfg.ClientAnswers)
	tat := s.answersTAT
	if tat.Before(now) {
		tat = now
	}
	tat = tat.Add(iv)
	if limit := now.Add(g.cfg.ClientAnswerWindow); tat.After(limit) {
		tat = limit
	}
	s.answersTAT = tat
}

// locked says whether client is locked out of the officials' endpoints.
func (g *clientGuard) locked(client string, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	if now.Before(s.lockedUntil) {
		return retry(ErrClientLocked, s.lockedUntil.Sub(now))
	}
	return nil
}

// fail counts a refused official request for client and locks it out of
// the officials' endpoints when it has failed ClientMaxFailures times
// within ClientLockout.
func (g *clientGuard) fail(client string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	if now.Sub(s.windowStart) > g.cfg.ClientLockout {
		s.failures, s.windowStart = 0, now
	}
	s.failures++
	if s.failures >= g.cfg.ClientMaxFailures {
		s.lockedUntil = now.Add(g.cfg.ClientLockout)
		s.failures, s.windowStart = 0, now
	}
}
