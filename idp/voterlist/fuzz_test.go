package voterlist

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseCSV: never panics; accepted files give items that pass
// CheckItems; errors wrap ErrInvalid.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("pin,ballot_style,phone\n21505199012345,KG-ABR-01,+996700123456\n"))
	f.Add([]byte("pin,ballot_style,phone\n21505199012345,KG-ABR-01,\n21505199012345,A,\n"))
	f.Add([]byte("\ufeffpin,ballot_style,phone\n\"2150519901234\"5,x,\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := ParseCSV(bytes.NewReader(b), now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		if CheckItems(items) != nil {
			t.Fatal("accepted items that CheckItems refuses")
		}
	})
}
