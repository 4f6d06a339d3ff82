package httpedge

import (
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Input hygiene (spec/10-api.md §10.7). Text that reaches a store must be
// valid UTF-8 without NUL bytes: PostgreSQL's text holds neither, and a
// name that differs from another only by an invalid byte deceives whoever
// reads a log. So every JSON string is checked after decoding and refused
// 400 bad_request; the refusal's detail is noted on the request
// (BadInput) for a service that writes such attempts to a log.

// CleanText reports whether s is valid UTF-8 without NUL bytes.
func CleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// RefuseText answers 400 bad_request for unclean input and notes why on
// the request: detail, for a log, may name the value; msg, for the
// caller, does not.
func RefuseText(c *gin.Context, msg, detail string) {
	c.Set(badInputKey, detail)
	BadRequest(c, "%s", msg)
}

// BadInput returns why the request's input was refused as unclean
// (RefuseText), and whether it was.
func BadInput(c *gin.Context) (string, bool) {
	v, ok := c.Get(badInputKey)
	s, _ := v.(string)
	return s, ok
}

// secretFields are JSON fields whose values never go to a log.
var secretFields = map[string]bool{"password": true, "totp": true, "device": true}

// CheckStrings refuses (RefuseText) a decoded body v holding a string
// with a NUL byte or invalid UTF-8; the detail names the field and, unless
// it is a secret, its value.
func CheckStrings(c *gin.Context, v any) bool {
	name, val, bad := uncleanString(reflect.ValueOf(v), "body")
	if !bad {
		return true
	}
	detail := name + " holds a NUL byte or invalid UTF-8"
	if !secretFields[name] {
		detail += ": " + val
	}
	RefuseText(c, name+" holds a NUL byte or invalid UTF-8", detail)
	return false
}

// uncleanString returns the JSON name and value of the first string in v
// (structs, pointers, slices, maps) holding a NUL byte or invalid UTF-8.
func uncleanString(v reflect.Value, name string) (string, string, bool) {
	switch v.Kind() {
	case reflect.String:
		if !CleanText(v.String()) {
			return name, v.String(), true
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return uncleanString(v.Elem(), name)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if n == "" {
				n = f.Name
			}
			if fn, fv, bad := uncleanString(v.Field(i), n); bad {
				return fn, fv, true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if fn, fv, bad := uncleanString(v.Index(i), name); bad {
				return fn, fv, true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if fn, fv, bad := uncleanString(it.Key(), name); bad {
				return fn, fv, true
			}
			if fn, fv, bad := uncleanString(it.Value(), name); bad {
				return fn, fv, true
			}
		}
	}
	return "", "", false
}
