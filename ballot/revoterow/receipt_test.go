package revoterow

import (
	"strings"
	"testing"
)

// TestReceiptNumber: as typed (case, dashes, spaces), and refusals.
func TestReceiptNumber(t *testing.T) {
	var h [32]byte
	for i := range h {
		h[i] = byte(7*i + 3)
	}
	n := ReceiptNumber(h)
	if len(n) != 52+12 || strings.Count(n, "-") != 12 {
		t.Fatalf("receipt number %q", n)
	}
	for _, typed := range []string{n, strings.ToLower(n), strings.ReplaceAll(n, "-", " "), " " + strings.ReplaceAll(n, "-", "") + " "} {
		if got, err := ParseReceiptNumber(typed); err != nil || got != h {
			t.Errorf("%q: %x, %v", typed, got, err)
		}
	}
	plain := strings.ReplaceAll(n, "-", "")
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", plain[51])
	for name, bad := range map[string]string{
		"too short":           plain[:51],
		"too long":            plain + "A",
		"0 is not base32":     "0" + plain[1:],
		"1 is not base32":     "1" + plain[1:],
		"bits past the 256th": plain[:51] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[last|1]),
		"a tracking code":     "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567",
		"empty":               "",
	} {
		if _, err := ParseReceiptNumber(bad); err == nil {
			t.Errorf("%s: %q accepted", name, bad)
		}
	}
}
