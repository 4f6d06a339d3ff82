package election

import (
	"crypto/sha256"
	"encoding/binary"
)

// framedHash returns SHA-256(frame(tag) || frame(p_1) || …), frame(x) =
// u64(len(x)) || x, as in spec §9.2.
func framedHash(tag string, parts ...[]byte) [32]byte {
	h := sha256.New()
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(tag)))
	h.Write(l[:])
	h.Write([]byte(tag))
	for _, p := range parts {
		binary.BigEndian.PutUint64(l[:], uint64(len(p)))
		h.Write(l[:])
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
