package view

import (
	"fmt"

	"evote/bulletin"
	"evote/election"
)

// LifecycleEntry is what the page fetched for one phase of the lifecycle
// the server lists: the position it names, the phase it claims, and the
// entry at that position (canonical bytes, from the board).
type LifecycleEntry struct {
	Index     uint64   `json:"index"`
	Phase     string   `json:"phase"`
	Canonical []byte   `json:"canonical"`
	Path      []string `json:"path"` // its inclusion proof (hex) in the checkpoint's tree
}

// Mark is one phase of the lifecycle as the module checked it: OK when
// the entry at Index is the authority's entry that enters Phase; At and
// Official are then what a transition entry states (0 and "" for the
// manifest, the election context and the result, which state no time).
type Mark struct {
	Phase    string `json:"phase"`
	Index    uint64 `json:"index"`
	At       uint64 `json:"at"`
	Official string `json:"official,omitempty"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
}

// phaseEntry is the entry type that enters each phase (spec §9.8): the
// manifest, the election context, open and close entries, transitions,
// and the result.
var phaseEntry = map[election.Phase]bulletin.Type{
	election.PhaseSetup:      bulletin.TypeManifest,
	election.PhaseReady:      bulletin.TypeElectionContext,
	election.PhaseOpen:       bulletin.TypeOpen,
	election.PhaseClosed:     bulletin.TypeClose,
	election.PhaseMixing:     bulletin.TypeTransition,
	election.PhaseDecrypting: bulletin.TypeTransition,
	election.PhaseTallied:    bulletin.TypeResult,
}

// Lifecycle checks the lifecycle the server lists against the entries
// themselves: each must be, at its position, the election authority's
// entry (AuthorityEntry) of the type that enters the phase claimed, a
// transition moving to that phase; the phases must come in order at
// increasing positions, each in the tree of the checkpoint the page
// checked (size, root): its position is then the log's, not the server's
// word. A mark past that checkpoint fails as not covered yet. A mark that
// fails says why; the page shows the time a transition states, not the
// server's. Whether the lifecycle is whole (no later phase hidden) is for
// the verifier, which replays the board.
func Lifecycle(manifest, manifestEntry []byte, entries []LifecycleEntry, size uint64, root string) []Mark {
	out := make([]Mark, 0, len(entries))
	last := -1
	for i, le := range entries {
		m := Mark{Phase: le.Phase, Index: le.Index}
		err := checkMark(manifest, manifestEntry, le, &m)
		if err == nil && le.Index >= size {
			err = fmt.Errorf("entry %d: no cosigned checkpoint covers it yet", le.Index)
		} else if err == nil {
			if ierr := CheckInclusion(le.Canonical, le.Index, size, le.Path, root); ierr != nil {
				err = fmt.Errorf("entry %d: %w", le.Index, ierr)
			}
		}
		if err == nil && (int(phaseOf(le.Phase)) <= last || i > 0 && le.Index <= entries[i-1].Index) {
			err = fmt.Errorf("phase %s out of order", le.Phase)
		}
		if err != nil {
			m.Error = err.Error()
		} else {
			m.OK, last = true, int(phaseOf(le.Phase))
		}
		out = append(out, m)
	}
	return out
}

// phaseOf is the phase named s, or an invalid phase.
func phaseOf(s string) election.Phase {
	for p := election.PhaseSetup; p <= election.PhaseTallied; p++ {
		if p.String() == s {
			return p
		}
	}
	return election.Phase(255)
}

func checkMark(manifest, manifestEntry []byte, le LifecycleEntry, m *Mark) error {
	p := phaseOf(le.Phase)
	t, ok := phaseEntry[p]
	if !ok {
		return fmt.Errorf("no phase %q", le.Phase)
	}
	if p == election.PhaseSetup && le.Index != 0 {
		return fmt.Errorf("the manifest is the board's first entry, not entry %d", le.Index)
	}
	e, err := AuthorityEntry(manifest, manifestEntry, le.Canonical, t)
	if err != nil {
		return fmt.Errorf("entry %d: %w", le.Index, err)
	}
	if t == bulletin.TypeOpen || t == bulletin.TypeClose || t == bulletin.TypeTransition {
		tr, err := election.DecodeTransition(e.Payload)
		if err != nil {
			return fmt.Errorf("entry %d: %w", le.Index, err)
		}
		if tr.To != p {
			return fmt.Errorf("entry %d moves to phase %s, not %s", le.Index, tr.To, p)
		}
		m.At, m.Official = tr.At, tr.Official
	}
	return nil
}
