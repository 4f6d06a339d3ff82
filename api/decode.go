package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// decode reads a JSON body of at most limit bytes into v: the content type
// must be JSON, unknown fields, wrong types, duplicate documents and
// trailing data are refused. It answers the error itself and returns false.
func decode(c *gin.Context, limit int64, v any) bool {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			fail(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "the body must be application/json")
			return false
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(c, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body exceeds %d bytes", limit))
			return false
		}
		fail(c, http.StatusBadRequest, "bad_json", "the body could not be read")
		return false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		fail(c, http.StatusBadRequest, "bad_json", "the body is not the expected JSON: "+err.Error())
		return false
	}
	if _, err := d.Token(); err != io.EOF {
		fail(c, http.StatusBadRequest, "bad_json", "trailing data after the JSON body")
		return false
	}
	return true
}

// binary decodes a required base64url (no padding) field.
func binary(c *gin.Context, field, s string) ([]byte, bool) {
	if s == "" {
		fail(c, http.StatusBadRequest, "bad_request", field+" is required")
		return nil, false
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		fail(c, http.StatusBadRequest, "bad_base64", field+" is not base64url without padding")
		return nil, false
	}
	return b, true
}
