package idp

import (
	"net/netip"
	"sync"
	"time"
)

// AbuseConfig sets the abuse limits (spec/08-identity.md §8.11). Zero
// fields take the defaults given.
type AbuseConfig struct {
	ClientRate        float64       // requests per second per client address; default 1
	ClientBurst       float64       // bucket size; default 10
	ClientMaxFailures int           // failures within ClientLockout before lockout; default 10
	ClientLockout     time.Duration // lockout duration; default 15 min
	PINFreeFailures   int           // failures per PIN before backoff starts; default 3
	PINBaseDelay      time.Duration // first backoff delay; default 2 s, doubling
	PINMaxDelay       time.Duration // backoff cap; default 5 min
}

func (c *AbuseConfig) fill() {
	if c.ClientRate == 0 {
		c.ClientRate = 1
	}
	if c.ClientBurst == 0 {
		c.ClientBurst = 10
	}
	if c.ClientMaxFailures == 0 {
		c.ClientMaxFailures = 10
	}
	if c.ClientLockout == 0 {
		c.ClientLockout = 15 * time.Minute
	}
	if c.PINFreeFailures == 0 {
		c.PINFreeFailures = 3
	}
	if c.PINBaseDelay == 0 {
		c.PINBaseDelay = 2 * time.Second
	}
	if c.PINMaxDelay == 0 {
		c.PINMaxDelay = 5 * time.Minute
	}
}

// pinDelay is the per-PIN backoff after n failures: none for the first
// PINFreeFailures, then PINBaseDelay doubling up to PINMaxDelay. There is no
// hard per-PIN lockout: PINs can be enumerated, and a lockout would let
// anyone disenfranchise a chosen voter.
func (c *AbuseConfig) pinDelay(n int) time.Duration {
	k := n - c.PINFreeFailures
	if k < 0 {
		return 0
	}
	d := c.PINBaseDelay
	for i := 0; i < k && d < c.PINMaxDelay; i++ {
		d *= 2
	}
	if d > c.PINMaxDelay {
		d = c.PINMaxDelay
	}
	return d
}

// clientGuard keeps, per client address, a token bucket and a failure
// counter that locks the client out. State is in memory: it is about the
// last minutes only, and a restart forgetting it costs little.
type clientGuard struct {
	cfg       *AbuseConfig
	mu        sync.Mutex
	clients   map[string]*clientState
	lastSweep time.Time
}

type clientState struct {
	tokens      float64
	last        time.Time
	failures    int
	windowStart time.Time
	lockedUntil time.Time
}

func newClientGuard(cfg *AbuseConfig) *clientGuard {
	return &clientGuard{cfg: cfg, clients: map[string]*clientState{}}
}

func (g *clientGuard) state(client string, now time.Time) *clientState {
	if now.Sub(g.lastSweep) > g.cfg.ClientLockout {
		g.lastSweep = now
		for k, s := range g.clients {
			if now.After(s.lockedUntil) && now.Sub(s.last) > g.cfg.ClientLockout {
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
// rotating addresses inside it must not escape a lockout). Anything that is
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

// locked says whether client is locked out, without taking a token (for
// officials' endpoints, where many requests may come from one station).
func (g *clientGuard) locked(client string, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	if now.Before(s.lockedUntil) {
		return retry(ErrClientLocked, s.lockedUntil.Sub(now))
	}
	return nil
}

// allow takes one token for client, or says why not and for how long.
func (g *clientGuard) allow(client string, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.state(clientKey(client), now)
	if now.Before(s.lockedUntil) {
		return retry(ErrClientLocked, s.lockedUntil.Sub(now))
	}
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

// fail counts a failure for client and locks it out when it has failed
// ClientMaxFailures times within ClientLockout.
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
