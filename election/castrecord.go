package election

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"evote/ballot"
	"evote/crypto/elgamal"
)

// encodeCiphertexts returns a CastRecord's enc for a ballot.
func encodeCiphertexts(b *ballot.EncryptedBallot) []byte {
	n := 0
	for _, c := range b.Contests {
		n += len(c.Ciphertexts)
	}
	enc := make([]byte, 0, 1+2*len(b.Contests)+n*elgamal.CiphertextSize)
	enc = append(enc, byte(len(b.Contests)))
	for _, c := range b.Contests {
		enc = binary.BigEndian.AppendUint16(enc, uint16(len(c.Ciphertexts)))
	}
	for _, c := range b.Contests {
		for _, ct := range c.Ciphertexts {
			enc = ct.AppendBytes(enc)
		}
	}
	return enc
}

// checkEnc checks the layout of a CastRecord's enc (not the points, which
// Ciphertexts checks when it decodes them).
func checkEnc(enc []byte) error {
	if len(enc) == 0 || len(enc) < 1+2*int(enc[0]) {
		return errors.New("election: cast record: truncated contest counts")
	}
	n := 0
	for i := range int(enc[0]) {
		n += int(binary.BigEndian.Uint16(enc[1+2*i:]))
	}
	if len(enc) != 1+2*int(enc[0])+n*elgamal.CiphertextSize {
		return fmt.Errorf("election: cast record of %d bytes for %d ciphertexts", len(enc), n)
	}
	return nil
}

// Contests returns the number of contests of the ballot.
func (r *CastRecord) Contests() int { return int(r.enc[0]) }

// Ciphertexts decodes the ciphertexts of the ballot's contest i (in the
// order of its ballot style's contests).
func (r *CastRecord) Ciphertexts(i int) ([]*elgamal.Ciphertext, error) {
	if i < 0 || i >= r.Contests() {
		return nil, fmt.Errorf("election: contest %d of a ballot of %d", i, r.Contests())
	}
	off := 1 + 2*r.Contests()
	for j := range i {
		off += int(binary.BigEndian.Uint16(r.enc[1+2*j:])) * elgamal.CiphertextSize
	}
	out := make([]*elgamal.Ciphertext, binary.BigEndian.Uint16(r.enc[1+2*i:]))
	for k := range out {
		ct, err := new(elgamal.Ciphertext).SetBytes(r.enc[off : off+elgamal.CiphertextSize])
		if err != nil {
			return nil, fmt.Errorf("election: ballot at %d: %w", r.Position, err)
		}
		out[k], off = ct, off+elgamal.CiphertextSize
	}
	return out, nil
}

// ciphertextBytes returns the encodings of the ciphertexts of the
// ballot's contest i, as Ciphertexts would decode them (aliasing the
// record).
func (r *CastRecord) ciphertextBytes(i int) ([]byte, error) {
	if i < 0 || i >= r.Contests() {
		return nil, fmt.Errorf("election: contest %d of a ballot of %d", i, r.Contests())
	}
	off := 1 + 2*r.Contests()
	for j := range i {
		off += int(binary.BigEndian.Uint16(r.enc[1+2*j:])) * elgamal.CiphertextSize
	}
	n := int(binary.BigEndian.Uint16(r.enc[1+2*i:])) * elgamal.CiphertextSize
	return r.enc[off : off+n], nil
}

// CiphertextKeys returns SHA-256 of each of the ballot's ciphertext
// encodings, all contests in order: the keys under which the rules detect
// a repeated ciphertext.
func (r *CastRecord) CiphertextKeys() [][32]byte {
	cts := r.enc[1+2*r.Contests():]
	keys := make([][32]byte, len(cts)/elgamal.CiphertextSize)
	for i := range keys {
		keys[i] = sha256.Sum256(cts[i*elgamal.CiphertextSize : (i+1)*elgamal.CiphertextSize])
	}
	return keys
}

// Encoded returns the record's compact encoding of its ciphertexts (for
// snapshots; RestoreBallot takes it back). The caller must not modify it.
func (r *CastRecord) Encoded() []byte { return r.enc }
