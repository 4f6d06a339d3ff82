package registry

import (
	"testing"
	"time"
)

// FuzzParseAnswer feeds arbitrary register answers to the strict decoder:
// it must never panic, and whatever it accepts is about the queried person.
func FuzzParseAnswer(f *testing.F) {
	q := Query{PIN: MustParsePIN("21505199012345"), DocumentNumber: "ID1234567", BirthDate: time.Date(1990, 5, 15, 0, 0, 0, 0, time.UTC)}
	f.Add([]byte(`{"request_id":"r1","result":"match","person":{"pin":"21505199012345","birth_date":"1990-05-15","citizenship":"KG","constituency":"KG-ABR-01","phone":"+996700123456","rights_suspended":false,"deceased":false}}`))
	f.Add([]byte(`{"request_id":"r1","result":"no_person"}`))
	f.Add([]byte(`{"request_id":"r1","result":"match","person":{"pin":"21505199012346"}}`))
	f.Add([]byte(`{"request_id":"r1","result":"document_mismatch","person":null} {}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := parseAnswer(raw, "r1", q)
		if err == nil && (c.PIN.Digits() != q.PIN.Digits() || !c.BirthDate.Equal(q.BirthDate)) {
			t.Fatal("accepted an answer about another person")
		}
	})
}

// FuzzParsePIN: never panics; an accepted PIN round-trips and is valid.
func FuzzParsePIN(f *testing.F) {
	for _, s := range []string{"21505199012345", "10102200000001", "3", "", "2990219901234x"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePIN(s, now)
		if err == nil && (p.Digits() != s || p.BirthDate().After(now) || p.IsZero()) {
			t.Fatalf("accepted %q badly", s)
		}
	})
}
