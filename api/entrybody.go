package api

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"evote/bulletin"
	"evote/internal/httpedge"
	"evote/internal/memrelease"
)

// Large trustee entries (spec/10-api.md §10.3). A mix or a set of
// decryption shares may be tens of megabytes, and a stranger can send as
// much; so the body {"entry": "<base64url>"} is read as a stream: first
// the entry's header (the first 96 base64 characters hold its 71 bytes:
// version, log, type, author, payload length, at fixed offsets), which the
// box checks (a trustee of this election, an entry type it takes in the
// current phase) before anything else is read; then exactly the length the
// header announces, decoded straight into one buffer with room for the
// signing prefix, so that the signature is checked without a second copy
// (bulletin.VerifyEncoded) and before the election rules decode the
// payload. Reading stops at the route's limit (http.MaxBytesReader), and
// entries above bigEntry wait for one of bigEntrySlots.
const (
	headerChars   = 96 // base64 characters that hold bulletin.HeaderSize bytes
	bigEntry      = 1 << 20
	bigEntrySlots = 2
	bigEntryQueue = 4
	bigEntryWait  = 30 * time.Second
)

var (
	bigSlots = make(chan struct{}, bigEntrySlots)
	bigQueue = make(chan struct{}, bigEntryQueue)
)

// errEntryBody is the stable code and message of a malformed body, or a
// domain error (the header refused) that respondErr answers.
type errEntryBody struct {
	status     int
	code, msg  string
	wrapDomain error
	retry      time.Duration // Retry-After, if set
}

func (e *errEntryBody) Error() string { return e.msg }

func bodyErr(status int, code, msg string) *errEntryBody {
	return &errEntryBody{status: status, code: code, msg: msg}
}

var errNotBase64 = bodyErr(http.StatusBadRequest, "bad_base64", "entry is not base64url without padding")

// readTrusteeEntry reads a trustee's entry body as described above, with
// check applied to the header. It answers the error itself and returns
// false; on success the entry's bytes are buf[bulletin.SigningRoom:], its
// signature verified, and the caller calls done once it has posted them
// (done frees the slot of a large entry and returns its memory).
func readTrusteeEntry(c *gin.Context, limit int64, check func(bulletin.Header) error) (buf []byte, done func(), ok bool) {
	if !httpedge.JSONContentType(c) {
		return nil, nil, false
	}
	br := bufio.NewReaderSize(http.MaxBytesReader(c.Writer, c.Request.Body, limit), 4096)
	buf, done, err := streamEntry(br, limit, check)
	if err == nil {
		return buf, done, true
	}
	var mbe *http.MaxBytesError
	var be *errEntryBody
	switch {
	case errors.As(err, &mbe):
		httpedge.Fail(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body exceeds %d bytes", limit))
	case errors.As(err, &be) && be.wrapDomain != nil:
		respondErr(c, be.wrapDomain)
	case errors.As(err, &be):
		if be.retry > 0 {
			httpedge.SetRetryAfter(c, be.retry)
		}
		httpedge.Fail(c, be.status, be.code, be.msg)
	default:
		httpedge.Fail(c, http.StatusBadRequest, "bad_json", "the body could not be read")
	}
	return nil, nil, false
}

// streamEntry parses {"entry":"<base64url>"} (whitespace allowed where
// JSON allows it) from br.
func streamEntry(br *bufio.Reader, limit int64, check func(bulletin.Header) error) (_ []byte, done func(), err error) {
	done = func() {}
	buf, err := streamEntryBig(br, limit, check, &done)
	if err != nil {
		done()
		return nil, nil, err
	}
	return buf, done, nil
}

func streamEntryBig(br *bufio.Reader, limit int64, check func(bulletin.Header) error, done *func()) ([]byte, error) {
	if err := expectPrefix(br); err != nil {
		return nil, err
	}
	// The header, or the whole entry if it is shorter.
	head := make([]byte, 0, headerChars)
	for len(head) < headerChars {
		ch, err := br.ReadByte()
		if err != nil {
			return nil, readErr(err)
		}
		if ch == '"' {
			// A short entry: the JSON first, then what it holds.
			if err := expectSuffix(br); err != nil {
				return nil, err
			}
			return shortEntry(head)
		}
		if !b64char(ch) {
			return nil, errNotBase64
		}
		head = append(head, ch)
	}
	hb := make([]byte, base64.RawURLEncoding.DecodedLen(headerChars))
	if _, err := httpedge.B64.Decode(hb, head); err != nil {
		return nil, errNotBase64
	}
	h, err := bulletin.ParseHeader(hb)
	if err != nil {
		return nil, domainErr(err)
	}
	size := h.EncodedSize()
	chars := base64.RawURLEncoding.EncodedLen(size)
	if int64(chars)+int64(len(`{"entry":""}`)) > limit {
		return nil, &http.MaxBytesError{Limit: limit}
	}
	if err := check(h); err != nil {
		return nil, domainErr(err)
	}
	if size > bigEntry {
		release, err := waitBig()
		if err != nil {
			return nil, err
		}
		*done = func() { release(); memrelease.Soon() }
	}
	buf := make([]byte, bulletin.SigningRoom+size)
	out := buf[bulletin.SigningRoom:]
	copy(out, hb)
	// The rest: exactly chars-96 base64url characters, then the quote.
	// (96 characters are 24 whole quanta: the rest starts on a quantum.)
	rest := &b64Reader{r: br, n: chars - headerChars}
	dec := base64.NewDecoder(httpedge.B64, rest)
	if _, err := io.ReadFull(dec, out[len(hb):]); err != nil {
		return nil, rest.explain(err)
	}
	var one [1]byte
	if _, err := io.ReadFull(dec, one[:]); err != io.EOF {
		if err == nil {
			return nil, domainErr(fmt.Errorf("%w: longer than its payload length says", bulletin.ErrMalformed))
		}
		return nil, rest.explain(err)
	}
	if ch, err := br.ReadByte(); err != nil {
		return nil, readErr(err)
	} else if ch != '"' {
		if b64char(ch) {
			return nil, domainErr(fmt.Errorf("%w: longer than its payload length says", bulletin.ErrMalformed))
		}
		return nil, errNotBase64
	}
	if err := expectSuffix(br); err != nil {
		return nil, err
	}
	if err := bulletin.VerifyEncoded(buf); err != nil {
		return nil, domainErr(err)
	}
	return buf, nil
}

// shortEntry decodes an entry shorter than a header: DecodeEntry refuses
// it with the error the box would give.
func shortEntry(text []byte) ([]byte, error) {
	if len(text) == 0 {
		return nil, bodyErr(http.StatusBadRequest, "bad_request", "entry is required")
	}
	raw, err := httpedge.B64.DecodeString(string(text))
	if err != nil {
		return nil, errNotBase64
	}
	_, err = bulletin.DecodeEntry(raw)
	return nil, domainErr(err)
}

func domainErr(err error) error { return &errEntryBody{wrapDomain: err, msg: err.Error()} }

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return bodyErr(http.StatusBadRequest, "bad_json", "the body is not the expected JSON: unexpected end")
	}
	return err
}

func skipSpace(br *bufio.Reader) (byte, error) {
	for {
		ch, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r' {
			return ch, nil
		}
	}
}

var errShape = bodyErr(http.StatusBadRequest, "bad_json", `the body is not the expected JSON: want {"entry": "<base64url>"}`)

// expectPrefix reads `{ "entry" : "` with optional whitespace; `{}`
// answers that the entry is required.
func expectPrefix(br *bufio.Reader) error {
	ch, err := skipSpace(br)
	if err != nil {
		return readErr(err)
	}
	if ch != '{' {
		return errShape
	}
	if ch, err = skipSpace(br); err != nil {
		return readErr(err)
	}
	if ch == '}' {
		if err := expectEnd(br); err != nil {
			return err
		}
		return bodyErr(http.StatusBadRequest, "bad_request", "entry is required")
	}
	for _, want := range []byte(`"entry"`) {
		if ch != want {
			return errShape
		}
		if ch, err = br.ReadByte(); err != nil {
			return readErr(err)
		}
	}
	if ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' {
		if ch, err = skipSpace(br); err != nil {
			return readErr(err)
		}
	}
	if ch != ':' {
		return errShape
	}
	if ch, err = skipSpace(br); err != nil {
		return readErr(err)
	}
	if ch != '"' {
		return errShape
	}
	return nil
}

// expectSuffix reads `}` and the end of the body, with optional whitespace.
func expectSuffix(br *bufio.Reader) error {
	ch, err := skipSpace(br)
	if err != nil {
		return readErr(err)
	}
	if ch != '}' {
		return errShape
	}
	return expectEnd(br)
}

func expectEnd(br *bufio.Reader) error {
	_, err := skipSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	return bodyErr(http.StatusBadRequest, "bad_json", "trailing data after the JSON body")
}

func b64char(ch byte) bool {
	return 'A' <= ch && ch <= 'Z' || 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_'
}

// b64Reader passes n base64url characters from r and fails on anything
// else (the base64 decoder itself would skip newlines).
type b64Reader struct {
	r   *bufio.Reader
	n   int
	bad error
}

func (b *b64Reader) Read(p []byte) (int, error) {
	if b.n == 0 {
		return 0, io.EOF
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	for i, ch := range p[:n] {
		if !b64char(ch) {
			if ch == '"' {
				b.bad = domainErr(fmt.Errorf("%w: truncated: shorter than its payload length says", bulletin.ErrMalformed))
			} else {
				b.bad = errNotBase64
			}
			return i, b.bad
		}
	}
	b.n -= n
	if err == io.EOF && b.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// explain turns a failure to decode the rest into the answer's error.
func (b *b64Reader) explain(err error) error {
	if b.bad != nil {
		return b.bad
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	var cie base64.CorruptInputError
	if errors.As(err, &cie) {
		return errNotBase64
	}
	return readErr(err)
}

var errBusy = &errEntryBody{status: http.StatusServiceUnavailable, code: "unavailable", msg: "too many large entries being received; retry later", retry: bigEntryWait}

// waitBig waits for one of the slots of large entries.
func waitBig() (func(), error) {
	select {
	case bigSlots <- struct{}{}:
		return func() { <-bigSlots }, nil
	default:
	}
	select {
	case bigQueue <- struct{}{}:
	default:
		return nil, errBusy
	}
	defer func() { <-bigQueue }()
	t := time.NewTimer(bigEntryWait)
	defer t.Stop()
	select {
	case bigSlots <- struct{}{}:
		return func() { <-bigSlots }, nil
	case <-t.C:
		return nil, errBusy
	}
}
