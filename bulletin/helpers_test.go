package bulletin

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"testing"

	"evote/crypto/sig"
)

// seededEd25519 returns a deterministic test key.
func seededEd25519(label string) *Ed25519Signer {
	s := sha256.Sum256([]byte("evote bulletin test key: " + label))
	return NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

// testLogKey returns a deterministic log key, with ML-DSA if pq.
func testLogKey(origin string, pq bool) *LogKey {
	ed := seededEd25519("log " + origin)
	k := &LogKey{Origin: origin, Ed25519: ed, Ed25519Public: ed.Public()}
	if pq {
		seed := sha256.Sum256([]byte("evote bulletin test ML-DSA key: " + origin))
		m, err := sig.NewMLDSAKeyFromSeed(seed[:])
		if err != nil {
			panic(err)
		}
		k.MLDSA, k.MLDSAPublic = NewMLDSASigner(m), m.PublicKey()
	}
	return k
}

// testEntry builds the i-th signed entry of a log.
func testEntry(t testing.TB, log LogID, typ Type, author string, i int) *Entry {
	s := seededEd25519(author)
	e, err := NewEntry(log, typ, s.Public(), s, fmt.Appendf(nil, "payload %s %d", author, i))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
