// Package otp implements the identity service's second factor: one-time codes
// sent by SMS to the phone number on record in the population register
// (spec/08-identity.md §8.4), the Sender interface that delivers them, a
// development sender that writes to a log, a recorder for tests, and an
// adapter for an HTTP SMS gateway.
//
// Challenges live in memory (Manager). That is deliberate: a challenge lives
// a few minutes; losing it on a restart only makes the voter ask for a new
// code, while a durable copy would keep code hashes on disk and cost a
// database write per attempt. A deployment with several identity-service
// instances routes a voter's requests back to the instance that created the
// challenge (sticky sessions) or supplies a shared implementation of
// idp.Challenges.
package otp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// Errors returned by Manager. Callers branch on them.
var (
	ErrUnknown   = errors.New("otp: unknown challenge")
	ErrExpired   = errors.New("otp: code expired")
	ErrUsed      = errors.New("otp: code already used")
	ErrWrongCode = errors.New("otp: wrong code")
	ErrLocked    = errors.New("otp: too many wrong codes, challenge locked")
	ErrThrottled = errors.New("otp: resend requested too soon")
	ErrSendLimit = errors.New("otp: no more resends for this challenge")
)

// Config sets the policy of a Manager. Zero fields take the defaults below.
type Config struct {
	Digits         int           // code length, 6..10; default 6
	TTL            time.Duration // code validity; default 5 min
	MaxAttempts    int           // wrong codes before lockout; default 5
	ResendInterval time.Duration // minimum time between two sends; default 60 s
	MaxSends       int           // sends per challenge, first included; default 3
	Now            func() time.Time
}

func (c *Config) fill() error {
	if c.Digits == 0 {
		c.Digits = 6
	}
	if c.Digits < 6 || c.Digits > 10 {
		return fmt.Errorf("otp: code length %d outside 6..10", c.Digits)
	}
	if c.TTL == 0 {
		c.TTL = 5 * time.Minute
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.ResendInterval == 0 {
		c.ResendInterval = time.Minute
	}
	if c.MaxSends == 0 {
		c.MaxSends = 3
	}
	if c.TTL < 0 || c.MaxAttempts < 0 || c.ResendInterval < 0 || c.MaxSends < 0 {
		return errors.New("otp: negative setting")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// Manager creates and checks one-time codes. A code is stored only as
// HMAC-SHA-256 under a key drawn at start-up (a plain hash of a 6-digit code
// would be inverted by trying all million codes); it is compared in constant
// time, valid once, for Config.TTL, and the challenge locks after
// Config.MaxAttempts wrong codes. T is what the caller attaches to a
// challenge (the pending authentication) and gets back on success.
type Manager[T any] struct {
	cfg Config
	key [32]byte

	mu        sync.Mutex
	live      map[string]*challenge[T]
	spent     map[string]spent // used, locked or expired challenge ids, for a while
	lastSweep time.Time
}

type spent struct {
	until  time.Time
	reason error // ErrUsed, ErrLocked or ErrExpired
}

type challenge[T any] struct {
	mac      [32]byte
	expires  time.Time
	lastSend time.Time
	sends    int
	attempts int
	value    T
}

// NewManager returns a Manager with the given policy.
func NewManager[T any](cfg Config) (*Manager[T], error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	m := &Manager[T]{cfg: cfg, live: map[string]*challenge[T]{}, spent: map[string]spent{}}
	if _, err := rand.Read(m.key[:]); err != nil {
		return nil, fmt.Errorf("otp: %w", err)
	}
	return m, nil
}

// TTL returns the validity of a code.
func (m *Manager[T]) TTL() time.Duration { return m.cfg.TTL }

// Start creates a challenge carrying value and returns its id, its fresh
// code (to be sent, never stored or logged) and its expiry.
func (m *Manager[T]) Start(value T) (id, code string, expires time.Time, err error) {
	var raw [18]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", time.Time{}, fmt.Errorf("otp: %w", err)
	}
	id = base64.RawURLEncoding.EncodeToString(raw[:])
	code, err = m.newCode()
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := m.cfg.Now()
	c := &challenge[T]{mac: m.mac(id, code), expires: now.Add(m.cfg.TTL), lastSend: now, sends: 1, value: value}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked(now)
	m.live[id] = c
	return id, code, c.expires, nil
}

// Resend replaces the code of challenge id by a fresh one and extends its
// expiry; the old code stops working. It refuses within
// Config.ResendInterval of the last send and after Config.MaxSends sends.
func (m *Manager[T]) Resend(id string) (code string, expires time.Time, value T, err error) {
	var zero T
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.getLocked(id, now)
	if err != nil {
		return "", time.Time{}, zero, err
	}
	if c.sends >= m.cfg.MaxSends {
		return "", time.Time{}, zero, ErrSendLimit
	}
	if now.Sub(c.lastSend) < m.cfg.ResendInterval {
		return "", time.Time{}, zero, fmt.Errorf("%w: wait %s", ErrThrottled, (m.cfg.ResendInterval - now.Sub(c.lastSend)).Round(time.Second))
	}
	code, err = m.newCode()
	if err != nil {
		return "", time.Time{}, zero, err
	}
	c.mac = m.mac(id, code)
	c.sends++
	c.lastSend = now
	c.expires = now.Add(m.cfg.TTL)
	return code, c.expires, c.value, nil
}

// RetryAfter returns how long until challenge id may be resent (0 if now).
func (m *Manager[T]) RetryAfter(id string) time.Duration {
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.live[id]
	if c == nil {
		return 0
	}
	if d := m.cfg.ResendInterval - now.Sub(c.lastSend); d > 0 {
		return d
	}
	return 0
}

// Verify checks code against challenge id. On success the challenge is spent
// (a second Verify answers ErrUsed) and its value returned. A wrong code
// answers ErrWrongCode and the number of attempts left; the last allowed
// wrong code locks the challenge (ErrLocked). With these two errors the
// value is returned too, so the caller can count the failure against the
// person it names.
func (m *Manager[T]) Verify(id, code string) (value T, attemptsLeft int, err error) {
	return m.VerifyWith(id, func(want [32]byte, _ T) bool {
		return m.CodeMatches(id, code, want)
	})
}

// VerifyWith is Verify with the check supplied by the caller: check gets the
// stored code MAC and the challenge's value and says whether the second
// factor holds (an authenticator-app code, for instance). The attempt is
// counted before check runs, outside the lock, so a slow check neither
// blocks other challenges nor allows more attempts than the limit; of two
// concurrent successes only one spends the challenge, the other gets
// ErrUsed.
func (m *Manager[T]) VerifyWith(id string, check func(codeMAC [32]byte, value T) bool) (value T, attemptsLeft int, err error) {
	var zero T
	now := m.cfg.Now()
	m.mu.Lock()
	c, err := m.getLocked(id, now)
	if err != nil {
		m.mu.Unlock()
		return zero, 0, err
	}
	c.attempts++
	left := m.cfg.MaxAttempts - c.attempts
	want, val := c.mac, c.value
	m.mu.Unlock()

	ok := check(want, val)

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live[id] != c {
		if s, found := m.spent[id]; found {
			return zero, 0, s.reason
		}
		return zero, 0, ErrUnknown
	}
	if ok {
		delete(m.live, id)
		m.spent[id] = spent{c.expires.Add(m.cfg.TTL), ErrUsed}
		return val, left, nil
	}
	if left <= 0 {
		delete(m.live, id)
		m.spent[id] = spent{c.expires.Add(m.cfg.TTL), ErrLocked}
		return val, 0, ErrLocked
	}
	return val, left, fmt.Errorf("%w: %d attempts left", ErrWrongCode, left)
}

// CodeMatches reports, in constant time, whether code is the one whose MAC
// VerifyWith passed to its check.
func (m *Manager[T]) CodeMatches(id, code string, codeMAC [32]byte) bool {
	got := m.mac(id, code)
	return hmac.Equal(codeMAC[:], got[:])
}

// Peek returns the value of a live challenge without counting an attempt.
func (m *Manager[T]) Peek(id string) (T, error) {
	var zero T
	now := m.cfg.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.getLocked(id, now)
	if err != nil {
		return zero, err
	}
	return c.value, nil
}

func (m *Manager[T]) getLocked(id string, now time.Time) (*challenge[T], error) {
	c := m.live[id]
	if c == nil {
		if s, ok := m.spent[id]; ok {
			return nil, s.reason
		}
		return nil, ErrUnknown
	}
	if !now.Before(c.expires) {
		delete(m.live, id)
		m.spent[id] = spent{c.expires.Add(m.cfg.TTL), ErrExpired}
		return nil, ErrExpired
	}
	return c, nil
}

// sweepLocked forgets expired challenges, at most once per TTL, so memory
// stays bounded by the challenges started in the last two TTLs.
func (m *Manager[T]) sweepLocked(now time.Time) {
	if now.Sub(m.lastSweep) < m.cfg.TTL {
		return
	}
	m.lastSweep = now
	for id, c := range m.live {
		if !now.Before(c.expires) {
			delete(m.live, id)
			m.spent[id] = spent{c.expires.Add(m.cfg.TTL), ErrExpired}
		}
	}
	for id, s := range m.spent {
		if now.After(s.until) {
			delete(m.spent, id)
		}
	}
}

// mac binds the code to its challenge id, so a code is only ever valid for
// the challenge it was sent for.
func (m *Manager[T]) mac(id, code string) [32]byte {
	h := hmac.New(sha256.New, m.key[:])
	h.Write([]byte("evote-v1/otp-code"))
	h.Write([]byte{0})
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(code))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// newCode draws a uniformly random code of cfg.Digits decimal digits.
func (m *Manager[T]) newCode() (string, error) {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(m.cfg.Digits)), nil)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", fmt.Errorf("otp: %w", err)
	}
	return fmt.Sprintf("%0*d", m.cfg.Digits, n), nil
}
