package voterlist

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"evote/idp/registry"
	"evote/record"
)

// MaxCSVBytes bounds an imported voter-list file.
const MaxCSVBytes = 256 << 20

// ParseCSV reads a voter list exported by an election official (§8.5.2):
// UTF-8, comma-separated, a header line exactly "pin,ballot_style,phone",
// then one voter a line; phone may be empty (the register's number is used).
// It returns OpAdd items. Errors give the line number, never the PIN.
func ParseCSV(r io.Reader, now time.Time) ([]Item, error) {
	lr := &io.LimitedReader{R: r, N: MaxCSVBytes + 1}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = 3
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: csv header: %w", ErrInvalid, err)
	}
	if strings.TrimPrefix(head[0], "\ufeff") != "pin" || head[1] != "ballot_style" || head[2] != "phone" {
		return nil, fmt.Errorf("%w: csv header must be pin,ballot_style,phone", ErrInvalid)
	}
	var items []Item
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: csv line %d: %w", ErrInvalid, line, scrub(err))
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: csv file larger than %d bytes", ErrInvalid, MaxCSVBytes)
		}
		pin, err := registry.ParsePIN(strings.TrimSpace(rec[0]), now)
		if err != nil {
			return nil, fmt.Errorf("%w: csv line %d: malformed PIN", ErrInvalid, line)
		}
		items = append(items, Item{Op: OpAdd, PIN: pin, BallotStyle: strings.TrimSpace(rec[1]), Phone: strings.TrimSpace(rec[2])})
		if len(items) > MaxItems {
			return nil, fmt.Errorf("%w: more than %d voters", ErrInvalid, MaxItems)
		}
	}
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: csv file larger than %d bytes", ErrInvalid, MaxCSVBytes)
	}
	if err := CheckItems(items); err != nil {
		return nil, fmt.Errorf("%w (item i is csv line i+2)", err)
	}
	return items, nil
}

// scrub keeps a csv.ParseError's position and kind but not the offending
// text, which may be a PIN.
func scrub(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("column %d: %w", pe.Column, pe.Err)
	}
	return errors.New("unreadable line")
}

// MaxReported bounds the problems a CSVReport lists one by one.
const MaxReported = 1000

// LineProblem is a line of a voter-list file that an import would refuse,
// and why; it never repeats the line's PIN.
type LineProblem struct {
	Line int `json:"line"`
	// Code names the problem for translation: unreadable, pin,
	// style_malformed, style_unknown, phone or duplicate (of line Other).
	Code    string `json:"code"`
	Other   int    `json:"other,omitempty"`
	Problem string `json:"problem"`
}

// CSVReport is what an official sees of a voter-list file before it is
// signed and submitted: every line that would be refused, and the valid
// lines counted by ballot style.
type CSVReport struct {
	Lines    int               `json:"lines"` // voter lines read (not the header)
	Valid    int               `json:"valid"`
	Problems []LineProblem     `json:"problems"` // the first MaxReported
	Omitted  int               `json:"omitted"`  // problems beyond them
	Counts   map[string]uint32 `json:"counts"`   // valid lines by ballot style
}

// CheckCSV reads a whole voter-list file in ParseCSV's format and reports
// each line ParseCSV or the election would refuse — unreadable, malformed
// PIN, a ballot style the election does not have (styles reports those it
// has), malformed phone number, a voter already on an earlier line —
// rather than stopping at the first. It fails only on a wrong header or a
// file over MaxCSVBytes. A file with no problem is one ParseCSV accepts.
func CheckCSV(r io.Reader, now time.Time, styles func(string) bool) (*CSVReport, error) {
	lr := &io.LimitedReader{R: r, N: MaxCSVBytes + 1}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = 3
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: csv header: %w", ErrInvalid, scrub(err))
	}
	if strings.TrimPrefix(head[0], "\ufeff") != "pin" || head[1] != "ballot_style" || head[2] != "phone" {
		return nil, fmt.Errorf("%w: csv header must be pin,ballot_style,phone", ErrInvalid)
	}
	rep := &CSVReport{Problems: []LineProblem{}, Counts: map[string]uint32{}}
	bad := func(line int, code string, other int, format string, args ...any) {
		if len(rep.Problems) < MaxReported {
			rep.Problems = append(rep.Problems, LineProblem{Line: line, Code: code, Other: other, Problem: fmt.Sprintf(format, args...)})
		} else {
			rep.Omitted++
		}
	}
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if lr.N <= 0 {
			return nil, fmt.Errorf("%w: csv file larger than %d bytes", ErrInvalid, MaxCSVBytes)
		}
		rep.Lines++
		if rep.Lines > MaxItems {
			return nil, fmt.Errorf("%w: more than %d voters", ErrInvalid, MaxItems)
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			bad(line, "unreadable", 0, "unreadable line (%v)", scrub(err))
			continue
		}
		line, _ := cr.FieldPos(0)
		pin, err := registry.ParsePIN(strings.TrimSpace(rec[0]), now)
		style, phone := strings.TrimSpace(rec[1]), strings.TrimSpace(rec[2])
		switch {
		case err != nil:
			bad(line, "pin", 0, "malformed PIN")
		case !record.ValidID(style):
			bad(line, "style_malformed", 0, "malformed ballot style")
		case !styles(style):
			bad(line, "style_unknown", 0, "ballot style %q is not one of the election's", style)
		case phone != "" && !ValidPhone(phone):
			bad(line, "phone", 0, "malformed phone number (want + and 8 to 15 digits)")
		case seen[pin.Digits()] != 0:
			bad(line, "duplicate", seen[pin.Digits()], "the voter of line %d again", seen[pin.Digits()])
		default:
			seen[pin.Digits()] = line
			rep.Valid++
			rep.Counts[style]++
		}
	}
	return rep, nil
}
