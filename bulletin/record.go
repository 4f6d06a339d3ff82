package bulletin

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Record file names (§7.8). A record is either a directory holding both
// files or an uncompressed tar archive holding them in this order.
const (
	RecordCheckpointFile = "checkpoint"
	RecordEntriesFile    = "entries.bin"
)

// ErrRecord is returned when an exported record does not verify.
var ErrRecord = errors.New("bulletin: record does not verify")

// verifyChunk is how many entries are signature-checked as one batch.
const verifyChunk = 256

// A RecordEntry is one verified entry of a record, as ReadRecordDir and
// ReadRecordArchive hand it to their callback (an importer stores it).
type RecordEntry struct {
	Index uint64
	Hash  [32]byte // SHA-256 of Data
	Type  Type
	Data  []byte // canonical encoding
}

// ReadRecordDir verifies a record directory as VerifyRecordDir does and
// hands every verified entry, in order, to each; it also returns the
// checkpoint's note. A record that fails verification may have handed some
// entries to each already: importers verify completely first.
func ReadRecordDir(dir string, v LogVerifier, each func(RecordEntry) error) (Checkpoint, []byte, error) {
	return verifyDir(dir, v, each)
}

// ReadRecordArchive does the same for an archive read from r.
func ReadRecordArchive(r io.Reader, v LogVerifier, each func(RecordEntry) error) (Checkpoint, []byte, error) {
	return verifyArchive(r, v, each)
}

// verifyRecord checks a record: the checkpoint's log signatures, then every
// entry (strict decoding, this log's id, no duplicates, signatures in
// batches), then that the entries are exactly the checkpoint's tree (count
// and root). each, if set, sees every verified record in order.
func verifyRecord(note []byte, entries io.Reader, v LogVerifier, each func(RecordEntry) error) (Checkpoint, error) {
	cp, _, err := VerifyCheckpoint(note, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %w", ErrRecord, err)
	}
	id := LogIDFor(v.Origin)
	br := bufio.NewReaderSize(entries, 1<<20)
	tree := NewTree()
	seen := make(map[[32]byte]struct{})
	var batch []*Entry
	var pending []RecordEntry
	flush := func(first uint64) error {
		if err := VerifyEntries(batch); err != nil {
			return fmt.Errorf("%w: entries from %d: %w", ErrRecord, first, err)
		}
		batch = batch[:0]
		if each != nil {
			for _, r := range pending {
				if err := each(r); err != nil {
					return err
				}
			}
		}
		pending = pending[:0]
		return nil
	}
	var index uint64
	for {
		var n [4]byte
		if _, err := io.ReadFull(br, n[:]); err == io.EOF {
			break
		} else if err != nil {
			return Checkpoint{}, fmt.Errorf("%w: entry %d: truncated length: %v", ErrRecord, index, err)
		}
		l := binary.BigEndian.Uint32(n[:])
		if l < entryOverhead || l > entryOverhead+MaxPayload {
			return Checkpoint{}, fmt.Errorf("%w: entry %d: length %d out of bounds", ErrRecord, index, l)
		}
		if index >= cp.Size {
			return Checkpoint{}, fmt.Errorf("%w: more entries than the checkpoint's %d", ErrRecord, cp.Size)
		}
		data := make([]byte, l)
		if _, err := io.ReadFull(br, data); err != nil {
			return Checkpoint{}, fmt.Errorf("%w: entry %d: truncated: %v", ErrRecord, index, err)
		}
		e, err := DecodeEntry(data)
		if err != nil {
			return Checkpoint{}, fmt.Errorf("%w: entry %d: %w", ErrRecord, index, err)
		}
		if e.Log != id {
			return Checkpoint{}, fmt.Errorf("%w: entry %d: %w", ErrRecord, index, ErrWrongLog)
		}
		h := sha256.Sum256(data)
		if _, dup := seen[h]; dup {
			return Checkpoint{}, fmt.Errorf("%w: entry %d: %w", ErrRecord, index, ErrDuplicate)
		}
		seen[h] = struct{}{}
		batch = append(batch, e)
		if each != nil {
			pending = append(pending, RecordEntry{Index: index, Hash: h, Type: e.Type, Data: data})
		}
		tree.AppendLeaves(LeafHash(data))
		index++
		if len(batch) == verifyChunk {
			if err := flush(index - verifyChunk); err != nil {
				return Checkpoint{}, err
			}
		}
	}
	if err := flush(index - uint64(len(batch))); err != nil {
		return Checkpoint{}, err
	}
	if index != cp.Size {
		return Checkpoint{}, fmt.Errorf("%w: %d entries, checkpoint says %d", ErrRecord, index, cp.Size)
	}
	root, _ := tree.RootAt(index)
	if root != cp.Root {
		return Checkpoint{}, fmt.Errorf("%w: entries do not hash to the checkpoint's root", ErrRecord)
	}
	return cp, nil
}

// VerifyRecordDir verifies a record directory offline against the log's
// public keys.
func VerifyRecordDir(dir string, v LogVerifier) (Checkpoint, error) {
	cp, _, err := verifyDir(dir, v, nil)
	return cp, err
}

func verifyDir(dir string, v LogVerifier, each func(RecordEntry) error) (Checkpoint, []byte, error) {
	note, err := readLimited(filepath.Join(dir, RecordCheckpointFile), maxNoteSize)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	f, err := os.Open(filepath.Join(dir, RecordEntriesFile))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	defer f.Close()
	cp, err := verifyRecord(note, f, v, each)
	return cp, note, err
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s too large", ErrRecord, filepath.Base(path))
	}
	return b, nil
}

// VerifyRecordArchive verifies a record archive read from r.
func VerifyRecordArchive(r io.Reader, v LogVerifier) (Checkpoint, error) {
	cp, _, err := verifyArchive(r, v, nil)
	return cp, err
}

func verifyArchive(r io.Reader, v LogVerifier, each func(RecordEntry) error) (Checkpoint, []byte, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != RecordCheckpointFile || hdr.Typeflag != tar.TypeReg || hdr.Size > maxNoteSize {
		return Checkpoint{}, nil, fmt.Errorf("%w: archive must start with a regular file %q", ErrRecord, RecordCheckpointFile)
	}
	note, err := io.ReadAll(tr)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	hdr, err = tr.Next()
	if err != nil || hdr.Name != RecordEntriesFile || hdr.Typeflag != tar.TypeReg {
		return Checkpoint{}, nil, fmt.Errorf("%w: archive's second file must be %q", ErrRecord, RecordEntriesFile)
	}
	cp, err := verifyRecord(note, tr, v, each)
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if _, err := tr.Next(); err != io.EOF {
		return Checkpoint{}, nil, fmt.Errorf("%w: unexpected content after %q", ErrRecord, RecordEntriesFile)
	}
	return cp, note, nil
}
