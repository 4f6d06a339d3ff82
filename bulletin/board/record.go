package board

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"evote/bulletin"
	"evote/bulletin/recordfile"
	"evote/store"
)

// writeEntries writes entries [0, size) as bytes(canonical) each.
func writeEntries(ctx context.Context, l *Log, size uint64, w io.Writer) error {
	for next := uint64(0); next < size; {
		recs, err := l.Entries(ctx, next, min(size, next+store.MaxRange))
		if err != nil {
			return fmt.Errorf("bulletin: export: %w", err)
		}
		if len(recs) == 0 {
			return fmt.Errorf("%w: entry %d missing", bulletin.ErrCorrupt, next)
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
func ExportDir(ctx context.Context, l *Log, cp *bulletin.SignedCheckpoint, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, recordfile.EntriesFile))
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
	if err := os.WriteFile(filepath.Join(dir, recordfile.CheckpointFile), cp.Note, 0o644); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	return nil
}

// ExportArchive writes the record as a tar archive to w.
func ExportArchive(ctx context.Context, l *Log, cp *bulletin.SignedCheckpoint, w io.Writer) error {
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
	hdr := &tar.Header{Name: recordfile.CheckpointFile, Mode: 0o644, Size: int64(len(cp.Note)), Typeflag: tar.TypeReg, ModTime: cp.Time}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	if _, err := tw.Write(cp.Note); err != nil {
		return fmt.Errorf("bulletin: export: %w", err)
	}
	hdr = &tar.Header{Name: recordfile.EntriesFile, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, ModTime: cp.Time}
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

// ImportDir verifies a record directory completely, then loads it into an
// empty log of st (a record that fails verification writes nothing; the
// second pass writes only entries whose signatures verified again).
func ImportDir(ctx context.Context, dir string, v bulletin.LogVerifier, st store.Store) (bulletin.Checkpoint, error) {
	return importRecord(ctx, v, st, func(each func(recordfile.Entry) error) (bulletin.Checkpoint, []byte, error) {
		return recordfile.ReadDir(dir, v, each)
	})
}

// ImportArchive does the same for an archive file.
func ImportArchive(ctx context.Context, path string, v bulletin.LogVerifier, st store.Store) (bulletin.Checkpoint, error) {
	return importRecord(ctx, v, st, func(each func(recordfile.Entry) error) (bulletin.Checkpoint, []byte, error) {
		f, err := os.Open(path)
		if err != nil {
			return bulletin.Checkpoint{}, nil, fmt.Errorf("%w: %w", recordfile.ErrRecord, err)
		}
		defer f.Close()
		return recordfile.ReadArchive(f, v, each)
	})
}

func importRecord(ctx context.Context, v bulletin.LogVerifier, st store.Store, pass func(func(recordfile.Entry) error) (bulletin.Checkpoint, []byte, error)) (bulletin.Checkpoint, error) {
	first, _, err := pass(nil)
	if err != nil {
		return bulletin.Checkpoint{}, err
	}
	id := store.LogID(bulletin.LogIDFor(v.Origin))
	if n, err := st.Size(ctx, id); err != nil || n != 0 {
		return bulletin.Checkpoint{}, fmt.Errorf("bulletin: import: target log is not empty (size %d, %v)", n, err)
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
	cp, note, err := pass(func(r recordfile.Entry) error {
		batch = append(batch, store.Record{Index: r.Index, Hash: r.Hash, Type: uint16(r.Type), Data: r.Data})
		if len(batch) == 1024 {
			return put()
		}
		return nil
	})
	if err == nil {
		err = put()
	}
	if err != nil {
		return bulletin.Checkpoint{}, err
	}
	if cp != first {
		return bulletin.Checkpoint{}, fmt.Errorf("%w: record changed during import", recordfile.ErrRecord)
	}
	if err := st.PutCheckpoint(ctx, id, store.Checkpoint{Size: cp.Size, Note: note}); err != nil {
		return bulletin.Checkpoint{}, fmt.Errorf("bulletin: import checkpoint: %w", err)
	}
	return cp, nil
}
