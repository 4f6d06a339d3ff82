package api

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"evote/ballotbox"
	"evote/bulletin"
	"evote/internal/httpedge"
)

// TestServerFaultLogged (issue 20, defect 3): a 500 leaves a trace: the
// error, the method, the route and the request id are logged, through
// the handler the API mounts.
func TestServerFaultLogged(t *testing.T) {
	var logged bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	defer slog.SetDefault(prev)
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(httpedge.Middleware(nil))
	r.GET("/board/:log/entries", func(c *gin.Context) { httpedge.ServerError(c, errors.New("disk on fire")) })
	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/board/abc/entries", nil)
	req.Header.Set("X-Request-Id", "req-42")
	r.ServeHTTP(w, req)
	if w.Code != 500 || strings.Contains(w.Body.String(), "disk on fire") {
		t.Fatalf("answer %d %s (the cause must not reach the client)", w.Code, w.Body)
	}
	if w.Header().Get("X-Request-Id") != "req-42" {
		t.Fatalf("request id %q, want the caller's", w.Header().Get("X-Request-Id"))
	}
	if l := logged.String(); !strings.Contains(l, "disk on fire") || !strings.Contains(l, "/board/:log/entries") || !strings.Contains(l, "GET") || !strings.Contains(l, "request_id=req-42") {
		t.Fatalf("log %q", l)
	}
}

// TestWrongLogCode (issue 20, defect 2): an entry of another log is
// answered wrong_log, as spec §10.7 lists, although the box wraps it in
// ErrBadEntry; likewise too_large and bad_signature.
func TestWrongLogCode(t *testing.T) {
	for want, err := range map[string]error{
		"wrong_log":     bulletin.ErrWrongLog,
		"too_large":     bulletin.ErrTooLarge,
		"bad_signature": bulletin.ErrBadSignature,
	} {
		if code := ballotbox.Code(fmt.Errorf("%w: %w", ballotbox.ErrBadEntry, err)); code != want {
			t.Errorf("%v: code %s, want %s", err, code, want)
		}
	}
}

// TestTrusteeLimitAdmitsLargestMix: the trustee route's body limit admits
// the largest mix the board takes (bulletin's mix-output limit, base64url
// in its JSON body). At 64 MiB it refused any mix of more than about
// 220,000 rows of one ciphertext (224 bytes a row with its proof), so a
// million-ballot election could not be mixed.
func TestTrusteeLimitAdmitsLargestMix(t *testing.T) {
	largest := bulletin.HeaderSize + bulletin.TypeMixOutput.MaxPayload() + 64
	need := int64(len(`{"entry":""}`) + base64.RawURLEncoding.EncodedLen(largest))
	if limitTrustee < need {
		t.Fatalf("trustee route limit %d bytes, the largest mix's body %d", limitTrustee, need)
	}
	if rows := (limitTrustee - 12) * 3 / 4 / 224; rows < 1_000_000 {
		t.Fatalf("the route takes mixes of at most %d rows", rows)
	}
}
