package view

import (
	"encoding/hex"
	"testing"

	"evote/bulletin"
	"evote/election"
)

// exampleLifecycle is the example record's lifecycle as an honest server
// lists it: the entry that enters each phase, with its inclusion proof in
// the record's tree (whose size and root it returns).
func exampleLifecycle(t *testing.T, entries [][]byte) ([]LifecycleEntry, uint64, string) {
	t.Helper()
	tree := recordTree(entries)
	var out []LifecycleEntry
	add := func(i int, p election.Phase) {
		out = append(out, LifecycleEntry{Index: uint64(i), Phase: p.String(), Canonical: entries[i], Path: proofOf(t, tree, uint64(i))})
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
	root, _ := tree.RootAt(tree.Size())
	return out, tree.Size(), hex.EncodeToString(root[:])
}

// recordTree is the Merkle tree of a record's entries.
func recordTree(entries [][]byte) *bulletin.Tree {
	tree := bulletin.NewTree()
	for _, e := range entries {
		tree.AppendLeaves(bulletin.LeafHash(e))
	}
	return tree
}

// proofOf is the inclusion proof (hex) of entry i in the whole tree.
func proofOf(t *testing.T, tree *bulletin.Tree, i uint64) []string {
	t.Helper()
	p, err := tree.InclusionProof(i, tree.Size())
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, h := range p {
		out = append(out, hex.EncodeToString(h[:]))
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
	honest, size, root := exampleLifecycle(t, rec.Entries)
	for _, m := range Lifecycle(m0.Payload, rec.Entries[0], honest, size, root) {
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
		ms := Lifecycle(m0.Payload, rec.Entries[0], l, size, root)
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
	// Positions are the log's: an entry claimed at a later position than
	// its own (still in order) is not in the tree there; one past the
	// checkpoint is not covered yet (the review's
	// TestAttackLifecyclePositions).
	lie("the tally claimed at a later position", func(l []LifecycleEntry) []LifecycleEntry {
		l[6].Index = size - 1 + 5
		return l
	}, 6)
	lie("the opening at another position in order", func(l []LifecycleEntry) []LifecycleEntry {
		l[2].Index++
		return l
	}, 2)
}
