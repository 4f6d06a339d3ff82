package ballotbox

import "io"

// SetAuditRand makes b draw the order of its audit batches from r.
func SetAuditRand(b *Box, r io.Reader) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.auditRand = r
}

// PublishBatch publishes the pooled audits now, as the flusher does.
func PublishBatch(b *Box) error { return b.publishBatch() }

// Shuffle is the batches' shuffle.
var Shuffle = shuffle
