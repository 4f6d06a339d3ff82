package view

import (
	"encoding/hex"
	"fmt"

	"evote/ballot"
	"evote/bulletin"
)

// Checkpoint is a signed checkpoint checked against the election's
// anchors (the manifest's log key, witnesses and quorum): Valid only if
// the log signed it and at least the quorum of witnesses cosigned it.
type Checkpoint struct {
	Size      uint64     `json:"size"`
	Root      string     `json:"root"` // hex
	Time      int64      `json:"time"` // Unix seconds, the log's
	Valid     bool       `json:"valid"`
	Error     string     `json:"error,omitempty"`
	Quorum    uint32     `json:"quorum"`
	Cosigners []Cosigner `json:"cosigners"`
}

// Cosigner is one witness of the manifest and its cosignature on the
// checkpoint, if any (Time is when it cosigned).
type Cosigner struct {
	Name   string `json:"name"`
	Signed bool   `json:"signed"`
	Time   int64  `json:"time,omitempty"`
}

// CheckCheckpoint checks a signed note against the manifest's anchors.
func CheckCheckpoint(manifest, note []byte) (*Checkpoint, error) {
	m, err := ballot.DecodeManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	n, err := bulletin.ParseNote(note)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	c, err := bulletin.ParseCheckpoint(n.Body)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	out := &Checkpoint{Size: c.Size, Root: hex.EncodeToString(c.Root[:]), Time: c.Time.Unix(), Quorum: m.Board.Quorum, Cosigners: []Cosigner{}}
	if _, err := m.Board.VerifyCheckpoint(note); err != nil {
		out.Error = err.Error()
	} else {
		out.Valid = true
	}
	ws, _ := m.Board.Cosigners()
	for _, w := range ws {
		cs := Cosigner{Name: w.Name}
		for _, s := range n.Sigs {
			if s.Name == w.Name && s.KeyID == w.KeyID() {
				if t, err := bulletin.VerifyCosignature(n.Body, s, w); err == nil {
					cs.Signed, cs.Time = true, t.Unix()
				}
			}
		}
		out.Cosigners = append(out.Cosigners, cs)
	}
	return out, nil
}

// CheckInclusion checks an RFC 6962 inclusion proof (hex hashes) of the
// entry with the given canonical bytes at index in the tree of size with
// the given root. The leaf hash is computed here from the bytes the page
// shows, never taken from the server: a proof of another leaf (an entry
// that is in the log) must not vouch for an entry that is not.
func CheckInclusion(canonical []byte, index, size uint64, path []string, root string) error {
	r, err := hash32(root)
	if err != nil {
		return err
	}
	p, err := hashes(path)
	if err != nil {
		return err
	}
	return bulletin.VerifyInclusion(index, size, bulletin.LeafHash(canonical), p, r)
}

// CheckConsistency checks an RFC 6962 consistency proof between the trees
// of size1 (root1) and size2 (root2).
func CheckConsistency(size1, size2 uint64, path []string, root1, root2 string) error {
	r1, err := hash32(root1)
	if err != nil {
		return err
	}
	r2, err := hash32(root2)
	if err != nil {
		return err
	}
	p, err := hashes(path)
	if err != nil {
		return err
	}
	return bulletin.VerifyConsistency(size1, size2, p, r1, r2)
}

func hash32(s string) (h [32]byte, err error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("view: %q is not a hash of 64 hex digits", s)
	}
	return [32]byte(b), nil
}

func hashes(ss []string) ([][32]byte, error) {
	out := make([][32]byte, len(ss))
	for i, s := range ss {
		h, err := hash32(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}
