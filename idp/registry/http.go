package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// HTTPConfig configures the adapter for an X-Road/Tunduk-style population
// register service (contract: spec/08-identity.md §8.2.2).
type HTTPConfig struct {
	Endpoint string      // https URL of the person-check service
	ClientID string      // X-Road client identifier sent as X-Road-Client, e.g. "KG/GOV/70000001/evote"
	TLS      *tls.Config // client certificate and trusted roots (mutual TLS); required for https

	Timeout          time.Duration // per attempt; default 3 s
	MaxAttempts      int           // attempts per lookup, first included; default 3
	BackoffBase      time.Duration // wait before the 2nd attempt, doubled after each; default 200 ms
	BreakerThreshold int           // consecutive failed lookups that open the circuit; default 5
	BreakerCooldown  time.Duration // how long the circuit stays open; default 30 s
	AllowHTTP        bool          // plain http to a loopback address, for tests only
	Now              func() time.Time
}

// HTTP is a Registry backed by an HTTP person-check service. It retries a
// failed attempt (network error, timeout, 429, 5xx) a bounded number of times
// with exponential backoff and jitter, within the caller's deadline, and
// opens a circuit breaker after repeated failed lookups so that an outage
// answers at once with ErrUnavailable instead of piling up requests.
type HTTP struct {
	cfg    HTTPConfig
	client *http.Client

	mu          sync.Mutex
	failures    int
	openUntil   time.Time
	halfOpenTry bool
}

// NewHTTP validates cfg and returns the adapter.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("registry: bad endpoint %q", cfg.Endpoint)
	}
	switch {
	case u.Scheme == "https":
		if cfg.TLS == nil || len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetClientCertificate == nil {
			return nil, errors.New("registry: https endpoint needs a TLS config with a client certificate (mutual TLS)")
		}
	case u.Scheme == "http" && cfg.AllowHTTP && (strings.HasPrefix(u.Host, "127.0.0.1:") || strings.HasPrefix(u.Host, "[::1]:")):
	default:
		return nil, errors.New("registry: endpoint must be https (plain http only to loopback with AllowHTTP)")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 200 * time.Millisecond
	}
	if cfg.BreakerThreshold == 0 {
		cfg.BreakerThreshold = 5
	}
	if cfg.BreakerCooldown == 0 {
		cfg.BreakerCooldown = 30 * time.Second
	}
	if cfg.MaxAttempts < 1 || cfg.MaxAttempts > 10 || cfg.Timeout < 0 || cfg.BreakerThreshold < 1 {
		return nil, errors.New("registry: attempts must be 1..10, timeout and threshold positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	tr := &http.Transport{
		TLSClientConfig:       cfg.TLS,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
	}
	if cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS.Clone()
		if tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
			tr.TLSClientConfig.MinVersion = tls.VersionTLS12
		}
	}
	return &HTTP{cfg: cfg, client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a redirect is an answer we do not follow
	}}}, nil
}

// wireRequest and wireResponse are the JSON contract of §8.2.2.
type wireRequest struct {
	PIN            string `json:"pin"`
	DocumentNumber string `json:"document_number"`
	BirthDate      string `json:"birth_date"`
}

type wireResponse struct {
	RequestID string      `json:"request_id"`
	Result    string      `json:"result"`
	Person    *wirePerson `json:"person"`
}

type wirePerson struct {
	PIN             string `json:"pin"`
	BirthDate       string `json:"birth_date"`
	Citizenship     string `json:"citizenship"`
	Constituency    string `json:"constituency"`
	Phone           string `json:"phone"`
	RightsSuspended bool   `json:"rights_suspended"`
	Deceased        bool   `json:"deceased"`
}

// maxResponse bounds the register's answer.
const maxResponse = 64 << 10

// errRetryable marks an attempt that may succeed if repeated.
var errRetryable = errors.New("registry: retryable")

// Lookup implements Registry.
func (h *HTTP) Lookup(ctx context.Context, q Query) (*Citizen, error) {
	if q.PIN.IsZero() {
		return nil, ErrNotFound
	}
	if err := h.admit(); err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < h.cfg.MaxAttempts; attempt++ {
		if attempt > 0 {
			wait := h.cfg.BackoffBase << (attempt - 1)
			wait += time.Duration(mrand.Int64N(int64(wait)/2 + 1)) // jitter
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				h.record(false)
				return nil, fmt.Errorf("%w: %w (last: %w)", ErrTimeout, ctx.Err(), last)
			case <-t.C:
			}
		}
		c, err := h.attempt(ctx, q)
		if err == nil || !errors.Is(err, errRetryable) {
			// A definite answer, or one that cannot be trusted: a malformed
			// answer or one about another person is not retried.
			h.record(err == nil || IsMismatch(err))
			return c, err
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	h.record(false)
	if ctx.Err() != nil || errors.Is(last, ErrTimeout) {
		return nil, fmt.Errorf("%w: %w", ErrTimeout, last)
	}
	return nil, fmt.Errorf("%w: %d attempts failed, last: %w", ErrUnavailable, h.cfg.MaxAttempts, last)
}

// admit applies the circuit breaker: closed lets everything through; open
// refuses until the cooldown ends; then one trial lookup goes through
// (half-open) and its outcome closes or reopens the circuit.
func (h *HTTP) admit() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures < h.cfg.BreakerThreshold {
		return nil
	}
	now := h.cfg.Now()
	if now.Before(h.openUntil) || h.halfOpenTry {
		return fmt.Errorf("%w: circuit open after %d failed lookups", ErrUnavailable, h.failures)
	}
	h.halfOpenTry = true
	return nil
}

func (h *HTTP) record(ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.halfOpenTry = false
	if ok {
		h.failures = 0
		return
	}
	h.failures++
	if h.failures >= h.cfg.BreakerThreshold {
		h.openUntil = h.cfg.Now().Add(h.cfg.BreakerCooldown)
	}
}

func (h *HTTP) attempt(ctx context.Context, q Query) (*Citizen, error) {
	body, _ := json.Marshal(wireRequest{PIN: q.PIN.Digits(), DocumentNumber: q.DocumentNumber, BirthDate: q.BirthDate.Format(time.DateOnly)})
	var rid [16]byte
	if _, err := rand.Read(rid[:]); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	reqID := hex.EncodeToString(rid[:])
	actx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, h.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Road-Client", h.cfg.ClientID)
	req.Header.Set("X-Request-Id", reqID)
	resp, err := h.client.Do(req)
	if err != nil {
		var ne net.Error
		if actx.Err() != nil || errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: %w: %w", errRetryable, ErrTimeout, actx.Err())
		}
		return nil, fmt.Errorf("%w: %w", errRetryable, scrubURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		if actx.Err() != nil {
			return nil, fmt.Errorf("%w: %w: reading answer: %w", errRetryable, ErrTimeout, actx.Err())
		}
		return nil, fmt.Errorf("%w: reading answer: %w", errRetryable, scrubURLError(err))
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, fmt.Errorf("%w: %w: status %d", errRetryable, ErrUnavailable, resp.StatusCode)
	default:
		return nil, fmt.Errorf("%w: status %d", ErrMalformed, resp.StatusCode)
	}
	if len(raw) > maxResponse {
		return nil, fmt.Errorf("%w: answer larger than %d bytes", ErrMalformed, maxResponse)
	}
	return parseAnswer(raw, reqID, q)
}

// parseAnswer decodes the register's answer strictly and checks it is about
// the person asked for.
func parseAnswer(raw []byte, reqID string, q Query) (*Citizen, error) {
	var w wireResponse
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, "not the expected JSON")
	}
	if d.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	if w.RequestID != reqID {
		return nil, fmt.Errorf("%w: answer to another request", ErrMalformed)
	}
	switch w.Result {
	case "no_person", "document_mismatch", "birth_date_mismatch":
		if w.Person != nil {
			return nil, fmt.Errorf("%w: person data in a negative answer", ErrMalformed)
		}
		return nil, map[string]error{"no_person": ErrNotFound, "document_mismatch": ErrDocumentMismatch, "birth_date_mismatch": ErrBirthDateMismatch}[w.Result]
	case "match":
	default:
		return nil, fmt.Errorf("%w: unknown result", ErrMalformed)
	}
	p := w.Person
	if p == nil {
		return nil, fmt.Errorf("%w: match without person", ErrMalformed)
	}
	if p.PIN != q.PIN.Digits() {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, ErrWrongPerson)
	}
	birth, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		return nil, fmt.Errorf("%w: birth date", ErrMalformed)
	}
	if !birth.Equal(q.BirthDate) {
		return nil, fmt.Errorf("%w: %w (birth date)", ErrMalformed, ErrWrongPerson)
	}
	if len(p.Citizenship) != 2 || strings.ToUpper(p.Citizenship) != p.Citizenship || p.Constituency == "" || len(p.Constituency) > 64 {
		return nil, fmt.Errorf("%w: citizenship or constituency", ErrMalformed)
	}
	if p.Phone != "" && !validE164(p.Phone) {
		return nil, fmt.Errorf("%w: phone number", ErrMalformed)
	}
	return &Citizen{PIN: q.PIN, BirthDate: birth, Citizenship: p.Citizenship, Constituency: p.Constituency, Phone: p.Phone,
		RightsSuspended: p.RightsSuspended, Deceased: p.Deceased}, nil
}

func validE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scrubURLError drops the URL from a transport error (it carries no personal
// data here, but the error may be logged and the endpoint is configuration).
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
