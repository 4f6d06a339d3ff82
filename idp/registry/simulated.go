package registry

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// SimulatedConfig describes the synthetic population of a Simulated register.
type SimulatedConfig struct {
	Seed            string    // any text; the same seed gives the same people
	Constituencies  []string  // constituency codes people are registered in
	PerConstituency int       // people generated per constituency
	ElectionDay     time.Time // reference day for the under-age people
}

// SimPerson is one synthetic person: the register's record plus the document
// number a voter must type. Tests and the demo read them with People.
type SimPerson struct {
	Citizen
	DocumentNumber string
	// Reason is nil for an eligible person, otherwise the ineligibility reason
	// the person was generated with (ErrNotCitizen, ErrUnderAge, ...).
	Reason error
}

// Simulated is a deterministic synthetic population register. Person i of a
// constituency is generated from SHA-256(seed, constituency, i); in each
// constituency persons with i mod 10 = 6, 7, 8, 9 are respectively not
// citizens, under age, with rights suspended, and deceased, the rest eligible.
//
// For tests it can be made to fail: SetDown makes every lookup fail with
// ErrUnavailable, SetDelay makes every lookup wait (honouring ctx).
type Simulated struct {
	byPIN map[string]*SimPerson
	order []*SimPerson

	mu    sync.Mutex
	down  bool
	delay time.Duration
	calls int
}

// NewSimulated generates the population described by cfg.
func NewSimulated(cfg SimulatedConfig) (*Simulated, error) {
	if len(cfg.Constituencies) == 0 || cfg.PerConstituency <= 0 || cfg.PerConstituency > 100000 {
		return nil, fmt.Errorf("registry: simulated register needs constituencies and 1..100000 people each")
	}
	if cfg.ElectionDay.IsZero() {
		return nil, fmt.Errorf("registry: simulated register needs an election day")
	}
	s := &Simulated{byPIN: make(map[string]*SimPerson)}
	for _, con := range cfg.Constituencies {
		for i := 0; i < cfg.PerConstituency; i++ {
			p := generate(cfg, con, i)
			for s.byPIN[p.PIN.Digits()] != nil { // sequence collision: bump it
				p = generate(cfg, con, i+1000003*(1+len(s.byPIN)))
			}
			s.byPIN[p.PIN.Digits()] = p
			s.order = append(s.order, p)
		}
	}
	return s, nil
}

func generate(cfg SimulatedConfig, con string, i int) *SimPerson {
	h := sha256.New()
	fmt.Fprintf(h, "evote-sim-registry\x00%s\x00%s\x00%d", cfg.Seed, con, i)
	d := h.Sum(nil)
	u := func(k int) uint64 { return binary.BigEndian.Uint64(d[k*8 : k*8+8]) }

	var reason error
	switch i % 10 {
	case 6:
		reason = ErrNotCitizen
	case 7:
		reason = ErrUnderAge
	case 8:
		reason = ErrRightsSuspended
	case 9:
		reason = ErrDeceased
	}
	// Adults are 19 to 88 on election day; the under-age are 14 to 17.
	var birth time.Time
	if reason == ErrUnderAge {
		birth = cfg.ElectionDay.AddDate(-14-int(u(0)%4), 0, -int(u(1)%360)-1)
	} else {
		birth = cfg.ElectionDay.AddDate(-19-int(u(0)%70), 0, -int(u(1)%360)-1)
	}
	birth = time.Date(birth.Year(), birth.Month(), birth.Day(), 0, 0, 0, 0, time.UTC)
	sex := 1 + int(u(2)%2)
	seq := 1 + int(u(2)>>8%99999)
	pin := MustParsePIN(fmt.Sprintf("%d%02d%02d%04d%05d", sex, birth.Day(), int(birth.Month()), birth.Year(), seq))
	series := "ID"
	if u(3)%3 == 0 {
		series = "AC"
	}
	p := &SimPerson{
		Citizen: Citizen{
			PIN:             pin,
			BirthDate:       birth,
			Citizenship:     "KG",
			Constituency:    con,
			Phone:           fmt.Sprintf("+99670%07d", u(3)>>8%10000000),
			RightsSuspended: reason == ErrRightsSuspended,
			Deceased:        reason == ErrDeceased,
		},
		DocumentNumber: fmt.Sprintf("%s%07d", series, u(1)>>16%10000000),
		Reason:         reason,
	}
	if reason == ErrNotCitizen {
		p.Citizenship = "KZ"
	}
	return p
}

// People returns the synthetic population in generation order. The caller
// must not modify the records.
func (s *Simulated) People() []*SimPerson {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*SimPerson(nil), s.order...)
}

// Person returns the synthetic person with the given PIN digits, or nil.
func (s *Simulated) Person(pin string) *SimPerson {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPIN[pin]
}

// SetDown makes lookups fail with ErrUnavailable (true) or work again (false).
func (s *Simulated) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// SetDelay makes each lookup wait d before answering, or until ctx is done.
func (s *Simulated) SetDelay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// Calls returns how many lookups reached the register.
func (s *Simulated) Calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls }

// Lookup implements Registry.
func (s *Simulated) Lookup(ctx context.Context, q Query) (*Citizen, error) {
	s.mu.Lock()
	down, delay := s.down, s.delay
	s.calls++
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		case <-t.C:
		}
	}
	if down {
		return nil, fmt.Errorf("%w: simulated outage", ErrUnavailable)
	}
	p := s.Person(q.PIN.Digits())
	if p == nil || q.PIN.IsZero() {
		return nil, ErrNotFound
	}
	if p.DocumentNumber != q.DocumentNumber {
		return nil, ErrDocumentMismatch
	}
	if !p.BirthDate.Equal(q.BirthDate) {
		return nil, ErrBirthDateMismatch
	}
	c := p.Citizen
	return &c, nil
}

// Add puts a person into the register (tests: records whose register birth
// date differs from the one embedded in the PIN, and the like). It replaces
// a person with the same PIN.
func (s *Simulated) Add(p SimPerson) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := p
	if old := s.byPIN[p.PIN.Digits()]; old == nil {
		s.order = append(s.order, &cp)
	} else {
		*old = cp
		return
	}
	s.byPIN[p.PIN.Digits()] = &cp
}
