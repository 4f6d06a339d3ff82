package httpedge

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// B64 is the services' binary encoding: base64url without padding,
// strict (no padding, no line breaks, canonical last character).
var B64 = base64.RawURLEncoding.Strict()

// Decode reads a JSON body of at most limit bytes into v: the content
// type, if given, must be JSON; the body must be valid UTF-8; unknown
// fields, wrong types, duplicate documents and trailing data are refused,
// and so is a string holding a NUL byte or invalid UTF-8 (Hygiene). It
// answers the error itself and returns false.
func Decode(c *gin.Context, limit int64, v any) bool {
	body, ok := ReadBody(c, limit)
	return ok && DecodeJSON(c, body, v)
}

// ReadBody reads a body of at most limit bytes whose content type, if
// given, is JSON. It answers the error itself (413 too_large, 415
// unsupported_media_type, 400 bad_json) and returns false.
func ReadBody(c *gin.Context, limit int64) ([]byte, bool) {
	if !JSONContentType(c) {
		return nil, false
	}
	// Sized from Content-Length (bounded by the limit), so a ballot's few
	// kilobytes are read without regrowing the buffer.
	size := int64(512)
	if n := c.Request.ContentLength; n > 0 {
		size = min(n, limit) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := buf.ReadFrom(http.MaxBytesReader(c.Writer, c.Request.Body, limit)); err != nil {
		FailRead(c, limit, err)
		return nil, false
	}
	return buf.Bytes(), true
}

// FailRead answers an error from reading a body under
// http.MaxBytesReader: 413 too_large past the limit, else 400 bad_json.
func FailRead(c *gin.Context, limit int64, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		Fail(c, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body exceeds %d bytes", limit))
		return
	}
	Fail(c, http.StatusBadRequest, CodeBadJSON, "the body could not be read")
}

// JSONContentType checks that the content type, if given, is JSON; it
// answers 415 unsupported_media_type itself and returns false.
func JSONContentType(c *gin.Context) bool {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			Fail(c, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "the body must be application/json")
			return false
		}
	}
	return true
}

// DecodeJSON decodes body into v as Decode does.
func DecodeJSON(c *gin.Context, body []byte, v any) bool {
	if !utf8.Valid(body) {
		json.Unmarshal(body, v) // best effort, for the operations log
		RefuseText(c, "the body is not valid UTF-8", "the body is not valid UTF-8")
		return false
	}
	if err := StrictUnmarshal(body, v); err != nil {
		Fail(c, http.StatusBadRequest, CodeBadJSON, "the body is not the expected JSON: "+err.Error())
		return false
	}
	return CheckStrings(c, v)
}

// ErrTrailingData is StrictUnmarshal's error for data after the value.
var ErrTrailingData = errors.New("trailing data after the JSON body")

// StrictUnmarshal decodes exactly one JSON value from b into v, refusing
// unknown fields and trailing data.
func StrictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return ErrTrailingData
	}
	return nil
}

// Binary decodes a required base64url (no padding) field named field:
// 400 bad_request if it is empty, 400 bad_base64 if it does not decode.
func Binary(c *gin.Context, field, s string) ([]byte, bool) {
	if s == "" {
		BadRequest(c, "%s is required", field)
		return nil, false
	}
	b, err := B64.DecodeString(s)
	if err != nil {
		Fail(c, http.StatusBadRequest, CodeBadBase64, field+" is not base64url without padding")
		return nil, false
	}
	return b, true
}
