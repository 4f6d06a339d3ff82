package verify

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"evote/bulletin/recordfile"
	"evote/internal/notefile"
)

// ErrLoad is wrapped by every error of the record loaders: the record
// could not be read at all, so nothing was verified.
var ErrLoad = errors.New("verify: cannot load record")

// Limits of the loaders (spec §11.1).
const (
	maxNote    = 1 << 20 // a signed note's limit (§7.5)
	maxEntry   = 256<<20 + 1024
	maxEntries = 1 << 26
)

// A Record is the public record of an election as exported from its board
// (spec §11.1): the log's signed checkpoint and the canonical encoding of
// every entry it covers, in log order.
type Record struct {
	Checkpoint []byte
	Entries    [][]byte
}

// Load reads a record from a directory (files "checkpoint" and
// "entries.bin") or from a tar archive holding the same two files.
func Load(path string) (*Record, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if st.IsDir() {
		return LoadDir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer f.Close()
	return LoadArchive(f)
}

// LoadDir reads a record directory.
func LoadDir(dir string) (*Record, error) {
	note, err := readNote(filepath.Join(dir, recordfile.CheckpointFile))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, recordfile.EntriesFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer f.Close()
	entries, err := ReadEntries(f)
	if err != nil {
		return nil, err
	}
	return &Record{Checkpoint: note, Entries: entries}, nil
}

// readNote reads a record's checkpoint file as every reader of a saved
// note does (internal/notefile): CRLF line ends, one newline too many or
// the last one missing are forgiven, since a record directory is a thing
// people copy, open and save; the signatures are checked as ever. A file
// that is no note even so is passed on as it is, so that the report says
// what is wrong with it, as for a record fetched or read from an archive.
func readNote(path string) ([]byte, error) {
	b, err := readFile(path, maxNote)
	if err != nil {
		return nil, err
	}
	return normalizeNote(b), nil
}

// normalizeNote is b with its line ends repaired (notefile.Normalize), or
// b itself if it does not parse as a note either way.
func normalizeNote(b []byte) []byte {
	if n, err := notefile.Normalize(b); err == nil {
		return n
	}
	return b
}

func readFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s larger than %d bytes", ErrLoad, filepath.Base(path), limit)
	}
	return b, nil
}

// LoadArchive reads a record from an uncompressed tar archive whose first
// file is "checkpoint" and second "entries.bin", with nothing after.
func LoadArchive(r io.Reader) (*Record, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != recordfile.CheckpointFile || hdr.Typeflag != tar.TypeReg || hdr.Size > maxNote {
		return nil, fmt.Errorf("%w: archive must start with a regular file %q", ErrLoad, recordfile.CheckpointFile)
	}
	note, err := io.ReadAll(tr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	note = normalizeNote(note)
	hdr, err = tr.Next()
	if err != nil || hdr.Name != recordfile.EntriesFile || hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("%w: archive's second file must be %q", ErrLoad, recordfile.EntriesFile)
	}
	entries, err := ReadEntries(tr)
	if err != nil {
		return nil, err
	}
	if _, err := tr.Next(); err != io.EOF {
		return nil, fmt.Errorf("%w: content after %q", ErrLoad, recordfile.EntriesFile)
	}
	return &Record{Checkpoint: note, Entries: entries}, nil
}

// ReadEntries reads the entries file: each entry as u32(length) || bytes,
// up to the end of the stream. It checks only the framing; the entries
// themselves are checked by Verify.
func ReadEntries(r io.Reader) ([][]byte, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var out [][]byte
	for {
		var n [4]byte
		if _, err := io.ReadFull(br, n[:]); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%w: entry %d: truncated length", ErrLoad, len(out))
		}
		l := binary.BigEndian.Uint32(n[:])
		if l > maxEntry {
			return nil, fmt.Errorf("%w: entry %d: length %d over the limit", ErrLoad, len(out), l)
		}
		if len(out) >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrLoad, maxEntries)
		}
		data := make([]byte, l)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, fmt.Errorf("%w: entry %d: truncated", ErrLoad, len(out))
		}
		out = append(out, data)
	}
}

// EncodeEntries returns the entries file of rec.
func (rec *Record) EncodeEntries() []byte {
	var b bytes.Buffer
	for _, e := range rec.Entries {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(e))))
		b.Write(e)
	}
	return b.Bytes()
}

// WriteDir writes rec as a record directory.
func (rec *Record) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, recordfile.EntriesFile), rec.EncodeEntries(), 0o644); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, recordfile.CheckpointFile), rec.Checkpoint, 0o644); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}
