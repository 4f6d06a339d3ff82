package bulletin

import "errors"

// ErrCorrupt is returned when stored data contradicts itself: an entry
// whose hash or index does not match, or a stored checkpoint whose root the
// recomputed tree does not reproduce.
var ErrCorrupt = errors.New("bulletin: stored log is inconsistent")

// ErrClosed is returned by a closed log (package bulletin/board).
var ErrClosed = errors.New("bulletin: log closed")

// SignedCheckpoint is a checkpoint with its signed note.
type SignedCheckpoint struct {
	Checkpoint
	Note []byte
}
