package voterlist

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"evote/idp/registry"
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
