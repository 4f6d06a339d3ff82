package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/gin-gonic/gin"
)

// APICSP is the Content-Security-Policy of every answer outside the voting
// page (spec/10-api.md §10.9): a JSON answer is no document, so it may load
// nothing, run nothing and be framed by nobody, even if a browser were
// tricked into rendering it.
const APICSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// apiHeaders sets the security headers of the API's answers, the page's
// own minus what only documents need. The voting page's handler (Web)
// sets its own, stricter for a document, over these.
func apiHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", APICSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if c.Request.TLS != nil {
		// When evoted terminates TLS itself; behind a proxy, the proxy
		// sends it (spec/14-web.md §14.4).
		h.Set("Strict-Transport-Security", "max-age=63072000")
	}
	c.Next()
}

// minCompress is the smallest JSON body worth compressing: below it the
// encoding's framing and the CPU cost outweigh the bytes saved (an error,
// a checkpoint note).
const minCompress = 1024

// compressJSON compresses the JSON answers under /api/v1 when the client
// accepts it: brotli (quality 5: fast enough to run per request) if
// Accept-Encoding lists br, else gzip (level 6). Bodies under minCompress
// bytes, answers that are not application/json (the board's event stream)
// and HEAD requests go as they are. Every JSON answer says Vary:
// Accept-Encoding, and a compressed answer's ETag is made weak (the bytes
// differ from the identity encoding's; If-None-Match still matches it).
func compressJSON(c *gin.Context) {
	if !strings.HasPrefix(c.Request.URL.Path, "/api/") || c.Request.Method == http.MethodHead {
		c.Next()
		return
	}
	enc := ""
	switch ae := c.GetHeader("Accept-Encoding"); {
	case acceptsEncoding(ae, "br"):
		enc = "br"
	case acceptsEncoding(ae, "gzip"):
		enc = "gzip"
	}
	w := &compressWriter{ResponseWriter: c.Writer, enc: enc}
	c.Writer = w
	defer w.finish()
	c.Next()
}

// acceptsEncoding reports whether an Accept-Encoding header lists enc with
// a non-zero quality.
func acceptsEncoding(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// compressWriter holds the first minCompress bytes of a body, then
// decides: compress (a JSON answer, the client accepts an encoding) or
// pass through.
type compressWriter struct {
	gin.ResponseWriter
	enc     string
	buf     bytes.Buffer
	decided bool
	z       io.WriteCloser // nil: pass through
}

func (w *compressWriter) Write(b []byte) (int, error) {
	if w.decided {
		if w.z != nil {
			return w.z.Write(b)
		}
		return w.ResponseWriter.Write(b)
	}
	w.buf.Write(b)
	if w.buf.Len() >= minCompress {
		if err := w.decide(true); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (w *compressWriter) WriteString(s string) (int, error) { return w.Write([]byte(s)) }

// decide starts the body: compressed if big is set and the answer is JSON
// with no encoding yet, else as is; the bytes held so far follow.
func (w *compressWriter) decide(big bool) error {
	w.decided = true
	h := w.ResponseWriter.Header()
	if strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		h.Add("Vary", "Accept-Encoding")
		if big && w.enc != "" && h.Get("Content-Encoding") == "" {
			h.Set("Content-Encoding", w.enc)
			h.Del("Content-Length")
			if et := h.Get("ETag"); strings.HasPrefix(et, `"`) {
				h.Set("ETag", "W/"+et)
			}
			if w.enc == "br" {
				w.z = brotli.NewWriterLevel(w.ResponseWriter, 5)
			} else {
				w.z, _ = gzip.NewWriterLevel(w.ResponseWriter, 6)
			}
		}
	}
	held := w.buf.Bytes()
	w.buf = bytes.Buffer{}
	if len(held) == 0 {
		return nil
	}
	var err error
	if w.z != nil {
		_, err = w.z.Write(held)
	} else {
		_, err = w.ResponseWriter.Write(held)
	}
	return err
}

// Flush sends what is held (a stream's first events go at once).
func (w *compressWriter) Flush() {
	if !w.decided {
		w.decide(false)
	}
	if f, ok := w.z.(interface{ Flush() error }); ok {
		f.Flush()
	}
	w.ResponseWriter.Flush()
}

// finish ends the body after the handler: a small body goes as it is.
func (w *compressWriter) finish() {
	if !w.decided {
		if w.buf.Len() == 0 {
			return
		}
		w.decide(false)
	}
	if w.z != nil {
		w.z.Close()
	}
}

// Hijack is not offered through a compressing writer.
func (w *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, http.ErrNotSupported
}

// Written reports whether the handler has begun a body (held or sent).
func (w *compressWriter) Written() bool {
	return w.decided || w.buf.Len() > 0 || w.ResponseWriter.Written()
}
