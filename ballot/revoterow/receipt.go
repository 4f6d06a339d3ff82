package revoterow

import (
	"encoding/base32"
	"fmt"
	"strings"
)

// receiptEncoding is how a voter reads a receipt number (spec §15.9): the
// row's hash in base32 (RFC 4648, no padding, 52 characters), which has
// no case to get wrong and no 0/O or 1/l to confuse.
var receiptEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ReceiptNumber is the receipt number of a row's hash (SHA-256 of its
// canonical encoding) as the voting page, the portal and the command line
// show it: base32 in groups of four joined by dashes.
func ReceiptNumber(rowHash [32]byte) string {
	s := receiptEncoding.EncodeToString(rowHash[:])
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// ParseReceiptNumber reads a receipt number as typed (any case; dashes
// and spaces ignored) and returns the row's hash. The last character's
// four low bits lie past the hash's 256 and must be zero, so that one
// row has one number.
func ParseReceiptNumber(s string) ([32]byte, error) {
	s = strings.ToUpper(strings.NewReplacer("-", "", " ", "", "\t", "").Replace(strings.TrimSpace(s)))
	var h [32]byte
	if len(s) != 52 {
		return h, fmt.Errorf("revoterow: a receipt number has 52 letters and digits, not %d", len(s))
	}
	b, err := receiptEncoding.DecodeString(s)
	if err != nil || len(b) != 32 || receiptEncoding.EncodeToString(b) != s {
		return h, fmt.Errorf("revoterow: not a receipt number (letters A–Z and digits 2–7)")
	}
	return [32]byte(b), nil
}
