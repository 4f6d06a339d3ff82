// Package registrytest runs a fake X-Road/Tunduk person-check service
// (spec/08-identity.md §8.2.2) backed by a registry.Simulated, for tests and
// the demo. It can be told to misbehave: answer slowly, fail with 5xx, send
// malformed JSON, or answer about another person.
package registrytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"evote/idp/registry"
)

// Mode is how the fake service answers.
type Mode int

// Modes.
const (
	Normal      Mode = iota
	Slow             // waits Delay before answering normally
	ServerError      // 503 Service Unavailable
	Malformed        // 200 with a body that is not the contract's JSON
	WrongPerson      // a match about another person
	Redirect         // 302 to elsewhere
)

// Server is the fake service.
type Server struct {
	*httptest.Server
	Sim *registry.Simulated

	mu       sync.Mutex
	mode     Mode
	delay    time.Duration
	failNext int
	requests int
	clients  []string
}

// Handler returns the HTTP handler, for callers that run their own server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// New starts a plain-HTTP fake service on loopback.
func New(sim *registry.Simulated) *Server {
	s := &Server{Sim: sim}
	s.Server = httptest.NewServer(s.Handler())
	return s
}

// SetMode changes how the service answers; d is the delay of Slow.
func (s *Server) SetMode(m Mode, d time.Duration) {
	s.mu.Lock()
	s.mode, s.delay = m, d
	s.mu.Unlock()
}

// FailNext makes the next n requests answer 503, then answers normally.
func (s *Server) FailNext(n int) { s.mu.Lock(); s.failNext = n; s.mu.Unlock() }

// Requests returns how many requests arrived.
func (s *Server) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

// Clients returns the X-Road-Client header of each request.
func (s *Server) Clients() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.clients...)
}

type request struct {
	PIN            string `json:"pin"`
	DocumentNumber string `json:"document_number"`
	BirthDate      string `json:"birth_date"`
}

type person struct {
	PIN             string `json:"pin"`
	BirthDate       string `json:"birth_date"`
	Citizenship     string `json:"citizenship"`
	Constituency    string `json:"constituency"`
	Phone           string `json:"phone"`
	RightsSuspended bool   `json:"rights_suspended"`
	Deceased        bool   `json:"deceased"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.clients = append(s.clients, r.Header.Get("X-Road-Client"))
	mode, delay := s.mode, s.delay
	fail := s.failNext > 0
	if fail {
		s.failNext--
	}
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if fail || mode == ServerError {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return
	}
	if mode == Slow {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if mode == Redirect {
		http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		return
	}
	var q request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&q); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if mode == Malformed {
		w.Write([]byte(`{"request_id": "` + r.Header.Get("X-Request-Id") + `", "result": "match", "person": {"pin": 12`))
		return
	}
	ans := map[string]any{"request_id": r.Header.Get("X-Request-Id")}
	p := s.Sim.Person(q.PIN)
	switch {
	case p == nil:
		ans["result"] = "no_person"
	case p.DocumentNumber != q.DocumentNumber:
		ans["result"] = "document_mismatch"
	case p.BirthDate.Format(time.DateOnly) != q.BirthDate:
		ans["result"] = "birth_date_mismatch"
	default:
		ans["result"] = "match"
		pp := person{PIN: p.PIN.Digits(), BirthDate: p.BirthDate.Format(time.DateOnly), Citizenship: p.Citizenship,
			Constituency: p.Constituency, Phone: p.Phone, RightsSuspended: p.RightsSuspended, Deceased: p.Deceased}
		if mode == WrongPerson {
			other := s.Sim.People()[0]
			if other.PIN.Digits() == pp.PIN {
				other = s.Sim.People()[1]
			}
			pp.PIN, pp.Phone = other.PIN.Digits(), other.Phone
		}
		ans["person"] = pp
	}
	json.NewEncoder(w).Encode(ans)
}
