package tally

import (
	"crypto/sha256"
	"fmt"

	"evote/crypto/elgamal"
	"evote/crypto/shuffle"
	"evote/crypto/threshold"
	"evote/internal/wire"
)

// Kinds of decryption targets (spec §9.7).
const (
	// TargetMixed is the last valid mix output of a single-choice contest
	// (in deniable re-voting mode, of a multi-select contest its flags
	// column, spec §15.5 step 6).
	TargetMixed uint8 = 1
	// TargetSums is the per-candidate homomorphic sums of a multi-select
	// contest.
	TargetSums uint8 = 2
)

// A DecryptionEntry is the payload of a decryption-share entry: trustee's
// share of the decryption of one contest's target list, which it names by
// digest so that a share cannot be presented for another list.
type DecryptionEntry struct {
	ElectionID string
	ContestID  string
	Kind       uint8
	Target     [32]byte // TargetDigest of the ciphertexts decrypted
	Share      *threshold.DecryptionShare

	share []byte // the encoding Share was parsed from, if it was
}

// ShareBytes returns the encoding of Share: as received, if the entry was
// decoded (not encoded again), else Share.Bytes(). The caller must not
// modify it.
func (d *DecryptionEntry) ShareBytes() []byte {
	if d.share != nil {
		return d.share
	}
	return d.Share.Bytes()
}

const decryptionFormat = 1

// Encode returns u8(1) || string(election) || string(contest) || u8(kind)
// || Hash(target) || bytes(DecryptionShare).
func (d *DecryptionEntry) Encode() []byte {
	share := d.Share.Bytes()
	w := wire.NewWriter(80 + len(share))
	w.U8(decryptionFormat)
	w.String(d.ElectionID)
	w.String(d.ContestID)
	w.U8(d.Kind)
	w.Fixed(d.Target[:])
	w.VarBytes(share)
	return w.Bytes()
}

// DecodeDecryptionEntry parses a canonical decryption entry.
func DecodeDecryptionEntry(b []byte) (*DecryptionEntry, error) {
	r := wire.NewReader(b)
	if v := r.U8("format"); r.Err() == nil && v != decryptionFormat {
		return nil, fmt.Errorf("%w: decryption entry format %d", ErrMalformed, v)
	}
	d := &DecryptionEntry{ElectionID: r.String(64, "election id"), ContestID: r.String(64, "contest id"), Kind: r.U8("kind")}
	copy(d.Target[:], r.Fixed(32, "target"))
	share := r.VarBytes(1<<31-1, "share")
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if d.Kind != TargetMixed && d.Kind != TargetSums {
		return nil, fmt.Errorf("%w: decryption target kind %d", ErrMalformed, d.Kind)
	}
	s, err := threshold.ParseDecryptionShare(share)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	d.Share, d.share = s, share
	return d, nil
}

// TargetDigestTag opens the digest of a decryption target.
const TargetDigestTag = "evote-v1/decryption-target"

// TargetDigest returns SHA-256(string(tag) || u32(n) || Ciphertext…), the
// name of a list of ciphertexts to decrypt.
func TargetDigest(cts []*elgamal.Ciphertext) [32]byte {
	// Hashed a part at a time: the list's encoding (64 MB at a million
	// rows) is never built whole.
	h := sha256.New()
	w := wire.NewWriter(8 + len(TargetDigestTag) + 64*min(len(cts), targetPart))
	w.String(TargetDigestTag)
	w.U32(uint32(len(cts)))
	for i, c := range cts {
		w.Ciphertext(c)
		if (i+1)%targetPart == 0 {
			h.Write(w.Bytes())
			w = wire.NewWriter(64 * targetPart)
		}
	}
	h.Write(w.Bytes())
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// TargetDigestRows returns TargetDigest of the ciphertexts of rows,
// row-major, hashed from their encoding as the rows hold it (nothing is
// decoded or encoded again).
func TargetDigestRows(rows *shuffle.Rows) [32]byte {
	h := sha256.New()
	w := wire.NewWriter(8 + len(TargetDigestTag))
	w.String(TargetDigestTag)
	w.U32(uint32(rows.Len() * rows.Width()))
	h.Write(w.Bytes())
	for i := range rows.Len() {
		h.Write(rows.Row(i))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// targetPart is how many ciphertexts TargetDigest encodes before hashing
// them.
const targetPart = 1024
