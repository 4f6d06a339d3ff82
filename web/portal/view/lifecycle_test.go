package view

import (
	"testing"

	"evote/bulletin"
	"evote/election"
)

// exampleLifecycle is the example record's lifecycle as an honest server
// lists it: the entry that enters each phase.
func exampleLifecycle(t *testing.T, entries [][]byte) []LifecycleEntry {
	t.Helper()
	var out []LifecycleEntry
	add := func(i int, p election.Phase) {
		out = append(out, LifecycleEntry{Index: uint64(i), Phase: p.String(), Canonical: entries[i]})
	}
	for i, raw := range entries {
		e := mustEntry(t, raw)
		switch e.Type {
		case bulletin.TypeManifest:
			add(i, election.PhaseSetup)
		case bulletin.TypeElectionContext:
			add(i, election.PhaseReady)
		case bulletin.TypeOpen, bulletin.TypeClose, bulletin.TypeTransition:
			tr, err := election.DecodeTransition(e.Payload)
			if err != nil {
				t.Fatal(err)
			}
			add(i, tr.To)
		case bulletin.TypeResult:
			add(i, election.PhaseTallied)
		}
	}
	if len(out) != 7 {
		t.Fatalf("the example record's lifecycle has %d phases", len(out))
	}
	return out
}

// TestLifecycle: the overview's lifecycle is checked against the entries
// themselves, each the authority's entry that enters its phase, in order,
// with the time a transition states. Before, the page showed the server's
// list as fact.
func TestLifecycle(t *testing.T) {
	rec := example(t)
	m0 := mustEntry(t, rec.Entries[0])
	honest := exampleLifecycle(t, rec.Entries)
	for _, m := range Lifecycle(m0.Payload, rec.Entries[0], honest) {
		if !m.OK {
			t.Fatalf("honest mark %+v", m)
		}
		if m.Phase == "open" && (m.At == 0 || m.Official == "") {
			t.Errorf("the open entry's time and official: %+v", m)
		}
	}
	lie := func(name string, change func(l []LifecycleEntry) []LifecycleEntry, bad int) {
		t.Helper()
		l := change(append([]LifecycleEntry{}, honest...))
		ms := Lifecycle(m0.Payload, rec.Entries[0], l)
		if ms[bad].OK {
			t.Errorf("%s: mark %d accepted: %+v", name, bad, ms[bad])
		}
	}
	lie("the close entry called the opening", func(l []LifecycleEntry) []LifecycleEntry {
		l[2].Canonical, l[2].Index = l[3].Canonical, l[3].Index
		return l
	}, 2)
	lie("a transition signed by another key", func(l []LifecycleEntry) []LifecycleEntry {
		l[4].Canonical = resign(t, l[4].Canonical)
		return l
	}, 4)
	lie("mixing claimed by the decrypting transition", func(l []LifecycleEntry) []LifecycleEntry {
		l[4].Canonical = l[5].Canonical
		return l
	}, 4)
	lie("the phases out of order", func(l []LifecycleEntry) []LifecycleEntry {
		l[3], l[4] = l[4], l[3]
		return l
	}, 4)
	lie("the setup elsewhere than the first entry", func(l []LifecycleEntry) []LifecycleEntry {
		l[0].Index = 1
		return l
	}, 0)
	lie("a phase that does not exist", func(l []LifecycleEntry) []LifecycleEntry {
		l[6].Phase = "recounted"
		return l
	}, 6)
}
