// Package recordfile reads and verifies a board's exported record (spec
// §7.8): a directory, or an uncompressed tar archive, holding the log's
// signed checkpoint and every entry it covers. It is apart from package
// bulletin so that what needs only entries, checkpoints and proofs (the
// voting page's WebAssembly module among them) links no file system or
// tar reader.
package recordfile

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

	"evote/bulletin"
)

// Record file names (§7.8). A record is either a directory holding both
// files or an uncompressed tar archive holding them in this order.
const (
	CheckpointFile = "checkpoint"
	EntriesFile    = "entries.bin"
)

// ErrRecord is returned when an exported record does not verify.
var ErrRecord = errors.New("recordfile: record does not verify")

// verifyChunk is how many entries are signature-checked as one batch.
const verifyChunk = 256

// A Entry is one verified entry of a record, as ReadRecordDir and
// ReadArchive hand it to their callback (an importer stores it).
type Entry struct {
	Index uint64
	Hash  [32]byte // SHA-256 of Data
	Type  bulletin.Type
	Data  []byte // canonical encoding
}

// ReadDir verifies a record directory as VerifyDir does and
// hands every verified entry, in order, to each; it also returns the
// checkpoint's note. A record that fails verification may have handed some
// entries to each already: importers verify completely first.
func ReadDir(dir string, v bulletin.LogVerifier, each func(Entry) error) (bulletin.Checkpoint, []byte, error) {
	return verifyDir(dir, v, each)
}

// ReadArchive does the same for an archive read from r.
func ReadArchive(r io.Reader, v bulletin.LogVerifier, each func(Entry) error) (bulletin.Checkpoint, []byte, error) {
	return verifyArchive(r, v, each)
}

// verifyRecord checks a record: the checkpoint's log signatures, then every
// entry (strict decoding, this log's id, no duplicates, signatures in
// batches), then that the entries are exactly the checkpoint's tree (count
// and root). each, if set, sees every verified record in order.
func verifyRecord(note []byte, entries io.Reader, v bulletin.LogVerifier, each func(Entry) error) (bulletin.Checkpoint, error) {
	cp, _, err := bulletin.VerifyCheckpoint(note, v)
	if err != nil {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: checkpoint: %w", ErrRecord, err)
	}
	id := bulletin.LogIDFor(v.Origin)
	br := bufio.NewReaderSize(entries, 1<<20)
	tree := bulletin.NewTree()
	seen := make(map[[32]byte]struct{})
	var batch []*bulletin.Entry
	var pending []Entry
	flush := func(first uint64) error {
		if err := bulletin.VerifyEntries(batch); err != nil {
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
			return bulletin.Checkpoint{}, fmt.Errorf("%w: entry %d: truncated length: %v", ErrRecord, index, err)
		}
		l := binary.BigEndian.Uint32(n[:])
		if l < bulletin.EntryOverhead || l > bulletin.EntryOverhead+bulletin.MaxPayload {
			return bulletin.Checkpoint{}, fmt.Errorf("%w: entry %d: length %d out of bounds", ErrRecord, index, l)
		}
		if index >= cp.Size {
			return bulletin.Checkpoint{}, fmt.Errorf("%w: more entries than the checkpoint's %d", ErrRecord, cp.Size)
		}
		data := make([]byte, l)
		if _, err := io.ReadFull(br, data); err != nil {
			return bulletin.Checkpoint{}, fmt.Errorf("%w: entry %d: truncated: %v", ErrRecord, index, err)
		}
		e, err := bulletin.DecodeEntry(data)
		if err != nil {
			return bulletin.Checkpoint{}, fmt.Errorf("%w: entry %d: %w", ErrRecord, index, err)
		}
		if e.Log != id {
			return bulletin.Checkpoint{}, fmt.Errorf("%w: entry %d: %w", ErrRecord, index, bulletin.ErrWrongLog)
		}
		h := sha256.Sum256(data)
		if _, dup := seen[h]; dup {
			return bulletin.Checkpoint{}, fmt.Errorf("%w: entry %d: %w", ErrRecord, index, bulletin.ErrDuplicate)
		}
		seen[h] = struct{}{}
		batch = append(batch, e)
		if each != nil {
			pending = append(pending, Entry{Index: index, Hash: h, Type: e.Type, Data: data})
		}
		tree.AppendLeaves(bulletin.LeafHash(data))
		index++
		if len(batch) == verifyChunk {
			if err := flush(index - verifyChunk); err != nil {
				return bulletin.Checkpoint{}, err
			}
		}
	}
	if err := flush(index - uint64(len(batch))); err != nil {
		return bulletin.Checkpoint{}, err
	}
	if index != cp.Size {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: %d entries, checkpoint says %d", ErrRecord, index, cp.Size)
	}
	root, _ := tree.RootAt(index)
	if root != cp.Root {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: entries do not hash to the checkpoint's root", ErrRecord)
	}
	return cp, nil
}

// VerifyDir verifies a record directory offline against the log's
// public keys.
func VerifyDir(dir string, v bulletin.LogVerifier) (bulletin.Checkpoint, error) {
	cp, _, err := verifyDir(dir, v, nil)
	return cp, err
}

func verifyDir(dir string, v bulletin.LogVerifier, each func(Entry) error) (bulletin.Checkpoint, []byte, error) {
	note, err := readLimited(filepath.Join(dir, CheckpointFile), bulletin.MaxNoteSize)
	if err != nil {
		return bulletin.Checkpoint{}, nil, err
	}
	f, err := os.Open(filepath.Join(dir, EntriesFile))
	if err != nil {
		return bulletin.Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrRecord, err)
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

// VerifyArchive verifies a record archive read from r.
func VerifyArchive(r io.Reader, v bulletin.LogVerifier) (bulletin.Checkpoint, error) {
	cp, _, err := verifyArchive(r, v, nil)
	return cp, err
}

func verifyArchive(r io.Reader, v bulletin.LogVerifier, each func(Entry) error) (bulletin.Checkpoint, []byte, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != CheckpointFile || hdr.Typeflag != tar.TypeReg || hdr.Size > bulletin.MaxNoteSize {
		return bulletin.Checkpoint{}, nil, fmt.Errorf("%w: archive must start with a regular file %q", ErrRecord, CheckpointFile)
	}
	note, err := io.ReadAll(tr)
	if err != nil {
		return bulletin.Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrRecord, err)
	}
	hdr, err = tr.Next()
	if err != nil || hdr.Name != EntriesFile || hdr.Typeflag != tar.TypeReg {
		return bulletin.Checkpoint{}, nil, fmt.Errorf("%w: archive's second file must be %q", ErrRecord, EntriesFile)
	}
	cp, err := verifyRecord(note, tr, v, each)
	if err != nil {
		return bulletin.Checkpoint{}, nil, err
	}
	if _, err := tr.Next(); err != io.EOF {
		return bulletin.Checkpoint{}, nil, fmt.Errorf("%w: unexpected content after %q", ErrRecord, EntriesFile)
	}
	return cp, note, nil
}
