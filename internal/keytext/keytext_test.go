package keytext

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestDecodeEveryEncoding(t *testing.T) {
	for _, size := range []int{32, 33, 64, 3} {
		for seed := range 50 {
			k := make([]byte, size)
			for i := range k {
				k[i] = byte(seed*31 + i*7 + 0xf8) // '+', '/', '-' and '_' appear
			}
			for _, s := range []string{hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)),
				base64.StdEncoding.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k),
				base64.URLEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k), " " + hex.EncodeToString(k) + "\n"} {
				got, err := Decode(s, size)
				if err != nil || !bytes.Equal(got, k) {
					t.Fatalf("size %d %q: %x %v", size, s, got, err)
				}
			}
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	k := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]
	b64 := base64.StdEncoding.EncodeToString(k)
	url := base64.RawURLEncoding.EncodeToString(k)
	mixed := strings.Replace(strings.Replace(b64, "/", "_", 1), "=", "", -1)
	if !strings.Contains(mixed, "+") && !strings.Contains(mixed, "/") {
		t.Fatal("test key has no standard-only character")
	}
	nonCanon := []byte(url)
	nonCanon[len(nonCanon)-1]++ // unused bits set
	for name, c := range map[string]struct {
		s, want string
	}{
		"short":       {"abcd", "got 4 characters"},
		"hex of 31":   {strings.Repeat("ab", 31), "got 62 characters"},
		"bad hex":     {strings.Repeat("zz", 32), "not all hex digits"},
		"mixed":       {mixed, "mixing base64"},
		"non-canon":   {string(nonCanon), "not canonical"},
		"bad padding": {url[:42] + "==", "got 44"},
		"empty":       {"", "got 0 characters"},
	} {
		_, err := Decode(c.s, 32)
		if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "64 hex digits or 44 (unpadded 43)") {
			t.Errorf("%s %q: %v, want %q", name, c.s, err, c.want)
		}
		if c.s != "" && err != nil && strings.Contains(err.Error(), c.s) {
			t.Errorf("%s: the error repeats the text", name)
		}
	}
}
