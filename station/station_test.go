package station

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"evote/ballot"
	"evote/client"
	"evote/election"
	"evote/trustee"
)

// TestRetryTransient: a mark's row is cast again after a failure with no
// answer, a server error or 429, at most once per wait, and never after
// a refusal (4xx), which is final.
func TestRetryTransient(t *testing.T) {
	waits := []time.Duration{0, 0, 0}
	ok := &client.RowReceipt{RowHash: "h"}
	for name, tc := range map[string]struct {
		fails []error
		calls int
		err   bool
	}{
		"at once":            {nil, 1, false},
		"after 503 and 429":  {[]error{&client.APIError{Status: 503}, &client.APIError{Status: 429}}, 3, false},
		"after no answer":    {[]error{errors.New("connection refused")}, 2, false},
		"refused":            {[]error{&client.APIError{Status: 422, Code: "mark_invalid"}}, 1, true},
		"down all the while": {[]error{&client.APIError{Status: 502}, &client.APIError{Status: 502}, &client.APIError{Status: 502}, &client.APIError{Status: 502}, nil}, 4, true},
	} {
		calls := 0
		rc, err := retryTransient(context.Background(), waits, func() (*client.RowReceipt, error) {
			calls++
			if calls <= len(tc.fails) && tc.fails[calls-1] != nil {
				return nil, tc.fails[calls-1]
			}
			return ok, nil
		})
		if calls != tc.calls || (err != nil) != tc.err || (err == nil && rc != ok) {
			t.Errorf("%s: %d calls, %v; want %d calls, error %v", name, calls, err, tc.calls, tc.err)
		}
	}
}

// TestReady: a station refuses to mark on a replay of another election
// and while voting is not open (before the open, after the close),
// before it asks any server.
func TestReady(t *testing.T) {
	s := &Station{ElectionID: "e-1"}
	for _, c := range []struct {
		st   *election.State
		want error
	}{
		{&election.State{}, nil},
		{&election.State{Manifest: &ballot.Manifest{ElectionID: "e-2"}, Phase: election.PhaseOpen}, nil},
		{&election.State{Manifest: &ballot.Manifest{ElectionID: "e-1"}, Phase: election.PhaseReady}, ErrNotOpen},
		{&election.State{Manifest: &ballot.Manifest{ElectionID: "e-1"}, Phase: election.PhaseClosed}, ErrNotOpen},
	} {
		s.Board = &trustee.Follower{State: c.st}
		err := s.Ready()
		if err == nil || c.want != nil && !errors.Is(err, c.want) || c.want == nil && !strings.Contains(err.Error(), `not of election "e-1"`) {
			t.Errorf("phase %v: Ready = %v, want %v", c.st.Phase, err, c.want)
		}
	}
}
