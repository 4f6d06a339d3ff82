// Package atomicfile replaces a file so that a crash at any moment leaves
// either its old content or the whole new content, never a part: the
// trustee's key file, a witness's state and the ballot box's snapshot file
// are each written this way, and a torn write of any of them would lose a
// secret, a witness's memory of what it cosigned, or a restart's shortcut.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write replaces path with what fill writes: into a temporary file in the
// same directory (hidden, named "."+base+".tmp-*", so that one left by a
// crash is never taken for the file itself), created with mode perm,
// synced and closed, then renamed over path, and the directory synced so
// that the rename itself survives a crash once Write returns. If fill or
// any step fails, path is left as it was and the temporary file removed.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // nothing to remove after the rename
	err = f.Chmod(perm)
	if err == nil {
		err = fill(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the renames and creations in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
