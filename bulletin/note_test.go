package bulletin

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckpointSignVerify(t *testing.T) {
	for _, pq := range []bool{false, true} {
		k := testLogKey("evote.example/election-1", pq)
		c := Checkpoint{Origin: k.Origin, Size: 42, Root: [32]byte{1, 2, 3}, Time: time.Unix(1_800_000_000, 0).UTC()}
		note, err := SignCheckpoint(c, k)
		if err != nil {
			t.Fatal(err)
		}
		got, n, err := VerifyCheckpoint(note, k.Verifier())
		if err != nil {
			t.Fatalf("pq=%v: %v", pq, err)
		}
		if got != c || !bytes.Equal(n.Body, c.Body()) {
			t.Fatalf("pq=%v: parsed %+v", pq, got)
		}
		if want := 1 + btoi(pq); len(n.Sigs) != want {
			t.Fatalf("pq=%v: %d signatures", pq, len(n.Sigs))
		}
		// Tampering with the body invalidates it.
		bad := bytes.Replace(note, []byte("\n42\n"), []byte("\n43\n"), 1)
		if _, _, err := VerifyCheckpoint(bad, k.Verifier()); !errors.Is(err, ErrNoteSig) {
			t.Errorf("pq=%v: tampered size: %v", pq, err)
		}
		// Another log's key does not verify it.
		other := testLogKey("evote.example/election-2", pq)
		if _, _, err := VerifyCheckpoint(note, other.Verifier()); !errors.Is(err, ErrNoteSig) {
			t.Errorf("pq=%v: other origin: %v", pq, err)
		}
		v := k.Verifier()
		v.Ed25519 = other.Ed25519Public
		if _, _, err := VerifyCheckpoint(note, v); !errors.Is(err, ErrNoteSig) {
			t.Errorf("pq=%v: other key: %v", pq, err)
		}
	}
	// A verifier that requires ML-DSA refuses a note without it, and one
	// whose ML-DSA line is corrupted.
	k := testLogKey("evote.example/pq", true)
	c := Checkpoint{Origin: k.Origin, Size: 1, Time: time.Unix(0, 0).UTC()}
	edOnly := *k
	edOnly.MLDSA = nil
	note, _ := SignCheckpoint(c, &edOnly)
	if _, _, err := VerifyCheckpoint(note, k.Verifier()); !errors.Is(err, ErrNoteSig) {
		t.Errorf("missing ML-DSA line: %v", err)
	}
	note, _ = SignCheckpoint(c, k)
	n, _ := ParseNote(note)
	n.Sigs[1].Sig[100] ^= 1
	if _, _, err := VerifyCheckpoint(n.Bytes(), k.Verifier()); !errors.Is(err, ErrNoteSig) {
		t.Errorf("corrupted ML-DSA line: %v", err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestParseNoteRejects(t *testing.T) {
	k := testLogKey("evote.example/n", false)
	c := Checkpoint{Origin: k.Origin, Size: 7, Time: time.Unix(5, 0).UTC()}
	good, _ := SignCheckpoint(c, k)
	if _, err := ParseNote(good); err != nil {
		t.Fatal(err)
	}
	s := string(good)
	bad := []string{
		"",
		strings.Replace(s, "\n\n", "\n", 1),
		strings.TrimSuffix(s, "\n"),
		s + "junk\n",
		strings.Replace(s, "— ", "-- ", 1),
		strings.Replace(s, "\n7\n", "\n\t7\n", 1),
		s[:len(s)-3] + "=\n",
		string(append([]byte(s[:5]), 0xff)) + s[5:],
	}
	for i, b := range bad {
		if _, err := ParseNote([]byte(b)); err == nil {
			t.Errorf("bad note %d accepted: %q", i, b)
		}
	}
	// Checkpoint bodies: non-canonical numbers, bad roots, missing time.
	bodies := []string{
		"o\n07\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\n",
		"o\n+7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\n",
		"o\n7\nAAAA\ntime 1\n",
		"o\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"o\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 01\n",
		"o\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\nextra\n",
		"o\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\ntime 1\n",
		"o o\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\n",
		"o\n99999999999999999999\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\n",
	}
	for i, b := range bodies {
		if _, err := ParseCheckpoint([]byte(b)); !errors.Is(err, ErrNote) {
			t.Errorf("bad body %d: %v", i, err)
		}
	}
	if _, err := ParseCheckpoint([]byte("o\n7\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\ntime 1\n")); err != nil {
		t.Errorf("good body: %v", err)
	}
}

func TestCosignature(t *testing.T) {
	k := testLogKey("evote.example/c", false)
	c := Checkpoint{Origin: k.Origin, Size: 3, Time: time.Unix(9, 0).UTC()}
	note, _ := SignCheckpoint(c, k)
	w1s, w2s := seededEd25519("w1"), seededEd25519("w2")
	w1 := CosignerKey{Name: "witness.example/w1", Public: w1s.Public()}
	w2 := CosignerKey{Name: "witness.example/w2", Public: w2s.Public()}
	at := time.Unix(1_900_000_000, 0)
	cs1, err := Cosign(c.Body(), w1, w1s, at)
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := VerifyCosignature(c.Body(), cs1, w1); err != nil || !ts.Equal(at) {
		t.Fatalf("cosignature: %v %v", ts, err)
	}
	if _, err := VerifyCosignature(c.Body(), cs1, w2); !errors.Is(err, ErrNoteSig) {
		t.Errorf("cosignature checked with the wrong witness: %v", err)
	}
	cosigned, err := AddSignatures(note, cs1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCosigned(cosigned, k.Verifier(), []CosignerKey{w1, w2}, 1); err != nil {
		t.Errorf("quorum 1: %v", err)
	}
	if _, err := VerifyCosigned(cosigned, k.Verifier(), []CosignerKey{w1, w1, w2}, 2); !errors.Is(err, ErrNoteSig) {
		t.Errorf("quorum 2 with one witness listed twice: %v", err)
	}
	cs2, _ := Cosign(c.Body(), w2, w2s, at)
	both, _ := AddSignatures(cosigned, cs2)
	if _, err := VerifyCosigned(both, k.Verifier(), []CosignerKey{w1, w2}, 2); err != nil {
		t.Errorf("quorum 2: %v", err)
	}
	// A cosignature's timestamp is signed.
	cs1.Sig[7] ^= 1
	if _, err := VerifyCosignature(c.Body(), cs1, w1); !errors.Is(err, ErrNoteSig) {
		t.Errorf("altered timestamp: %v", err)
	}
}

func FuzzParseNote(f *testing.F) {
	k := testLogKey("evote.example/f", false)
	note, _ := SignCheckpoint(Checkpoint{Origin: k.Origin, Size: 1, Time: time.Unix(1, 0)}, k)
	f.Add(note)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNote(b)
		if err != nil {
			return
		}
		if !bytes.Equal(n.Bytes(), b) {
			t.Fatalf("note does not re-encode identically")
		}
		if c, err := ParseCheckpoint(n.Body); err == nil && !bytes.Equal(c.Body(), n.Body) {
			t.Fatalf("checkpoint body does not re-encode identically")
		}
		_, _, _ = VerifyCheckpoint(b, k.Verifier())
	})
}
