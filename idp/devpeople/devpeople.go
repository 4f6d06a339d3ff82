// Package devpeople is the identity service's development page: one place
// that lists the simulated register's people (what a test voter types to
// sign in) and the last message texted to each (the one-time code), so a
// developer needs neither "evote demo people" nor the service's log.
//
// It exists only in development mode with the simulated register and the
// log SMS sender; otherwise it refuses with 403, saying why.
package devpeople

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"evote/idp/otp"
	"evote/idp/registry"
)

// Path is where the identity service serves the page.
const Path = "/dev/people"

// Recorder is an otp.Sender that passes each message on to another sender
// (the log sender) and keeps the last message sent to each phone.
type Recorder struct {
	Next otp.Sender
	mu   sync.Mutex
	last map[string]string
}

// Send implements otp.Sender: it records the message once Next took it.
func (r *Recorder) Send(ctx context.Context, phone, text string) error {
	if r.Next != nil {
		if err := r.Next.Send(ctx, phone, text); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[string]string{}
	}
	r.last[phone] = text
	return nil
}

// Last is the last message sent to phone ("" if none).
func (r *Recorder) Last(phone string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[phone]
}

// Person is one row of the page.
type Person struct {
	PIN            string `json:"pin"`
	DocumentNumber string `json:"document_number"`
	BirthDate      string `json:"birth_date"`
	Constituency   string `json:"constituency"`
	Phone          string `json:"phone"`
	// Ineligible is the reason the person cannot vote, "" if they can.
	Ineligible string `json:"ineligible,omitempty"`
	// LastSMS is the last message texted to the person's phone.
	LastSMS string `json:"last_sms,omitempty"`
}

// Handler serves the page as JSON: every simulated person with the last
// message texted to them. With sim or sms nil (not development mode, or a
// real register or SMS gateway) it refuses every request with 403.
func Handler(sim *registry.Simulated, sms *Recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if sim == nil || sms == nil {
			http.Error(w, "the development page is served only with EVOTE_IDP_MODE=development, EVOTE_IDP_REGISTRY=simulated and EVOTE_IDP_SMS=log", http.StatusForbidden)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the development page answers GET only", http.StatusMethodNotAllowed)
			return
		}
		people := []Person{}
		for _, p := range sim.People() {
			row := Person{PIN: p.PIN.Digits(), DocumentNumber: p.DocumentNumber, BirthDate: p.BirthDate.Format(time.DateOnly),
				Constituency: p.Constituency, Phone: p.Phone, LastSMS: sms.Last(p.Phone)}
			if p.Reason != nil {
				row.Ineligible = p.Reason.Error()
			}
			people = append(people, row)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(map[string]any{"people": people})
	})
}
