package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestParsePIN(t *testing.T) {
	good := []string{"21505199012345", "10102200000001", "22902200000042"} // 29 Feb 2000 is a date
	for _, s := range good {
		p, err := ParsePIN(s, now)
		if err != nil {
			t.Errorf("ParsePIN(%q) = %v", s, err)
			continue
		}
		if p.Digits() != s {
			t.Errorf("Digits = %q, want %q", p.Digits(), s)
		}
	}
	if got := MustParsePIN("21505199012345").BirthDate(); !got.Equal(time.Date(1990, 5, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("BirthDate = %v", got)
	}
	bad := map[string]string{
		"short":            "2150519901234",
		"long":             "215051990123456",
		"letter":           "2150519901234a",
		"unicode digit":    "215051990123٤",
		"sex 3":            "31505199012345",
		"sex 0":            "01505199012345",
		"day 0":            "20005199012345",
		"day 32":           "23205199012345",
		"month 13":         "21513199012345",
		"29 feb 2001":      "22902200112345",
		"year 1899":        "21505189912345",
		"future":           "21505209912345",
		"sequence 00000":   "21505199000000",
		"space":            "2150519901234 ",
		"empty":            "",
		"sign":             "+1505199012345",
		"tomorrow's birth": fmt.Sprintf("1%02d%02d%04d00001", now.AddDate(0, 0, 1).Day(), int(now.AddDate(0, 0, 1).Month()), now.Year()),
	}
	for name, s := range bad {
		if _, err := ParsePIN(s, now); !errors.Is(err, ErrPINFormat) {
			t.Errorf("%s: ParsePIN(%q) = %v, want ErrPINFormat", name, s, err)
		}
	}
}

func TestPINRedacted(t *testing.T) {
	p := MustParsePIN("21505199012345")
	for _, s := range []string{p.String(), fmt.Sprintf("%v", p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprintf("%v", Query{PIN: p})} {
		if strings.Contains(s, "2150519901") {
			t.Errorf("formatted PIN leaks digits: %q", s)
		}
	}
}

func TestNormalizeDocument(t *testing.T) {
	if got, err := NormalizeDocument(" id 1234567 "); err != nil || got != "ID1234567" {
		t.Errorf("NormalizeDocument = %q, %v", got, err)
	}
	for _, s := range []string{"", "ID123456", "ID12345678", "1D1234567", "IDX234567", "ИД1234567"} {
		if _, err := NormalizeDocument(s); !errors.Is(err, ErrDocumentFormat) {
			t.Errorf("NormalizeDocument(%q) = %v", s, err)
		}
	}
}

func TestAgeOn(t *testing.T) {
	b := time.Date(2008, 3, 10, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		day  time.Time
		want int
	}{
		{time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), 17},
		{time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC), 18},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 18},
	} {
		if got := AgeOn(b, c.day); got != c.want {
			t.Errorf("AgeOn(%v) = %d, want %d", c.day, got, c.want)
		}
	}
}

func newSim(t *testing.T) *Simulated {
	t.Helper()
	s, err := NewSimulated(SimulatedConfig{Seed: "test", Constituencies: []string{"KG-ABR-01", "KG-ABR-02"}, PerConstituency: 20, ElectionDay: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSimulatedDeterministicAndEligibility(t *testing.T) {
	a, b := newSim(t), newSim(t)
	if len(a.People()) != 40 {
		t.Fatalf("people = %d", len(a.People()))
	}
	reasons := map[error]int{}
	for i, p := range a.People() {
		q := b.People()[i]
		if p.PIN.Digits() != q.PIN.Digits() || p.DocumentNumber != q.DocumentNumber || p.Phone != q.Phone {
			t.Fatalf("person %d differs between two generations", i)
		}
		err := CheckEligibility(&p.Citizen, now)
		if p.Reason == nil {
			if err != nil {
				t.Errorf("person %d: eligible person rejected: %v", i, err)
			}
		} else if !errors.Is(err, ErrIneligible) || !errors.Is(err, p.Reason) {
			t.Errorf("person %d: CheckEligibility = %v, want %v", i, err, p.Reason)
		}
		reasons[p.Reason]++
		if _, err := NormalizeDocument(p.DocumentNumber); err != nil {
			t.Errorf("person %d: generated document %v", i, err)
		}
		if _, err := ParsePIN(p.PIN.Digits(), now); err != nil {
			t.Errorf("person %d: generated PIN %v", i, err)
		}
		if !p.PIN.BirthDate().Equal(p.BirthDate) {
			t.Errorf("person %d: PIN birth date differs from record", i)
		}
	}
	for _, r := range []error{nil, ErrNotCitizen, ErrUnderAge, ErrRightsSuspended, ErrDeceased} {
		if reasons[r] == 0 {
			t.Errorf("no synthetic person with reason %v", r)
		}
	}
}

func TestSimulatedLookup(t *testing.T) {
	s := newSim(t)
	p := s.People()[0]
	ctx := context.Background()
	q := Query{PIN: p.PIN, DocumentNumber: p.DocumentNumber, BirthDate: p.BirthDate}
	c, err := s.Lookup(ctx, q)
	if err != nil || c.Phone != p.Phone || c.Constituency != p.Constituency {
		t.Fatalf("Lookup = %+v, %v", c, err)
	}
	wrongDoc := q
	wrongDoc.DocumentNumber = "ZZ0000000"
	if _, err := s.Lookup(ctx, wrongDoc); !errors.Is(err, ErrDocumentMismatch) || !IsMismatch(err) {
		t.Errorf("wrong document: %v", err)
	}
	wrongDOB := q
	wrongDOB.BirthDate = q.BirthDate.AddDate(0, 0, 1)
	if _, err := s.Lookup(ctx, wrongDOB); !errors.Is(err, ErrBirthDateMismatch) {
		t.Errorf("wrong birth date: %v", err)
	}
	unknown := Query{PIN: MustParsePIN("10101190099999"), DocumentNumber: p.DocumentNumber, BirthDate: p.BirthDate}
	if _, err := s.Lookup(ctx, unknown); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	s.SetDown(true)
	if _, err := s.Lookup(ctx, q); !errors.Is(err, ErrUnavailable) || !IsUnavailable(err) {
		t.Errorf("down: %v", err)
	}
	s.SetDown(false)
	s.SetDelay(time.Second)
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Lookup(tctx, q); !errors.Is(err, ErrTimeout) || !IsUnavailable(err) {
		t.Errorf("slow: %v", err)
	}
}
