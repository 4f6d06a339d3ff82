package devpeople

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"evote/idp/otp"
	"evote/idp/registry"
)

// failSender refuses every message.
type failSender struct{}

func (failSender) Send(context.Context, string, string) error { return otp.ErrSend }

// TestPage: the page lists every simulated person and the last message
// texted to each; it refuses other methods, and everything without the
// simulated register or the recorded sender.
func TestPage(t *testing.T) {
	sim, err := registry.NewSimulated(registry.SimulatedConfig{Seed: "t", Constituencies: []string{"KG-ABR-01"}, PerConstituency: 10, ElectionDay: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{}
	people := sim.People()
	phone := people[0].Phone
	for _, text := range []string{"code 111111", "code 222222"} {
		if err := rec.Send(context.Background(), phone, text); err != nil {
			t.Fatal(err)
		}
	}
	get := func(h http.Handler, method string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, Path, nil))
		return w
	}
	w := get(Handler(sim, rec), http.MethodGet)
	var body struct{ People []Person }
	if err := json.Unmarshal(w.Body.Bytes(), &body); w.Code != 200 || err != nil {
		t.Fatalf("GET: %d %v %s", w.Code, err, w.Body)
	}
	if len(body.People) != len(people) {
		t.Fatalf("%d people listed, the register has %d", len(body.People), len(people))
	}
	ineligible := 0
	for i, p := range body.People {
		want := ""
		if people[i].Phone == phone {
			want = "code 222222"
		}
		if p.PIN != people[i].PIN.Digits() || p.DocumentNumber != people[i].DocumentNumber || p.LastSMS != want {
			t.Fatalf("row %d: %+v, want person %s with last message %q", i, p, people[i].PIN.Digits(), want)
		}
		if p.Ineligible != "" {
			ineligible++
		}
	}
	if ineligible == 0 {
		t.Fatal("no ineligible person marked as such")
	}
	if w := get(Handler(sim, rec), http.MethodPost); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", w.Code)
	}
	for name, h := range map[string]http.Handler{"no simulated register": Handler(nil, rec), "no recorder": Handler(sim, nil)} {
		if w := get(h, http.MethodGet); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "EVOTE_IDP_MODE=development") {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	// A message the next sender refused was not sent: it is not listed.
	rec2 := &Recorder{Next: failSender{}}
	if err := rec2.Send(context.Background(), phone, "code 333333"); !errors.Is(err, otp.ErrSend) || rec2.Last(phone) != "" {
		t.Fatalf("refused send: %v, recorded %q", err, rec2.Last(phone))
	}
}
