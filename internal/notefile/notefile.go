// Package notefile reads a signed note (a checkpoint, spec §7.5) that an
// operator saved to a file, forgiving only what editors and shells do to
// a file's line ends: CRLF line ends, one newline too many at the end, or
// the final newline missing. The note is then parsed strictly
// (bulletin.ParseNote) and every signature is checked by the caller as
// before: the line ends are not signed data (the signatures cover the note
// text, which a note's own newlines delimit), so nothing is weakened.
package notefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"evote/bulletin"
)

// ErrFile is the error of a note file that cannot be read as a note.
var ErrFile = errors.New("notefile: not a signed note")

// Normalize returns the note b with its line ends restored: every CRLF
// made LF (a CR anywhere else is refused), one extra final newline
// dropped, a missing final newline added. It refuses, saying what is
// wrong, a note that still does not parse.
func Normalize(b []byte) ([]byte, error) {
	if bytes.IndexByte(b, '\r') >= 0 {
		lf := bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
		if bytes.IndexByte(lf, '\r') >= 0 {
			return nil, fmt.Errorf("%w: a carriage return not followed by a newline", ErrFile)
		}
		b = lf
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrFile)
	}
	switch {
	case bytes.HasSuffix(b, []byte("\n\n\n")):
		return nil, fmt.Errorf("%w: blank lines after the signature lines (a note ends with its last signature line and one newline)", ErrFile)
	case bytes.HasSuffix(b, []byte("\n\n")):
		// A signed note never ends with a blank line: its last line is a
		// signature line. One newline too many is an editor's or echo's.
		b = b[:len(b)-1]
	case b[len(b)-1] != '\n':
		// $(cat note) and copying from a terminal drop the last newline.
		b = append(bytes.Clone(b), '\n')
	}
	if _, err := bulletin.ParseNote(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFile, err)
	}
	return b, nil
}

// Read reads the note file at path and normalizes it. A file larger than
// a note may be (bulletin.MaxNoteSize, with one extra newline) is refused
// without being read whole.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, bulletin.MaxNoteSize+2))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > bulletin.MaxNoteSize+1 {
		return nil, fmt.Errorf("%s: %w: larger than a note may be (%d bytes)", path, ErrFile, bulletin.MaxNoteSize)
	}
	n, err := Normalize(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
