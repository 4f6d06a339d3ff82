package record

import (
	"bytes"
	"errors"
	"testing"
)

func samplePolling() *PollingRegistration {
	r := &PollingRegistration{
		ElectionID: "kg-2026-parl", ContextHash: h32("context"),
		OfficialID: "list-official-1", OfficialKey: pub32(seedKey("list-official-1")), RegisteredAt: 1795600000,
		Stations: []PollingKey{
			{"station-0042", pub32(seedKey("station-0042"))},
			{"station-istanbul", pub32(seedKey("station-istanbul"))},
		},
		Officials: []PollingKey{{"official-7", pub32(seedKey("official-7"))}},
	}
	r.Sign(seedKey("list-official-1"))
	return r
}

func pollingCases() map[string]vcase {
	mut := func(f func(r *PollingRegistration), resign bool) []byte {
		r := samplePolling()
		f(r)
		if resign {
			r.Sign(seedKey("list-official-1"))
		}
		return r.Encode()
	}
	b := samplePolling().Encode()
	return map[string]vcase{
		"trailing":                {append(append([]byte{}, b...), 0), "malformed"},
		"truncated":               {b[:len(b)-1], "malformed"},
		"empty":                   {mut(func(r *PollingRegistration) { r.Stations, r.Officials = nil, nil }, true), "malformed"},
		"stations unsorted":       {mut(func(r *PollingRegistration) { r.Stations[0], r.Stations[1] = r.Stations[1], r.Stations[0] }, true), "malformed"},
		"station twice":           {mut(func(r *PollingRegistration) { r.Stations[1].ID = r.Stations[0].ID }, true), "malformed"},
		"one key for two":         {mut(func(r *PollingRegistration) { r.Officials[0].Key = r.Stations[0].Key }, true), "malformed"},
		"bad station id":          {mut(func(r *PollingRegistration) { r.Stations[0].ID = "station 1" }, true), "malformed"},
		"small-order station key": {mut(func(r *PollingRegistration) { r.Stations[0].Key = smallOrderKey }, true), "malformed"},
		"non-canonical key":       {mut(func(r *PollingRegistration) { r.Officials[0].Key = nonCanonicalKey }, true), "malformed"},
		"station key changed":     {mut(func(r *PollingRegistration) { r.Stations[0].Key = pub32(seedKey("rogue")) }, false), "bad-signature"},
		"official added": {mut(func(r *PollingRegistration) {
			r.Officials = append(r.Officials, PollingKey{"official-8", pub32(seedKey("rogue"))})
		}, false), "bad-signature"},
		"context changed":       {mut(func(r *PollingRegistration) { r.ContextHash[0] ^= 1 }, false), "bad-signature"},
		"signed by another key": {mut(func(r *PollingRegistration) { r.Sign(seedKey("rogue")) }, false), "bad-signature"},
		"count too large": {func() []byte {
			b := samplePolling().Encode()
			// the station count follows election id, context hash, official id and key, time
			off := 4 + len("kg-2026-parl") + 32 + 4 + len("list-official-1") + 32 + 8
			b[off+2] = 0x01 // 256 + 2 stations
			return b
		}(), "malformed"},
	}
}

func TestPollingRegistration(t *testing.T) {
	r := samplePolling()
	d, err := DecodePollingRegistration(r.Encode())
	if err != nil || !bytes.Equal(d.Encode(), r.Encode()) || d.VerifySignature() != nil {
		t.Fatalf("round trip: %v", err)
	}
	for name, v := range pollingCases() {
		if got := checkIdentityPayload("polling-registration", v.b); got != v.expect {
			t.Errorf("%s: %s, want %s", name, got, v.expect)
		}
	}
	for _, b := range [][]byte{nil, {0}, bytes.Repeat([]byte{0xff}, 400)} {
		if _, err := DecodePollingRegistration(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("garbage: %v", err)
		}
	}
	// Domain separation from the other officials' statements.
	if bytes.HasPrefix(r.SigningBytes(), sampleChange().SigningBytes()[:20]) || bytes.HasPrefix(r.SigningBytes(), sampleMark().SigningBytes()[:20]) {
		t.Error("statements share a prefix")
	}
}

func FuzzPollingRegistration(f *testing.F) {
	f.Add(samplePolling().Encode())
	for _, c := range pollingCases() {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodePollingRegistration(b)
		if err == nil {
			if !bytes.Equal(r.Encode(), b) {
				t.Fatal("accepted a non-canonical encoding")
			}
			_ = r.VerifySignature()
		}
	})
}
