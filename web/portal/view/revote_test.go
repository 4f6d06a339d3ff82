package view

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
	"testing"

	"evote/ballot"
	"evote/ballot/revoterow"
	"evote/bulletin"
	"evote/tally/revote"
	"evote/verify"
)

// revoteRecord is the spec's example record in deniable re-voting mode
// (spec §15.10), with its manifest.
func revoteRecord(t *testing.T) (*verify.Record, *bulletin.Entry) {
	t.Helper()
	rec, err := verify.Load("../../../spec/vectors/record-revote")
	if err != nil {
		t.Fatal(err)
	}
	m0, err := bulletin.DecodeEntry(rec.Entries[0])
	if err != nil {
		t.Fatal(err)
	}
	return rec, m0
}

// TestRevoteEntries decodes the example record of deniable re-voting:
// the mode and its parameters in the election, every entry of the mode
// into fields of the translated vocabulary, authored by whom the rules
// require, and the decryption shares named by what they decrypt (the
// filter's tags, the roll call, a multi-select contest's flags, then its
// sums).
func TestRevoteEntries(t *testing.T) {
	rec, m0 := revoteRecord(t)
	el, err := Describe(m0.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if el.Coercion == nil || el.Coercion.Mode != "deniable-revoting" || el.Coercion.SlotSeconds == 0 || el.Coercion.SlotRows == 0 || el.Coercion.MaxBallots < 2 {
		t.Fatalf("coercion %+v", el.Coercion)
	}
	plain, err := Describe(mustEntry(t, example(t).Entries[0]).Payload)
	if err != nil || plain.Coercion != nil {
		t.Fatalf("an election without the mode describes %+v (%v)", plain.Coercion, err)
	}
	d, err := NewDecoder(m0.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetManifestEntry(rec.Entries[0]); err != nil {
		t.Fatal(err)
	}
	types, targets := map[string]int{}, map[string]int{}
	for i, raw := range rec.Entries {
		v, err := d.Entry(uint64(i), raw)
		if err != nil {
			t.Fatal(err)
		}
		if v.Error != "" || !v.Signed {
			t.Fatalf("entry %d (%s): %s, signed %v", i, v.Type, v.Error, v.Signed)
		}
		types[v.Type]++
		for k := range v.Fields {
			if !slices.Contains(FieldNames, k) {
				t.Errorf("entry %d: field %q not in FieldNames", i, k)
			}
		}
		if strings.HasPrefix(v.Type, "revote-") {
			if v.Role == "unknown" {
				t.Errorf("entry %d (%s): author unknown", i, v.Type)
			}
			if _, ok := v.Fields["bytes"]; ok {
				t.Errorf("entry %d (%s) shown as bytes only: %v", i, v.Type, v.Fields)
			}
		}
		switch v.Type {
		case "revote-slot":
			if v.Role != "authority" || v.Fields["rows"].(int) == 0 || v.Fields["time"].(uint64) <= el.VotingStart {
				t.Errorf("slot %d: %+v", i, v)
			}
		case "revote-filter":
			if v.Fields["kept"].(int) == 0 || int(v.Fields["rows"].(uint32)) <= v.Fields["kept"].(int) {
				t.Errorf("filter %d: %+v", i, v)
			}
		case "revote-blind", "revote-tag-key":
			if v.Role != "trustee" || v.Fields["trustee"] != v.Who {
				t.Errorf("%s %d: %+v", v.Type, i, v)
			}
		case "revote-roll":
			if v.Role != "identity" || v.Fields["voters"].(int) == 0 {
				t.Errorf("roll %d: %+v", i, v)
			}
		case "decryption-share":
			tg := v.Fields["target"].(string)
			if !slices.Contains(Targets, tg) {
				t.Errorf("share %d: target %q not in Targets", i, tg)
			}
			targets[tg]++
		}
	}
	for _, ty := range []string{"revote-tag-key", "revote-slot", "revote-padding", "revote-depths", "revote-marks", "revote-blind", "revote-filter", "revote-roll"} {
		if types[ty] == 0 {
			t.Errorf("no %s entry in the example record: %v", ty, types)
		}
	}
	for _, tg := range []string{"tags", "roll", "flags", "sums", "mixed"} {
		if targets[tg] == 0 {
			t.Errorf("no decryption share of target %q: %v", tg, targets)
		}
	}
}

func mustEntry(t *testing.T, raw []byte) *bulletin.Entry {
	t.Helper()
	e, err := bulletin.DecodeEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestCheckRow: a row found by its receipt number is checked against the
// slot entry itself, and each lie of the box about it is refused.
func TestCheckRow(t *testing.T) {
	rec, m0 := revoteRecord(t)
	var index uint64
	var sl *revote.Slot
	for i, raw := range rec.Entries {
		if e := mustEntry(t, raw); e.Type == bulletin.TypeRevoteSlot {
			if sl, _ = revote.DecodeSlot(e.Payload); sl != nil && len(sl.Rows) > 1 {
				index = uint64(i)
				break
			}
		}
	}
	if index == 0 {
		t.Fatal("no slot entry of two rows in the example record")
	}
	slotEntry := rec.Entries[index]
	h := sha256.Sum256(sl.Rows[1].Encode())
	p, err := CheckRow(m0.Payload, rec.Entries[0], h, index, sl.Slot, sl.Style, 1, slotEntry)
	if err != nil {
		t.Fatal(err)
	}
	code := ballot.TrackingCodeOf(sl.Rows[1].Ballot)
	if p.Index != index || p.Slot != sl.Slot || p.Style != sl.Style || p.Position != 1 || p.TrackingCode != code.String() {
		t.Fatalf("place %+v", p)
	}
	if back, err := revoterow.ParseReceiptNumber(p.ReceiptNumber); err != nil || back != h {
		t.Fatalf("receipt number %s reads back as %x (%v)", p.ReceiptNumber, back, err)
	}

	// A slot entry of another author: the authority's key is the
	// manifest entry's author, not whatever signed the slot.
	other := resign(t, slotEntry)
	lies := []struct {
		name     string
		hash     [32]byte
		slot     uint32
		style    string
		position int
		entry    []byte
	}{
		{"another row's position", h, sl.Slot, sl.Style, 0, slotEntry},
		{"a position past the slot", h, sl.Slot, sl.Style, len(sl.Rows), slotEntry},
		{"another slot number", h, sl.Slot + 1, sl.Style, 1, slotEntry},
		{"another style", h, sl.Slot, sl.Style + "x", 1, slotEntry},
		{"another row's hash", sha256.Sum256([]byte("x")), sl.Slot, sl.Style, 1, slotEntry},
		{"an entry that is not a slot", h, sl.Slot, sl.Style, 1, rec.Entries[1]},
		{"a slot signed by another key", h, sl.Slot, sl.Style, 1, other},
	}
	for _, l := range lies {
		if _, err := CheckRow(m0.Payload, rec.Entries[0], l.hash, index, l.slot, l.style, l.position, l.entry); !errors.Is(err, ErrRowNotThere) {
			t.Errorf("%s: %v", l.name, err)
		}
	}
	// The first entry must be the manifest the fingerprint names.
	ex := example(t)
	if _, err := CheckRow(mustEntry(t, ex.Entries[0]).Payload, rec.Entries[0], h, index, sl.Slot, sl.Style, 1, slotEntry); err == nil {
		t.Error("a row checked against another election's manifest")
	}
	if _, err := CheckRow(m0.Payload, rec.Entries[1], h, index, sl.Slot, sl.Style, 1, slotEntry); err == nil {
		t.Error("a row checked with another entry as the manifest entry")
	}
}
