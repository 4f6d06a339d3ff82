package official

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"evote/internal/memrelease"
)

// Logins (spec/10-api.md §10.5). A login is the one route strangers reach
// without credentials, and checking a password costs 64 MiB of memory for
// a tenth of a second: what strangers can make the server do must cost
// little and be bounded, and nothing a stranger does may keep an official
// who holds the password and the authenticator from signing in. So:
//
//  1. Cheap checks first. The TOTP code is checked before the password
//     (an HMAC, against a decoy key for an unknown user name: the same work
//     and the same answer as for a real account, so names cannot be
//     enumerated). Only an attempt with a valid code reaches the password
//     hash, and it first uses the code up (RFC 6238 §5.2: each step logs in
//     at most once), so each code buys one password check at most.
//  2. Password hashing is bounded: at most Limits.Hashes at once, at most
//     Limits.Queue more waiting, each at most Limits.Wait; beyond, the
//     attempt is refused (ErrBusy, "try again in a few seconds").
//  3. Each client address (an IPv6 /64 counts as one) has a budget of
//     attempts (Limits.Burst, one more every Limits.Refill); an address
//     over it is refused (ErrRateLimited) before any lookup. A success
//     gives its attempt back.
//  4. No account is ever locked. A limit keyed on what a stranger can name
//     (a user name, a shared address) lets the stranger lock the official
//     out; a limit keyed on what only the official holds does not. The
//     official's device holds a device token, issued at a successful login:
//     an attempt presenting a valid device token for its user is not held
//     to its address's budget (a stranger sharing the official's address
//     cannot stop it), only to the token's own (Limits.DeviceFailures
//     failures within Limits.DeviceWindow, after which the token is not
//     honoured for that window: only its holder can cause that).
//  5. Every attempt that is checked and fails is written to the operations
//     log (who, from where, why), and at the next login the official is
//     told how many failed since the previous one (Notice).

// Limits bound the cost of logins.
type Limits struct {
	Hashes int           // password hashes at once (default 2)
	Queue  int           // attempts waiting for a hash (default 8)
	Wait   time.Duration // longest wait for a hash (default 5 s)

	Burst     int           // attempts per address at once (default 10)
	Refill    time.Duration // one more attempt per address every (default 6 s)
	Addresses int           // addresses tracked (default 65536)

	DeviceFailures int           // failures under one device token… (default 5)
	DeviceWindow   time.Duration // …within this window stop honouring it (default 15 min)
	DeviceTTL      time.Duration // a device token unused this long expires (default 180 days)
}

func (l *Limits) fill() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.Hashes, 2)
	def(&l.Queue, 8)
	defd(&l.Wait, 5*time.Second)
	def(&l.Burst, 10)
	defd(&l.Refill, 6*time.Second)
	def(&l.Addresses, 1<<16)
	def(&l.DeviceFailures, 5)
	defd(&l.DeviceWindow, 15*time.Minute)
	defd(&l.DeviceTTL, 180*24*time.Hour)
}

// Errors of a refused login attempt that say when to retry.
var (
	ErrRateLimited = errors.New("official: too many login attempts from this address")
	ErrBusy        = errors.New("official: too many logins being checked")
)

// RetryError is a refusal after which the caller may retry in After.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter returns how long the caller of a refused attempt should wait
// (0 if err says nothing about it).
func RetryAfter(err error) time.Duration {
	var r *RetryError
	if errors.As(err, &r) {
		return r.After
	}
	return 0
}

// Attempt is one login attempt.
type Attempt struct {
	Client   string // the caller's address ("" for in-process callers)
	Device   string // the device token from an earlier login, if any
	User     string
	Password string
	Code     string // the authenticator's TOTP code
}

// Notice tells an official, at login, of the failed attempts on their
// account since their previous successful login.
type Notice struct {
	Failed int       // failed attempts
	Last   time.Time // the latest (zero if none)
}

// LoginResult is a successful login.
type LoginResult struct {
	Token   string   // the session token, shown once
	Session *Session //
	// Device is a new device token when the attempt presented no valid
	// one: the client keeps it and presents it at its next logins.
	Device string
	Notice Notice
}

// loginAccount is what a login checks a name against.
type loginAccount struct {
	known  bool
	phc    string // password hash
	stored string // TOTP secret as stored (sealed or not)
	last   int64  // last TOTP step used
	role   Role
}

// makeDecoy prepares the account an unknown user name is checked against:
// a random TOTP secret, sealed like a real one, and a password hash of
// the configured cost.
func (s *Service) makeDecoy() error {
	secret, err := NewTOTPSecret()
	if err != nil {
		return err
	}
	stored, err := s.sealSecret("", secret)
	if err != nil {
		return err
	}
	pw := make([]byte, 32)
	rand.Read(pw)
	phc, err := HashPassword(fmt.Sprintf("%x", pw), s.cfg.Argon2)
	if err != nil {
		return err
	}
	s.decoy = loginAccount{phc: phc, stored: stored}
	return nil
}

// Login checks an attempt (see the comment at the top of this file) and
// opens a session. The session token is returned once; the store keeps
// only its hash.
func (s *Service) Login(ctx context.Context, a Attempt) (*LoginResult, error) {
	now := s.cfg.Now()
	addr := addressKey(a.Client)
	dev, err := s.budget(ctx, a, addr, now)
	if err != nil {
		return nil, err
	}
	fail := func(why string) (*LoginResult, error) {
		return nil, s.loginFailed(ctx, a, dev, why, now)
	}
	if !userRe.MatchString(a.User) || len(a.Password) > MaxPassword || !totpSyntax(a.Code) {
		return fail("malformed")
	}
	acc, err := s.account(ctx, a.User)
	if err != nil {
		return nil, err
	}
	check := acc
	if !acc.known {
		check = s.decoy
	}
	plain, sealed, err := s.openSecret(checkUser(acc, a.User), check.stored)
	if err != nil {
		return nil, err
	}
	key, err := decodeSecret(plain)
	if err != nil {
		return nil, err
	}
	step, ok := totpCheck(key, a.Code, now, uint64(check.last))
	if !ok {
		return fail("wrong code")
	}
	// A valid code: the password is checked, once per code.
	release, err := s.hashes.acquire(ctx)
	if err != nil {
		s.limits.refund(addr, dev != nil)
		return nil, err
	}
	defer release()
	if acc.known {
		res, err := s.cfg.DB.ExecContext(ctx, `UPDATE evote_officials SET totp_last_step = $1 WHERE username = $2 AND totp_last_step < $1`, int64(step), a.User)
		if err != nil {
			return nil, fmt.Errorf("official: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fail("code already used")
		}
	}
	if good, err := checkPassword(a.Password, check.phc); err != nil {
		return nil, err
	} else if !good || !acc.known {
		return fail("wrong password")
	}
	release()
	return s.loginOK(ctx, a, acc, dev, plain, sealed, addr, now)
}

// checkUser is the name a stored secret is bound to: the account's, or
// "" for the decoy.
func checkUser(acc loginAccount, user string) string {
	if acc.known {
		return user
	}
	return ""
}

func totpSyntax(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

func (s *Service) account(ctx context.Context, user string) (loginAccount, error) {
	var (
		a    loginAccount
		role string
	)
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT password_hash, totp_secret, totp_last_step, role FROM evote_officials WHERE username = $1`, user).Scan(&a.phc, &a.stored, &a.last, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return loginAccount{}, nil
	}
	if err != nil {
		return loginAccount{}, fmt.Errorf("official: %w", err)
	}
	a.known, a.role = true, Role(role)
	return a, nil
}

// device is a device token presented with an attempt and honoured.
type device struct{ hash string }

// budget charges the attempt to its address, or, when the address has
// spent its budget, accepts it under a valid device token of its user. It
// returns the device honoured, if any.
func (s *Service) budget(ctx context.Context, a Attempt, addr string, now time.Time) (*device, error) {
	wait := s.limits.take(addr, now)
	if len(a.Device) != 64 || !userRe.MatchString(a.User) {
		if wait > 0 {
			return nil, &RetryError{ErrRateLimited, wait}
		}
		return nil, nil
	}
	h := tokenHash(a.Device)
	var failures, failedAt, usedAt int64
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT failures, failed_at, used_at FROM evote_official_devices WHERE token_hash = $1 AND username = $2`, h, a.User).Scan(&failures, &failedAt, &usedAt)
	honoured := err == nil && now.Sub(time.Unix(usedAt, 0)) < s.cfg.Limits.DeviceTTL &&
		(failures < int64(s.cfg.Limits.DeviceFailures) || now.Sub(time.Unix(failedAt, 0)) >= s.cfg.Limits.DeviceWindow)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("official: %w", err)
	}
	switch {
	case honoured:
		if wait == 0 {
			s.limits.refund(addr, false) // the device's budget applies, not the address's
		}
		return &device{h}, nil
	case wait > 0:
		return nil, &RetryError{ErrRateLimited, wait}
	}
	return nil, nil
}

// RecordRefused writes to the operations log a request refused before
// any credential was checked (malformed input on an officials' route), as
// a login attempt of client: charged to the address's budget, and not
// written once the budget is spent, so that strangers cannot fill the log
// faster than they can try logins.
func (s *Service) RecordRefused(ctx context.Context, client, user, action, electionID, outcome, detail string) error {
	if s.limits.take(addressKey(client), s.cfg.Now()) > 0 {
		return &RetryError{ErrRateLimited, 0}
	}
	if client != "" {
		detail = "from " + client + ": " + detail
	}
	return s.Record(ctx, user, action, electionID, outcome, detail)
}

// loginFailed records a failed attempt and answers ErrLogin.
func (s *Service) loginFailed(ctx context.Context, a Attempt, dev *device, why string, now time.Time) error {
	if dev != nil {
		// Failures within the window add up; an older one starts anew.
		_, err := s.cfg.DB.ExecContext(ctx, `UPDATE evote_official_devices SET failures = CASE WHEN failed_at > $2 THEN failures + 1 ELSE 1 END, failed_at = $3 WHERE token_hash = $1`,
			dev.hash, now.Add(-s.cfg.Limits.DeviceWindow).Unix(), now.Unix())
		if err != nil {
			return fmt.Errorf("official: %w", err)
		}
	}
	detail := why
	if a.Client != "" {
		detail = "from " + a.Client + ": " + why
	}
	if err := s.Record(ctx, a.User, "login", "", "refused", detail); err != nil {
		return err
	}
	return ErrLogin
}

// loginOK finishes a successful login: the secret sealed if it was stored
// in the clear, the device token renewed or issued, the notice of failed
// attempts, the session.
func (s *Service) loginOK(ctx context.Context, a Attempt, acc loginAccount, dev *device, plain string, sealed bool, addr string, now time.Time) (*LoginResult, error) {
	s.limits.refund(addr, dev != nil)
	if !sealed && s.aead != nil {
		stored, err := s.sealSecret(a.User, plain)
		if err != nil {
			return nil, err
		}
		if _, err := s.cfg.DB.ExecContext(ctx, `UPDATE evote_officials SET totp_secret = $1 WHERE username = $2`, stored, a.User); err != nil {
			return nil, fmt.Errorf("official: %w", err)
		}
	}
	out := &LoginResult{}
	var err error
	if dev != nil {
		_, err = s.cfg.DB.ExecContext(ctx, `UPDATE evote_official_devices SET used_at = $2, failures = 0 WHERE token_hash = $1`, dev.hash, now.Unix())
	} else {
		out.Device, err = s.newDevice(ctx, a.User, now)
	}
	if err != nil {
		return nil, fmt.Errorf("official: devices: %w", err)
	}
	if out.Notice, err = s.notice(ctx, a.User); err != nil {
		return nil, err
	}
	if out.Token, out.Session, err = s.newSession(ctx, a.User, acc.role, now); err != nil {
		return nil, err
	}
	detail := ""
	if a.Client != "" {
		detail = "from " + a.Client
	}
	s.Record(ctx, a.User, "login", "", "ok", detail)
	return out, nil
}

func (s *Service) newDevice(ctx context.Context, user string, now time.Time) (string, error) {
	tok, err := randomHex(32)
	if err != nil {
		return "", err
	}
	if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM evote_official_devices WHERE used_at <= $1`, now.Add(-s.cfg.Limits.DeviceTTL).Unix()); err != nil {
		return "", err
	}
	_, err = s.cfg.DB.ExecContext(ctx, `INSERT INTO evote_official_devices (token_hash, username, created_at, used_at) VALUES ($1, $2, $3, $3)`, tokenHash(tok), user, now.Unix())
	return tok, err
}

// notice counts the failed logins of user recorded since their latest
// successful one.
func (s *Service) notice(ctx context.Context, user string) (Notice, error) {
	var (
		n    Notice
		last int64
	)
	err := s.cfg.DB.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(at), 0) FROM evote_oplog
		WHERE username = $1 AND action = 'login' AND outcome = 'refused'
		AND id > COALESCE((SELECT MAX(id) FROM evote_oplog WHERE username = $1 AND action = 'login' AND outcome = 'ok'), 0)`, user).Scan(&n.Failed, &last)
	if err != nil {
		return Notice{}, fmt.Errorf("official: notice: %w", err)
	}
	if last != 0 {
		n.Last = time.Unix(last, 0)
	}
	return n, nil
}

// addressKey names the budget of a client address: the address itself,
// or its /64 for IPv6 (one subscriber's share).
func addressKey(client string) string {
	ip, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// limiter is a token bucket per address, over a bounded table.
type limiter struct {
	mu      sync.Mutex
	l       Limits
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(l Limits) *limiter {
	l.fill()
	return &limiter{l: l, buckets: make(map[string]*bucket)}
}

// take spends one attempt of addr's budget and returns 0, or returns how
// long until the next one when the budget is spent (spending nothing).
func (l *limiter) take(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(addr, now)
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(l.l.Refill))
}

// refund gives back the attempt just taken from addr, unless the attempt
// was not charged to the address (device).
func (l *limiter) refund(addr string, device bool) {
	if device {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.buckets[addr]; ok {
		b.tokens = min(b.tokens+1, float64(l.l.Burst))
	}
}

func (l *limiter) bucket(addr string, now time.Time) *bucket {
	b, ok := l.buckets[addr]
	if !ok {
		if len(l.buckets) >= l.l.Addresses {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.l.Burst), at: now}
		l.buckets[addr] = b
		return b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(float64(l.l.Burst), b.tokens+float64(d)/float64(l.l.Refill))
		b.at = now
	}
	return b
}

// evict makes room in a full table: buckets refilled by now are dropped
// (they hold nothing a new bucket would not), and if none is, an
// arbitrary one (whose address then starts afresh: an attacker with that
// many addresses gains nothing a new address would not give).
func (l *limiter) evict(now time.Time) {
	full := time.Duration(l.l.Burst) * l.l.Refill
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.l.Addresses {
			break
		}
		delete(l.buckets, k)
	}
}

// hashGate bounds concurrent password hashing: Hashes at once, Queue more
// waiting, each at most Wait.
type hashGate struct {
	slots chan struct{}
	queue chan struct{}
	wait  time.Duration
}

func newHashGate(l Limits) *hashGate {
	l.fill()
	return &hashGate{slots: make(chan struct{}, l.Hashes), queue: make(chan struct{}, l.Queue), wait: l.Wait}
}

// acquire waits for a hash slot and returns its release (idempotent), or
// ErrBusy when too many wait or the wait is too long.
func (g *hashGate) acquire(ctx context.Context) (func(), error) {
	var once sync.Once
	release := func() {
		once.Do(func() {
			<-g.slots
			memrelease.Soon() // the hash's 64 MiB
		})
	}
	select {
	case g.slots <- struct{}{}:
		return release, nil
	default:
	}
	select {
	case g.queue <- struct{}{}:
	default:
		return nil, &RetryError{ErrBusy, g.wait}
	}
	defer func() { <-g.queue }()
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, &RetryError{ErrBusy, g.wait}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
