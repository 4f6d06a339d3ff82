package revote

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// codecs decode and re-encode each payload of the chapter's entry types.
var codecs = map[string]func([]byte) ([]byte, error){
	"revote-tag-key": func(b []byte) ([]byte, error) {
		x, err := DecodeTagKeyEntry(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-credential": func(b []byte) ([]byte, error) {
		x, err := DecodeCredential(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-slot": func(b []byte) ([]byte, error) {
		x, err := DecodeSlot(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-padding": func(b []byte) ([]byte, error) {
		x, err := DecodePadding(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-depths": func(b []byte) ([]byte, error) {
		x, err := DecodeDepths(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-marks": func(b []byte) ([]byte, error) {
		x, err := DecodeMarks(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-blind": func(b []byte) ([]byte, error) {
		x, err := DecodeBlindEntry(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-filter": func(b []byte) ([]byte, error) {
		x, err := DecodeFilter(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
	"revote-roll": func(b []byte) ([]byte, error) {
		x, err := DecodeRoll(b)
		if err != nil {
			return nil, err
		}
		return x.Encode(), nil
	},
}

// TestEntryVectors: every payload of spec/vectors/revote-entries.json
// (one of each entry type of §7.2.3's 0x06 group, from the coercion-mode
// example record) decodes, and re-encodes to the same bytes; a trailing
// byte, a truncation or another format byte is refused (canonical
// encodings only).
func TestEntryVectors(t *testing.T) {
	raw, err := os.ReadFile("../../spec/vectors/revote-entries.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Entries []struct {
			Type    string `json:"type"`
			Payload string `json:"payload"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range f.Entries {
		codec, ok := codecs[v.Type]
		if !ok {
			t.Fatalf("unknown type %s", v.Type)
		}
		seen[v.Type] = true
		b, err := hex.DecodeString(v.Payload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec(b)
		if err != nil {
			t.Fatalf("%s: %v", v.Type, err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("%s: re-encoding differs", v.Type)
		}
		for name, bad := range map[string][]byte{
			"trailing byte": append(bytes.Clone(b), 0),
			"truncated":     b[:len(b)-1],
		} {
			if _, err := codec(bad); err == nil {
				t.Errorf("%s: %s accepted", v.Type, name)
			}
		}
		if v.Type != "revote-credential" && v.Type != "revote-blind" {
			bad := bytes.Clone(b)
			bad[0] = 2
			if _, err := codec(bad); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: format 2: %v", v.Type, err)
			}
		}
	}
	for typ := range codecs {
		if !seen[typ] {
			t.Errorf("no vector of %s", typ)
		}
	}
}
