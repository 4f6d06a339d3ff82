// Package memrelease returns the memory of a large request to the system
// once the request is done (spec/10-api.md §10.3, §10.5): a password hash
// (64 MiB) or a large body leaves the heap's pages free but still mapped,
// and Go's background scavenger gives them back only gradually, so that a
// burst of large requests would leave the process at its peak. After one,
// the server calls Soon: debug.FreeOSMemory (a collection, then every
// free page back to the system) runs in the background at most once every
// Every, and always within Every of the latest call.
package memrelease

import (
	"runtime/debug"
	"sync"
	"time"
)

// Every bounds how often memory is returned.
const Every = time.Second

var (
	mu        sync.Mutex
	last      time.Time
	scheduled bool
)

// Soon returns the free memory to the system in the background: at once
// if it was last done at least Every ago, else Every after that time.
func Soon() {
	mu.Lock()
	defer mu.Unlock()
	if scheduled {
		return
	}
	scheduled = true
	time.AfterFunc(max(0, Every-time.Since(last)), func() {
		debug.FreeOSMemory()
		mu.Lock()
		last, scheduled = time.Now(), false
		mu.Unlock()
	})
}
