package httpedge

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func init() { gin.SetMode(gin.TestMode) }

// serve runs h behind Middleware and Recovery on POST /x/:id and returns
// the answer.
func serve(t *testing.T, log *slog.Logger, h gin.HandlerFunc, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	r := gin.New()
	r.Use(Middleware(log), Recovery())
	r.Handle(req.Method, "/x/:id", h)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) Detail {
	t.Helper()
	var b Body
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("answer %d %q is not an error body: %v", w.Code, w.Body, err)
	}
	return b.Error
}

// TestDecode: one vocabulary for a malformed body, whatever the service.
func TestDecode(t *testing.T) {
	type req struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	for _, c := range []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"ok", "application/json", `{"name":"a","tags":["b"]}`, 200, ""},
		{"no content type", "", `{"name":"a"}`, 200, ""},
		{"charset", "application/json; charset=utf-8", `{"name":"a"}`, 200, ""},
		{"text", "text/plain", `{"name":"a"}`, 415, CodeUnsupportedMediaType},
		{"unknown field", "", `{"name":"a","x":1}`, 400, CodeBadJSON},
		{"wrong type", "", `{"name":1}`, 400, CodeBadJSON},
		{"trailing", "", `{"name":"a"} {}`, 400, CodeBadJSON},
		{"truncated", "", `{"name":"a"`, 400, CodeBadJSON},
		{"empty", "", ``, 400, CodeBadJSON},
		{"too large", "", `{"name":"` + strings.Repeat("a", 100) + `"}`, 413, CodeTooLarge},
		{"invalid utf-8", "", "{\"name\":\"\xff\"}", 400, CodeBadRequest},
		{"nul in a list", "", `{"tags":["a","\u0000"]}`, 400, CodeBadRequest},
	} {
		var got req
		h := func(c *gin.Context) {
			if Decode(c, 64, &got) {
				c.Status(200)
			}
		}
		rq := httptest.NewRequest("POST", "/x/1", strings.NewReader(c.body))
		if c.ctype != "" {
			rq.Header.Set("Content-Type", c.ctype)
		}
		w := serve(t, nil, h, rq)
		if w.Code != c.status {
			t.Errorf("%s: status %d %s, want %d", c.name, w.Code, w.Body, c.status)
			continue
		}
		if c.code == "" {
			continue
		}
		if e := errorOf(t, w); e.Code != c.code {
			t.Errorf("%s: code %s, want %s", c.name, e.Code, c.code)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: an error answer may be cached", c.name)
		}
	}
}

// TestBadInputDetail: a refused string is noted on the request, its value
// left out for a secret field.
func TestBadInputDetail(t *testing.T) {
	for body, want := range map[string]string{
		`{"user":"a\u0000b"}`:     "user holds a NUL byte or invalid UTF-8: a\x00b",
		`{"password":"a\u0000b"}`: "password holds a NUL byte or invalid UTF-8",
	} {
		var detail string
		h := func(c *gin.Context) {
			var v struct {
				User     string `json:"user"`
				Password string `json:"password"`
			}
			if !Decode(c, 1024, &v) {
				detail, _ = BadInput(c)
			}
		}
		serve(t, nil, h, httptest.NewRequest("POST", "/x/1", strings.NewReader(body)))
		if detail != want {
			t.Errorf("%s: detail %q, want %q", body, detail, want)
		}
	}
}

// TestServerError: a fault is answered 500 internal without its cause and
// logged with the method, route, path and request id; so is a panic.
func TestServerError(t *testing.T) {
	for name, h := range map[string]gin.HandlerFunc{
		"error": func(c *gin.Context) { ServerError(c, errors.New("disk on fire")) },
		"panic": func(c *gin.Context) { panic("disk on fire") },
	} {
		var logged bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logged, nil))
		rq := httptest.NewRequest("POST", "/x/7", nil)
		rq.Header.Set(RequestIDHeader, "edge-1")
		w := serve(t, log, h, rq)
		if e := errorOf(t, w); w.Code != 500 || e.Code != CodeInternal || strings.Contains(w.Body.String(), "fire") {
			t.Errorf("%s: answer %d %s", name, w.Code, w.Body)
		}
		l := logged.String()
		for _, want := range []string{"disk on fire", "method=POST", "route=/x/:id", "path=/x/7", "request_id=edge-1"} {
			if !strings.Contains(l, want) {
				t.Errorf("%s: log %q lacks %q", name, l, want)
			}
		}
	}
}

// TestRequestID: a well-formed X-Request-Id is kept, any other replaced
// by a fresh random one; either way it is sent back.
func TestRequestID(t *testing.T) {
	seen := map[string]bool{}
	for in, keep := range map[string]bool{"abc-1.2_3": true, "": false, "a b": false, strings.Repeat("a", 65): false, "x\"y": false} {
		var got string
		rq := httptest.NewRequest("POST", "/x/1", nil)
		rq.Header.Set(RequestIDHeader, in)
		w := serve(t, nil, func(c *gin.Context) { got = RequestID(c) }, rq)
		if w.Header().Get(RequestIDHeader) != got {
			t.Errorf("%q: header %q, request %q", in, w.Header().Get(RequestIDHeader), got)
		}
		if keep != (got == in) || !keep && (len(got) != 32 || seen[got]) {
			t.Errorf("%q: request id %q", in, got)
		}
		seen[got] = true
	}
}

// TestFailDetail: Retry-After goes both in the header and the body.
func TestFailDetail(t *testing.T) {
	left := 2
	w := serve(t, nil, func(c *gin.Context) {
		FailDetail(c, 429, Detail{Code: "try_later", Message: "wait", RetryAfterSeconds: RetrySeconds(1500e6), AttemptsLeft: &left})
	}, httptest.NewRequest("POST", "/x/1", nil))
	e := errorOf(t, w)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" || e.RetryAfterSeconds != 2 || e.AttemptsLeft == nil || *e.AttemptsLeft != 2 {
		t.Fatalf("answer %d %v %s", w.Code, w.Header(), w.Body)
	}
}

func TestParsers(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer abc": "abc", "bearer abc": "abc", "BEARER  abc ": "abc", "Bearer ": "", "Basic abc": "", "": "", "Bearerabc": "",
	} {
		if got := BearerToken(in); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", in, got, want)
		}
	}
	for in, ok := range map[string]bool{"0": true, "17": true, "017": false, "-1": false, "+1": false, "": false, "9223372036854775808": false, "9223372036854775807": true} {
		if _, got := ParseUint(in); got != ok {
			t.Errorf("ParseUint(%q) ok %v", in, got)
		}
	}
	h := strings.Repeat("ab", 32)
	for in, ok := range map[string]bool{h: true, strings.ToUpper(h): false, h[2:]: false, h + "00": false, strings.Repeat("g", 64): false} {
		if _, got := ParseHash32(in); got != ok {
			t.Errorf("ParseHash32(%q) ok %v", in, got)
		}
	}
}
