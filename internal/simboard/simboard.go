// Package simboard serves a simulated election's board (package
// election/sim) over the routes of the ballot box's API that the tools
// following a board use (spec §10.1, §10.3, §7.9): the election's view,
// the board's entries, a cosigned checkpoint, consistency proofs, and the
// trustee route, which applies every entry through the election rules
// (sim.Election.Append) as the box does. It stands in for the ballot box
// in tests of those tools, no more: it checks no header or phase before
// reading a body and has no event stream (the client polls).
//
// A test plays a dishonest box through its hooks: View rewrites the
// election's JSON view, Served replaces the entries served while the
// checkpoints stay those of the election's own log (a private fork), Note
// and Proof rewrite a checkpoint or a consistency proof.
package simboard

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"evote/bulletin"
	"evote/client"
	"evote/election/sim"
)

// A Server serves E. Lock Mu around changes to E made while it serves.
type Server struct {
	Mu sync.Mutex
	E  *sim.Election
	// View, if set, rewrites the election's view before it is served.
	View func(*client.ElectionInfo)
	// Served, if set, returns the entries served in place of E.Entries.
	Served func() []*bulletin.Entry
	// Note, if set, rewrites the cosigned checkpoint note before it is
	// served (a stale or uncosigned one, say).
	Note func([]byte) []byte
	// Proof, if set, rewrites a consistency proof before it is served.
	Proof func([][32]byte) [][32]byte
}

// entries returns the entries served.
func (s *Server) entries() []*bulletin.Entry {
	if s.Served != nil {
		return s.Served()
	}
	return s.E.Entries
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Mu.Lock()
	defer s.Mu.Unlock()
	e := s.E
	id, log := e.Cfg.ElectionID, hex.EncodeToString(e.Log[:])
	fail := func(status int, code string, err error) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": err.Error()}})
	}
	served := s.entries()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/elections/"+id:
		info := client.ElectionInfo{ElectionID: id, Log: log, Phase: e.State.Phase.String(), Size: uint64(len(served))}
		if m := e.State.Manifest; m != nil {
			info.Manifest = base64.RawURLEncoding.EncodeToString(m.Encode())
			info.IdentityKey = base64.RawURLEncoding.EncodeToString(m.IdentityKey[:])
		}
		info.AuthorityKey = base64.RawURLEncoding.EncodeToString(e.State.Authority[:])
		if c := e.State.Context; c != nil {
			info.JointKey = base64.RawURLEncoding.EncodeToString(c.JointKey.Bytes())
			info.ExtendedHash = base64.RawURLEncoding.EncodeToString(c.ExtendedHash[:])
		}
		if s.View != nil {
			s.View(&info)
		}
		json.NewEncoder(w).Encode(info)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/board/"+log+"/entries":
		start, _ := strconv.ParseUint(r.URL.Query().Get("start"), 10, 64)
		limit, _ := strconv.ParseUint(r.URL.Query().Get("limit"), 10, 64)
		if start > uint64(len(served)) {
			fail(http.StatusNotFound, "not_found", fmt.Errorf("start %d beyond the board", start))
			return
		}
		type view struct {
			Index     uint64 `json:"index"`
			Canonical string `json:"canonical"`
		}
		page := struct {
			Start   uint64  `json:"start"`
			Size    uint64  `json:"size"`
			Entries []view  `json:"entries"`
			Next    *uint64 `json:"next"`
		}{Start: start, Size: uint64(len(served)), Entries: []view{}}
		for i := start; i < uint64(len(served)) && i < start+limit; i++ {
			page.Entries = append(page.Entries, view{i, base64.StdEncoding.EncodeToString(served[i].Encode())})
		}
		if end := start + uint64(len(page.Entries)); end < uint64(len(served)) {
			page.Next = &end
		}
		json.NewEncoder(w).Encode(page)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/elections/"+id+"/checkpoint":
		note, err := e.Keys.SignCheckpoint(id, encoded(e.Entries), time.Now())
		if err != nil {
			fail(http.StatusInternalServerError, "internal", err)
			return
		}
		if s.Note != nil {
			note = s.Note(note)
		}
		json.NewEncoder(w).Encode(map[string]any{"size": len(e.Entries), "note": string(note)})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/board/"+log+"/proof/consistency":
		// The proof is of the served entries' tree: a fork's proof fails
		// against the witnessed checkpoint, as a dishonest box's would.
		first, err1 := strconv.ParseUint(r.URL.Query().Get("first"), 10, 64)
		second, err2 := strconv.ParseUint(r.URL.Query().Get("second"), 10, 64)
		if err1 != nil || err2 != nil || first > second || second > uint64(len(served)) {
			fail(http.StatusBadRequest, "bad_request", fmt.Errorf("sizes %q and %q", r.URL.Query().Get("first"), r.URL.Query().Get("second")))
			return
		}
		tree := bulletin.NewTree()
		for _, x := range encoded(served) {
			tree.AppendLeaves(bulletin.LeafHash(x))
		}
		p, err := tree.ConsistencyProof(first, second)
		if err != nil {
			fail(http.StatusInternalServerError, "internal", err)
			return
		}
		if s.Proof != nil {
			p = s.Proof(p)
		}
		path := make([]string, len(p))
		for i := range p {
			path[i] = hex.EncodeToString(p[i][:])
		}
		json.NewEncoder(w).Encode(map[string]any{"first": first, "second": second, "path": path})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/elections/"+id+"/trustee/entries":
		var body struct{ Entry string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fail(http.StatusBadRequest, "bad_request", err)
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(body.Entry)
		if err != nil {
			fail(http.StatusBadRequest, "bad_request", err)
			return
		}
		x, err := bulletin.DecodeEntry(raw)
		if err != nil {
			fail(http.StatusBadRequest, "bad_request", err)
			return
		}
		culprits := len(e.State.Culprits)
		if err := e.Append(x); err != nil {
			fail(http.StatusUnprocessableEntity, "entry_invalid", err)
			return
		}
		valid := len(e.State.Culprits) == culprits
		a := client.PostedAnswer{Index: uint64(len(e.Entries) - 1), Valid: &valid}
		if !valid {
			a.Reason = e.State.Culprits[culprits].Reason
			w.WriteHeader(http.StatusAccepted)
		} else {
			w.WriteHeader(http.StatusCreated)
		}
		json.NewEncoder(w).Encode(a)
	default:
		fail(http.StatusNotFound, "not_found", fmt.Errorf("no route %s %s", r.Method, r.URL.Path))
	}
}

func encoded(es []*bulletin.Entry) [][]byte {
	out := make([][]byte, len(es))
	for i, x := range es {
		out[i] = x.Encode()
	}
	return out
}
