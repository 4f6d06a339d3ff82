// Package client is a small typed HTTP client for the ballot box's API
// (spec/10-api.md: public board and elections, voter, trustee and official
// routes) and for the identity service's API (spec/08-identity.md), shared
// by the evote command, the demo and tests.
//
// It decodes every binary value strictly: entries with bulletin.DecodeEntry
// (canonical encodings only), and callers check signatures and replay the
// board themselves (package trustee does); nothing the server says about
// the state of an election is taken on trust.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"evote/bulletin"
)

// maxAnswer bounds an answer body read into memory (a page of board
// entries can hold a whole mix).
const maxAnswer = 1 << 30

// APIError is an error answer of either service:
// {"error": {"code", "message"}} with its HTTP status.
type APIError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the answer's Retry-After (a rate limit, a busy
	// server), 0 without one.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("client: HTTP %d %s: %s", e.Status, e.Code, e.Message)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (try again in %s)", e.RetryAfter)
	}
	return s
}

// retryAfter parses a Retry-After header in seconds (the form both
// services send; an HTTP date is taken too).
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && time.Until(t) > 0 {
		return time.Until(t).Round(time.Second)
	}
	return 0
}

// IsCode reports whether err is an APIError with the given stable code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// Client talks to one service at BaseURL (e.g. http://127.0.0.1:8080).
type Client struct {
	BaseURL string
	HTTP    *http.Client
	// Token, if set, is sent as a bearer token (an official's session).
	Token string
	// Device is the official's device token (spec/10-api.md §10.5): Login
	// presents it, and sets it when the server issues a new one.
	Device string
}

// New returns a client for baseURL with a default timeout.
func New(baseURL string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Timeout: 5 * time.Minute}}
}

// NewPooled is New with a connection pool that keeps up to conns idle
// connections to the server (the default keeps 2): for a service that
// has that many requests in flight, such as the identity service posting
// credentials concurrently (idp.PostConcurrency), which would otherwise
// open and close a connection for most of them.
func NewPooled(baseURL string, conns int) *Client {
	c := New(baseURL)
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	c.HTTP.Transport = t
	return c
}

// b64 is the encoding of binary values in request bodies (spec §10:
// base64url without padding).
var b64 = base64.RawURLEncoding

// decodeB64 accepts what the servers send: base64url without padding (the
// API's rule) or standard base64 with padding (the board's entry views).
func decodeB64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "+/=") {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return b64.Strict().DecodeString(s)
}

// entryBody is the request body {"entry": base64url(canonical entry)},
// written as it is sent: a large entry (a trustee's mix of a million
// ciphertexts) is not encoded, base64'd and wrapped in JSON in memory
// first, which took about four copies of it.
type entryBody struct{ e *bulletin.Entry }

func (b entryBody) reader() io.Reader {
	pr, pw := io.Pipe()
	go func() {
		// The transport closes the body on any failure, which ends the
		// writes here with an error.
		bw := bufio.NewWriterSize(pw, 64<<10)
		bw.WriteString(`{"entry":"`)
		enc := base64.NewEncoder(b64, bw)
		_, err := b.e.WriteTo(enc)
		if err == nil {
			err = enc.Close()
		}
		if err == nil {
			_, err = bw.WriteString(`"}`)
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
// A 4xx or 5xx answer is returned as *APIError.
func (c *Client) do(ctx context.Context, method, path string, body, out any, bearer string) (int, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case entryBody:
		rd = b.reader()
	default:
		b2, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("client: %w", err)
		}
		rd = bytes.NewReader(b2)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if bearer == "" {
		bearer = c.Token
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var eb struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		if eb.Error.Code == "" {
			eb.Error.Code = "http_" + fmt.Sprint(resp.StatusCode)
			eb.Error.Message = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
		}
		return resp.StatusCode, &APIError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("client: %s %s: answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func esc(s string) string { return url.PathEscape(s) }
