package httpedge

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// Bearer returns the token of the request's "Authorization: Bearer"
// header (the scheme's name is case-insensitive, RFC 9110 §11.1), or ""
// if there is none.
func Bearer(c *gin.Context) string { return BearerToken(c.GetHeader("Authorization")) }

// BearerToken returns the token of an Authorization header's value with
// the Bearer scheme, or "".
func BearerToken(header string) string {
	const p = "Bearer "
	if len(header) > len(p) && strings.EqualFold(header[:len(p)], p) {
		return strings.TrimSpace(header[len(p):])
	}
	return ""
}

// ParseHash32 accepts exactly 64 lowercase hex digits.
func ParseHash32(s string) ([32]byte, bool) {
	var h [32]byte
	if len(s) != 64 {
		return h, false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return h, false
		}
	}
	hex.Decode(h[:], []byte(s))
	return h, true
}

// ParseUint accepts a canonical decimal below 2⁶³ (no sign, no leading
// zero).
func ParseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 63)
	return v, err == nil
}
