package store

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Hub fans out new log sizes to subscribers within one process. Each
// subscriber has a one-slot channel that always holds the latest size not
// yet received, so a slow reader never blocks a writer and never misses the
// final size.
type Hub struct {
	mu     sync.Mutex
	subs   map[LogID]map[chan uint64]struct{}
	last   map[LogID]uint64
	closed bool
}

// Subscribe registers a subscriber until ctx ends or the hub closes.
func (h *Hub) Subscribe(ctx context.Context, log LogID) (<-chan uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, fmt.Errorf("store: subscribe on a closed store")
	}
	if h.subs == nil {
		h.subs = make(map[LogID]map[chan uint64]struct{})
	}
	if h.subs[log] == nil {
		h.subs[log] = make(map[chan uint64]struct{})
	}
	ch := make(chan uint64, 1)
	h.subs[log][ch] = struct{}{}
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[log][ch]; ok {
			delete(h.subs[log], ch)
			close(ch)
		}
	}()
	return ch, nil
}

// Publish announces a log's new size. Sizes only grow: a late, smaller
// announcement (notifications may arrive out of order) is dropped.
func (h *Hub) Publish(log LogID, size uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last == nil {
		h.last = make(map[LogID]uint64)
	}
	if size <= h.last[log] && size != 0 {
		return
	}
	h.last[log] = size
	for ch := range h.subs[log] {
		select {
		case ch <- size:
		default:
			select { // replace the stale size
			case <-ch:
			default:
			}
			select {
			case ch <- size:
			default:
			}
		}
	}
}

// Subscribed returns the logs that have subscribers.
func (h *Hub) Subscribed() []LogID {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []LogID
	for log, m := range h.subs {
		if len(m) > 0 {
			out = append(out, log)
		}
	}
	return out
}

// Close closes every subscriber channel.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, m := range h.subs {
		for ch := range m {
			close(ch)
		}
	}
	h.subs = nil
}

// Migration is one schema step. Backends keep their steps as embedded files
// named NNNN_description.sql, applied in order, each in its own transaction;
// other packages add tables by appending files, never by editing old ones.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads *.sql files from dir of fsys, ordered by version,
// and checks that versions run 1, 2, 3, … without gaps or repeats.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var ms []Migration
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration file %q is not NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: migrations: %w", err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("store: migration versions must be 1..n without gaps; found %d at position %d", m.Version, i+1)
		}
	}
	return ms, nil
}
