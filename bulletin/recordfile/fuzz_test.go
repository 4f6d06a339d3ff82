package recordfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"evote/bulletin"
)

// FuzzVerifyRecord feeds arbitrary entries.bin streams to the record
// verifier with a fixed signed checkpoint: it must answer ErrRecord or
// accept exactly the honest stream, and never panic.
func FuzzVerifyRecord(f *testing.F) {
	k := testLogKey("evote.example/fuzz-record")
	id := bulletin.LogIDFor(k.Origin)
	var stream []byte
	tr := bulletin.NewTree()
	for i := range 3 {
		b := testEntry(f, id, bulletin.TypeBallot, "v", i).Encode()
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(b)))
		stream = append(stream, b...)
		tr.AppendLeaves(bulletin.LeafHash(b))
	}
	root, _ := tr.RootAt(3)
	note, err := bulletin.SignCheckpoint(bulletin.Checkpoint{Origin: k.Origin, Size: 3, Root: root, Time: time.Unix(1, 0)}, k)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(stream)
	f.Add(stream[:len(stream)-1])
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := verifyRecord(note, bytes.NewReader(b), k.Verifier(), nil)
		if err == nil && !bytes.Equal(b, stream) {
			t.Fatal("a stream other than the honest one verified")
		}
		if err != nil && !errors.Is(err, ErrRecord) {
			t.Fatalf("error not wrapping ErrRecord: %v", err)
		}
	})
}

// testLogKey returns a deterministic Ed25519 log key for origin.
func testLogKey(origin string) *bulletin.LogKey {
	ed := seeded("log " + origin)
	return &bulletin.LogKey{Origin: origin, Ed25519: ed, Ed25519Public: ed.Public()}
}

func seeded(label string) *bulletin.Ed25519Signer {
	s := sha256.Sum256([]byte("evote recordfile test key: " + label))
	return bulletin.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

// testEntry builds the i-th signed entry of a log.
func testEntry(t testing.TB, log bulletin.LogID, typ bulletin.Type, author string, i int) *bulletin.Entry {
	s := seeded(author)
	e, err := bulletin.NewEntry(log, typ, s.Public(), s, fmt.Appendf(nil, "payload %s %d", author, i))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
