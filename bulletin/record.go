package bulletin

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"evote/store"
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

// writeEntries writes entries [0, size) as bytes(canonical) each.
func writeEntries(ctx context.Context, l *Log, size uint64, w io.Writer) error {
	for next := uint64(0); next < size; {
		recs, err := l.Entries(ctx, next, min(size, next+store.MaxRange))
		if err != nil {
			return fmt.Errorf("bulletin: export: %w", err)
		}
		if len(recs) == 0 {
			return fmt.Errorf("%w: entry %d missing", ErrCorrupt, next)
		}
		for _, r := range recs {
			var n [4]byte
			binary.BigEndian.PutUint32(n[:], uint32(len(r.Data)))
			if _, err := w.Write(n[:]); err != nil {
				return fmt.Errorf("bulletin: export: %w", err)
			}
			if _, err := w.Write(r.Data); err != nil {
				return fmt.Errorf("bulletin: export: %w", err)
			}
		}
		next += uint64(len(recs))
	}
	return nil
}

// ExportDir writes the entries covered by cp and cp itself into dir.
func ExportDir(ctx context.Context, l *Log, cp *SignedCheckpoint, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, RecordEntriesFile))
	if err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := writeEntries(ctx, l, cp.Size, bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("bulletin: export: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RecordCheckpointFile), cp.Note, 0o644); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	return nil
}

// ExportArchive writes the record as a tar archive to w.
func ExportArchive(ctx context.Context, l *Log, cp *SignedCheckpoint, w io.Writer) error {
	size := int64(0)
	// Sizes first (tar headers need them).
	for next := uint64(0); next < cp.Size; {
		recs, err := l.Entries(ctx, next, min(cp.Size, next+store.MaxRange))
		if err != nil || len(recs) == 0 {
			return fmt.Errorf("bulletin: export: entries at %d: %v", next, err)
		}
		for _, r := range recs {
			size += 4 + int64(len(r.Data))
		}
		next += uint64(len(recs))
	}
	tw := tar.NewWriter(w)
	hdr := &tar.Header{Name: RecordCheckpointFile, Mode: 0o644, Size: int64(len(cp.Note)), Typeflag: tar.TypeReg, ModTime: cp.Time}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	if _, err := tw.Write(cp.Note); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	hdr = &tar.Header{Name: RecordEntriesFile, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, ModTime: cp.Time}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	if err := writeEntries(ctx, l, cp.Size, tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	return nil
}

// verifyRecord checks a record: the checkpoint's log signatures, then every
// entry (strict decoding, this log's id, no duplicates, signatures in
// batches), then that the entries are exactly the checkpoint's tree (count
// and root). each, if set, sees every verified record in order.
func verifyRecord(note []byte, entries io.Reader, v LogVerifier, each func(store.Record) error) (Checkpoint, error) {
	cp, _, err := VerifyCheckpoint(note, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %w", ErrRecord, err)
	}
	id := LogIDFor(v.Origin)
	br := bufio.NewReaderSize(entries, 1<<20)
	tree := NewTree()
	seen := make(map[[32]byte]struct{})
	var batch []*Entry
	var pending []store.Record
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
			pending = append(pending, store.Record{Index: index, Hash: h, Type: uint16(e.Type), Data: data})
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

func verifyDir(dir string, v LogVerifier, each func(store.Record) error) (Checkpoint, []byte, error) {
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

func verifyArchive(r io.Reader, v LogVerifier, each func(store.Record) error) (Checkpoint, []byte, error) {
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

// ImportDir verifies a record directory completely, then loads it into an
// empty log of st (a record that fails verification writes nothing; the
// second pass writes only entries whose signatures verified again).
func ImportDir(ctx context.Context, dir string, v LogVerifier, st store.Store) (Checkpoint, error) {
	return importRecord(ctx, v, st, func(each func(store.Record) error) (Checkpoint, []byte, error) {
		return verifyDir(dir, v, each)
	})
}

// ImportArchive does the same for an archive file.
func ImportArchive(ctx context.Context, path string, v LogVerifier, st store.Store) (Checkpoint, error) {
	return importRecord(ctx, v, st, func(each func(store.Record) error) (Checkpoint, []byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return Checkpoint{}, nil, fmt.Errorf("%w: %w", ErrRecord, err)
		}
		defer f.Close()
		return verifyArchive(f, v, each)
	})
}

func importRecord(ctx context.Context, v LogVerifier, st store.Store, pass func(func(store.Record) error) (Checkpoint, []byte, error)) (Checkpoint, error) {
	first, _, err := pass(nil)
	if err != nil {
		return Checkpoint{}, err
	}
	id := LogIDFor(v.Origin)
	if n, err := st.Size(ctx, id); err != nil || n != 0 {
		return Checkpoint{}, fmt.Errorf("bulletin: import: target log is not empty (size %d, %v)", n, err)
	}
	var batch []store.Record
	var next uint64
	put := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := st.Append(ctx, id, next, batch); err != nil {
			return fmt.Errorf("bulletin: import: %w", err)
		}
		next += uint64(len(batch))
		batch = batch[:0]
		return nil
	}
	cp, note, err := pass(func(r store.Record) error {
		batch = append(batch, r)
		if len(batch) == 1024 {
			return put()
		}
		return nil
	})
	if err == nil {
		err = put()
	}
	if err != nil {
		return Checkpoint{}, err
	}
	if cp != first {
		return Checkpoint{}, fmt.Errorf("%w: record changed during import", ErrRecord)
	}
	if err := st.PutCheckpoint(ctx, id, store.Checkpoint{Size: cp.Size, Note: note}); err != nil {
		return Checkpoint{}, fmt.Errorf("bulletin: import checkpoint: %w", err)
	}
	return cp, nil
}
