package ballotbox

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"evote/ballot"
	"evote/bulletin"
	"evote/store"
)

// A Catalog remembers which elections the server hosts, so that a restart
// reopens them (the store itself only knows log ids).
type Catalog interface {
	AddElection(ctx context.Context, electionID, origin string) error
	Elections(ctx context.Context) ([]CatalogEntry, error)
}

// CatalogEntry is one hosted election.
type CatalogEntry struct {
	ElectionID string
	Origin     string
}

// RegistryConfig configures the elections a server hosts.
type RegistryConfig struct {
	Store   store.Store
	Catalog Catalog
	// OriginPrefix names the logs: election e's log origin is
	// OriginPrefix + "/" + e.
	OriginPrefix string
	// LogKey returns the signing identity of a log with that origin (the
	// server's checkpoint keys under the election's origin).
	LogKey    func(origin string) (*bulletin.LogKey, error)
	Authority ed25519.PrivateKey
	// Witnesses returns the cosigners of a log (nil: none).
	Witnesses func(v bulletin.LogVerifier) ([]Cosigner, int, error)
	// IdentityKey, if set, is the only identity service a manifest may name.
	IdentityKey *[32]byte
	Audience    string
	BatchWindow time.Duration
	BatchMax    int
	// AuditEvery and AuditMinBatch schedule the audits' publication
	// (Config).
	AuditEvery    uint64
	AuditMinBatch int
	// SnapshotEvery and NoSnapshots configure the boxes' snapshots
	// (Config).
	SnapshotEvery uint64
	NoSnapshots   bool
	// Credentials gives the identity service's dummy credentials to the
	// elections in deniable re-voting mode (Config); without it such an
	// election is refused (coercion_unsupported).
	Credentials CredentialSource
	Now         func() time.Time
	Logger      *slog.Logger
}

// Registry is the set of elections a server hosts.
type Registry struct {
	cfg   RegistryConfig
	mu    sync.RWMutex
	boxes map[string]*Box
}

// OpenRegistry reopens every election of the catalog, replaying its log.
func OpenRegistry(ctx context.Context, cfg RegistryConfig) (*Registry, error) {
	if cfg.Store == nil || cfg.Catalog == nil || cfg.LogKey == nil || cfg.OriginPrefix == "" {
		return nil, errors.New("ballotbox: RegistryConfig needs Store, Catalog, LogKey and OriginPrefix")
	}
	r := &Registry{cfg: cfg, boxes: map[string]*Box{}}
	list, err := cfg.Catalog.Elections(ctx)
	if err != nil {
		return nil, fmt.Errorf("ballotbox: catalog: %w", err)
	}
	for _, e := range list {
		b, err := r.open(ctx, e.Origin)
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("ballotbox: election %s: %w", e.ElectionID, err)
		}
		r.boxes[e.ElectionID] = b
	}
	return r, nil
}

func (r *Registry) open(ctx context.Context, origin string) (*Box, error) {
	key, err := r.cfg.LogKey(origin)
	if err != nil {
		return nil, err
	}
	var ws []Cosigner
	quorum := 0
	if r.cfg.Witnesses != nil {
		if ws, quorum, err = r.cfg.Witnesses(key.Verifier()); err != nil {
			return nil, err
		}
	}
	return Open(ctx, Config{
		Store: r.cfg.Store, LogKey: key, Authority: r.cfg.Authority, Witnesses: ws, Quorum: quorum,
		Audience: r.cfg.Audience, BatchWindow: r.cfg.BatchWindow, BatchMax: r.cfg.BatchMax,
		AuditEvery: r.cfg.AuditEvery, AuditMinBatch: r.cfg.AuditMinBatch, SnapshotEvery: r.cfg.SnapshotEvery, NoSnapshots: r.cfg.NoSnapshots,
		Credentials: r.cfg.Credentials, Now: r.cfg.Now, Logger: r.cfg.Logger,
	})
}

// Get returns the box of an election.
func (r *Registry) Get(electionID string) (*Box, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.boxes[electionID]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownElection, electionID)
	}
	return b, nil
}

// IDs returns the hosted election ids in order.
func (r *Registry) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.boxes))
	for id := range r.boxes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Create starts a new election from its canonical manifest: it opens a new
// log and posts the manifest, signed by the authority, as its first entry.
func (r *Registry) Create(ctx context.Context, manifest []byte) (*Box, error) {
	m, err := ballot.DecodeManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntryInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEntryInvalid, err)
	}
	if m.Coercion.Mode != ballot.NoCoercionResistance {
		// Deniable re-voting needs the identity service's dummy
		// credentials and the store's ledger (spec §15.16).
		if _, ok := r.cfg.Store.(store.RevoteLedger); !ok || r.cfg.Credentials == nil {
			return nil, fmt.Errorf("%w: the manifest sets coercion mode %s (spec §15.1), and this server has no re-voting ledger or identity service credential source", ErrCoercionUnsupported, m.Coercion.Mode)
		}
	}
	if r.cfg.IdentityKey != nil && m.IdentityKey != *r.cfg.IdentityKey {
		return nil, ErrIdentityMismatch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The catalog learns of the election before its manifest is posted, so
	// a crash in between leaves an empty election that a retry completes.
	b, ok := r.boxes[m.ElectionID]
	if ok && b.log.Size() != 0 {
		return nil, fmt.Errorf("%w: %q", ErrElectionExists, m.ElectionID)
	}
	origin := r.cfg.OriginPrefix + "/" + m.ElectionID
	if err := r.checkLogAnchors(m, origin); err != nil {
		return nil, err
	}
	if !ok {
		if b, err = r.open(ctx, origin); err != nil {
			return nil, err
		}
		if b.log.Size() != 0 {
			b.Close()
			return nil, fmt.Errorf("%w: log %s is not empty", ErrElectionExists, origin)
		}
		if err := b.checkWitnesses(m); err != nil {
			b.Close()
			return nil, err
		}
		if err := r.cfg.Catalog.AddElection(ctx, m.ElectionID, origin); err != nil {
			b.Close()
			return nil, fmt.Errorf("ballotbox: catalog: %w", err)
		}
		r.boxes[m.ElectionID] = b
	}
	if _, err := b.PostAuthority(ctx, bulletin.TypeManifest, m.Encode()); err != nil {
		return nil, err
	}
	return b, nil
}

// checkLogAnchors refuses a manifest that pins another log than the one
// this server keeps for the election: every party would then refuse the
// server's checkpoints.
func (r *Registry) checkLogAnchors(m *ballot.Manifest, origin string) error {
	if m.Board.Origin != origin {
		return fmt.Errorf("%w: the manifest pins log origin %q, this server keeps the election's log as %q", ErrAnchorsMismatch, m.Board.Origin, origin)
	}
	key, err := r.cfg.LogKey(origin)
	if err != nil {
		return err
	}
	v, want := key.Verifier(), m.Board.LogVerifier()
	if v.Ed25519 != want.Ed25519 || !bytes.Equal(v.MLDSA, want.MLDSA) {
		return fmt.Errorf("%w: the manifest pins other log keys than this server's", ErrAnchorsMismatch)
	}
	return nil
}

// checkWitnesses refuses a manifest whose witness quorum the box's
// configured witnesses cannot reach: no checkpoint, hence no receipt and
// no trustee action, would ever be possible.
func (b *Box) checkWitnesses(m *ballot.Manifest) error {
	if n := len(b.manifestCosigners(m)); n < int(m.Board.Quorum) {
		return fmt.Errorf("%w: %d of the manifest's witnesses are configured on this server, its quorum is %d", ErrAnchorsMismatch, n, m.Board.Quorum)
	}
	return nil
}

// Close closes every box.
func (r *Registry) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, b := range r.boxes {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}

// MemoryCatalog is a Catalog kept in memory (tests).
type MemoryCatalog struct {
	mu sync.Mutex
	l  []CatalogEntry
}

// AddElection implements Catalog.
func (c *MemoryCatalog) AddElection(_ context.Context, id, origin string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.l = append(c.l, CatalogEntry{id, origin})
	return nil
}

// Elections implements Catalog.
func (c *MemoryCatalog) Elections(context.Context) ([]CatalogEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]CatalogEntry(nil), c.l...), nil
}

// Anchors returns what this server would keep for a new election with that
// id, for an official composing its manifest: the board anchors (the log's
// origin and keys, every configured witness, a quorum of all of them) and
// the identity service's key it requires (nil when it accepts any). They
// are what Create checks a manifest against; nothing is created.
func (r *Registry) Anchors(electionID string) (ballot.BoardAnchors, *[32]byte, error) {
	origin := r.cfg.OriginPrefix + "/" + electionID
	if err := bulletin.ValidOrigin(origin); err != nil {
		return ballot.BoardAnchors{}, nil, fmt.Errorf("%w: election id %q: %w", ErrEntryInvalid, electionID, err)
	}
	key, err := r.cfg.LogKey(origin)
	if err != nil {
		return ballot.BoardAnchors{}, nil, err
	}
	v := key.Verifier()
	a := ballot.BoardAnchors{Origin: origin, LogKey: v.Ed25519, LogMLDSAKey: v.MLDSA}
	if r.cfg.Witnesses != nil {
		ws, _, err := r.cfg.Witnesses(v)
		if err != nil {
			return ballot.BoardAnchors{}, nil, err
		}
		for _, w := range ws {
			k := w.Key()
			a.Witnesses = append(a.Witnesses, ballot.Witness{Name: k.Name, Key: k.Public})
		}
	}
	a.Quorum = uint32(len(a.Witnesses))
	return a, r.cfg.IdentityKey, nil
}
