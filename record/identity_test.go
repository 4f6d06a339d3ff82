package record

import (
	"bytes"
	"errors"
	"testing"
)

func sampleMark() *InPersonMark {
	m := &InPersonMark{
		ElectionID: "kg-2026-parl", ContextHash: h32("context"), Pseudonym: h32("pseudonym"), BallotStyle: "KG-ABR-01",
		StationID: "station-0042", StationKey: pub32(seedKey("station-0042")),
		OfficialID: "official-7", OfficialKey: pub32(seedKey("official-7")), MarkedAt: 1795650000,
	}
	m.Sign(seedKey("station-0042"), seedKey("official-7"))
	return m
}

func sampleChange() *VoterListChange {
	c := &VoterListChange{
		ElectionID: "kg-2026-parl", ContextHash: h32("context"), Sequence: 3, Kind: ListContactUpdate,
		OfficialID: "consul-ist-1", OfficialKey: pub32(seedKey("consul-ist-1")), DetailsDigest: h32("details"),
		Updated: 2, Counts: []StyleCount{{"KG-ABR-01", 1200}, {"KG-ABR-02", 950}}, ChangedAt: 1795550000,
	}
	c.Sign(seedKey("consul-ist-1"))
	return c
}

type vcase struct {
	b      []byte
	expect string
}

func markCases() map[string]vcase {
	mut := func(f func(m *InPersonMark), resign bool) []byte {
		m := sampleMark()
		f(m)
		if resign {
			m.Sign(seedKey("station-0042"), seedKey("official-7"))
		}
		return m.Encode()
	}
	b := sampleMark().Encode()
	return map[string]vcase{
		"trailing":                {append(append([]byte{}, b...), 0), "malformed"},
		"truncated":               {b[:len(b)-64], "malformed"},
		"bad station id":          {mut(func(m *InPersonMark) { m.StationID = "" }, true), "malformed"},
		"small-order station key": {mut(func(m *InPersonMark) { m.StationKey = smallOrderKey }, false), "malformed"},
		"pseudonym changed":       {mut(func(m *InPersonMark) { m.Pseudonym[0] ^= 1 }, false), "bad-signature"},
		"time changed":            {mut(func(m *InPersonMark) { m.MarkedAt++ }, false), "bad-signature"},
		"official sig missing":    {mut(func(m *InPersonMark) { m.OfficialSig = [64]byte{} }, false), "bad-signature"},
		"signed by other station": {mut(func(m *InPersonMark) { m.StationKey = pub32(seedKey("station-9")) }, false), "bad-signature"},
	}
}

func changeCases() map[string]vcase {
	mut := func(f func(c *VoterListChange), resign bool) []byte {
		c := sampleChange()
		f(c)
		if resign {
			c.Sign(seedKey("consul-ist-1"))
		}
		return c.Encode()
	}
	b := sampleChange().Encode()
	return map[string]vcase{
		"trailing":        {append(append([]byte{}, b...), 0), "malformed"},
		"sequence 0":      {mut(func(c *VoterListChange) { c.Sequence = 0 }, true), "malformed"},
		"unknown kind":    {mut(func(c *VoterListChange) { c.Kind = 9 }, true), "malformed"},
		"unsorted counts": {mut(func(c *VoterListChange) { c.Counts[0], c.Counts[1] = c.Counts[1], c.Counts[0] }, true), "malformed"},
		"duplicate style": {mut(func(c *VoterListChange) { c.Counts[1].BallotStyle = c.Counts[0].BallotStyle }, true), "malformed"},
		"seq changed":     {mut(func(c *VoterListChange) { c.Sequence++ }, false), "bad-signature"},
		"digest changed":  {mut(func(c *VoterListChange) { c.DetailsDigest[5] ^= 1 }, false), "bad-signature"},
	}
}

func TestMarkAndChange(t *testing.T) {
	m := sampleMark()
	d, err := DecodeInPersonMark(m.Encode())
	if err != nil || *d != *m || d.VerifySignatures() != nil {
		t.Fatalf("mark round trip: %v", err)
	}
	c := sampleChange()
	dc, err := DecodeVoterListChange(c.Encode())
	if err != nil || !bytes.Equal(dc.Encode(), c.Encode()) || dc.VerifySignature() != nil {
		t.Fatalf("change round trip: %v", err)
	}
	for name, v := range markCases() {
		if got := checkIdentityPayload("in-person-mark", v.b); got != v.expect {
			t.Errorf("mark %s: %s, want %s", name, got, v.expect)
		}
	}
	for name, v := range changeCases() {
		if got := checkIdentityPayload("voter-list-change", v.b); got != v.expect {
			t.Errorf("change %s: %s, want %s", name, got, v.expect)
		}
	}
	// The two statements are domain-separated: a mark's signature is not a
	// list change's.
	if bytes.HasPrefix(m.SigningBytes(), c.SigningBytes()[:20]) {
		t.Error("statements share a prefix")
	}
}

func TestDecodersNeverAcceptGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, bytes.Repeat([]byte{0xff}, 400)} {
		if _, err := DecodeInPersonMark(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("mark: %v", err)
		}
		if _, err := DecodeVoterListChange(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("change: %v", err)
		}
	}
}

func FuzzInPersonMark(f *testing.F) {
	f.Add(sampleMark().Encode())
	for _, c := range markCases() {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeInPersonMark(b)
		if err == nil {
			if !bytes.Equal(m.Encode(), b) {
				t.Fatal("accepted a non-canonical encoding")
			}
			_ = m.VerifySignatures()
		}
	})
}

func FuzzVoterListChange(f *testing.F) {
	f.Add(sampleChange().Encode())
	for _, c := range changeCases() {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeVoterListChange(b)
		if err == nil {
			if !bytes.Equal(c.Encode(), b) {
				t.Fatal("accepted a non-canonical encoding")
			}
			_ = c.VerifySignature()
		}
	})
}
