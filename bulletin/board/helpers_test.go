package board

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"evote/bulletin"
	"evote/crypto/sig"
	"evote/store"
	"evote/store/sqlite"
)

// seededEd25519 returns a deterministic test key.
func seededEd25519(label string) *bulletin.Ed25519Signer {
	s := sha256.Sum256([]byte("evote bulletin test key: " + label))
	return bulletin.NewEd25519Signer(ed25519.NewKeyFromSeed(s[:]))
}

// testLogKey returns a deterministic log key, with ML-DSA if pq.
func testLogKey(origin string, pq bool) *bulletin.LogKey {
	ed := seededEd25519("log " + origin)
	k := &bulletin.LogKey{Origin: origin, Ed25519: ed, Ed25519Public: ed.Public()}
	if pq {
		seed := sha256.Sum256([]byte("evote bulletin test ML-DSA key: " + origin))
		m, err := sig.NewMLDSAKeyFromSeed(seed[:])
		if err != nil {
			panic(err)
		}
		k.MLDSA, k.MLDSAPublic = bulletin.NewMLDSASigner(m), m.PublicKey()
	}
	return k
}

func openSQLite(t testing.TB) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "board.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openLog(t testing.TB, st store.Store, k *bulletin.LogKey) *Log {
	l, err := Open(context.Background(), Config{Key: k, Store: st, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func fixedClock() func() time.Time {
	return func() time.Time { return time.Unix(1_800_000_000, 0) }
}

// testEntry builds the i-th signed entry of a log.
func testEntry(t testing.TB, log bulletin.LogID, typ bulletin.Type, author string, i int) *bulletin.Entry {
	s := seededEd25519(author)
	e, err := bulletin.NewEntry(log, typ, s.Public(), s, fmt.Appendf(nil, "payload %s %d", author, i))
	if err != nil {
		t.Fatal(err)
	}
	return e
}
