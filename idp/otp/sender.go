package otp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sender delivers a text message to a phone number. The identity service
// only ever passes the number on record in the population register.
type Sender interface {
	Send(ctx context.Context, phone, text string) error
}

// ErrSend is wrapped by every delivery failure.
var ErrSend = errors.New("otp: message not delivered")

// MaskPhone keeps the country prefix's first four characters and the last
// two digits of phone: "+996*******56". It is what voters are shown and what
// logs may contain.
func MaskPhone(phone string) string {
	if len(phone) < 7 {
		return strings.Repeat("*", len(phone))
	}
	return phone[:4] + strings.Repeat("*", len(phone)-6) + phone[len(phone)-2:]
}

// LogSender is the development sender: it writes each message, with the phone
// number masked, as one line to W instead of sending it. Never use it in
// production: the line contains the code.
type LogSender struct {
	mu sync.Mutex
	W  io.Writer
}

// Send implements Sender.
func (s *LogSender) Send(_ context.Context, phone, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := fmt.Fprintf(s.W, "%s dev-sms to=%s text=%q\n", time.Now().UTC().Format(time.RFC3339), MaskPhone(phone), text)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSend, err)
	}
	return nil
}

// Message is one message kept by a Recorder.
type Message struct {
	Phone, Text string
}

// Recorder is a Sender that keeps messages in memory, for tests and for the
// demo's simulated phone. Fail, when set, makes Send fail.
type Recorder struct {
	mu   sync.Mutex
	msgs []Message
	Fail bool
}

// Send implements Sender.
func (r *Recorder) Send(_ context.Context, phone, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail {
		return fmt.Errorf("%w: recorder set to fail", ErrSend)
	}
	r.msgs = append(r.msgs, Message{phone, text})
	return nil
}

// Messages returns the messages sent to phone, oldest first.
func (r *Recorder) Messages(phone string) []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Message
	for _, m := range r.msgs {
		if m.Phone == phone {
			out = append(out, m)
		}
	}
	return out
}

// Last returns the last message sent to phone, or the zero Message.
func (r *Recorder) Last(phone string) Message {
	m := r.Messages(phone)
	if len(m) == 0 {
		return Message{}
	}
	return m[len(m)-1]
}

// GatewayConfig configures an SMS gateway reached over HTTPS.
type GatewayConfig struct {
	URL      string        // POST endpoint, e.g. https://sms.example/v1/messages
	APIKey   string        // sent as "Authorization: Bearer <key>"; secret
	SenderID string        // alphanumeric sender shown on the phone, e.g. "SHAILOO"
	Timeout  time.Duration // per request; default 10 s
	Client   *http.Client  // optional; its Transport carries TLS settings
}

// Gateway is a Sender for an HTTP SMS gateway. The request body is
// {"from":SenderID,"to":phone,"text":text} as JSON; any 2xx answer means the
// gateway accepted the message. It does not retry: the voter asks for a new
// code, which the resend throttle bounds.
type Gateway struct {
	cfg GatewayConfig
}

// NewGateway validates cfg. The URL must be https (plain http is allowed
// only to 127.0.0.1, for tests against a local fake gateway).
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	if !strings.HasPrefix(cfg.URL, "https://") && !strings.HasPrefix(cfg.URL, "http://127.0.0.1") {
		return nil, errors.New("otp: gateway URL must be https")
	}
	if cfg.APIKey == "" || cfg.SenderID == "" {
		return nil, errors.New("otp: gateway needs an API key and a sender id")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	return &Gateway{cfg: cfg}, nil
}

// Send implements Sender.
func (g *Gateway) Send(ctx context.Context, phone, text string) error {
	body, err := json.Marshal(struct {
		From string `json:"from"`
		To   string `json:"to"`
		Text string `json:"text"`
	}{g.cfg.SenderID, phone, text})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSend, err)
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSend, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+g.cfg.APIKey)
	resp, err := g.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSend, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: gateway answered %d", ErrSend, resp.StatusCode)
	}
	return nil
}
