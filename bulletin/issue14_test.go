package bulletin

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Issue 14, case 2: what a checkpoint checked against an election's
// anchors may carry (§7.5, §7.6).

// cosignedFixture returns a checkpoint signed by a log and cosigned by two
// witnesses, with the keys.
func cosignedFixture(t *testing.T) (note []byte, k *LogKey, ws []CosignerKey, signers []*Ed25519Signer, c Checkpoint) {
	t.Helper()
	k = testLogKey("evote.example/strict", false)
	c = Checkpoint{Origin: k.Origin, Size: 5, Root: [32]byte{5}, Time: time.Unix(1_800_000_000, 0).UTC()}
	note, err := SignCheckpoint(c, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"witness.example/w1", "witness.example/w2"} {
		s := seededEd25519(name)
		w := CosignerKey{Name: name, Public: s.Public()}
		cs, err := Cosign(c.Body(), w, s, time.Unix(1_800_000_010, 0))
		if err != nil {
			t.Fatal(err)
		}
		if note, err = AddSignatures(note, cs); err != nil {
			t.Fatal(err)
		}
		ws, signers = append(ws, w), append(signers, s)
	}
	return note, k, ws, signers, c
}

// TestNoteDuplicateKeyLines: two signature lines for one key (same name and
// key ID) are malformed, whichever of them verifies: verifiers that take
// the first and verifiers that take the last would otherwise disagree.
func TestNoteDuplicateKeyLines(t *testing.T) {
	note, k, ws, _, _ := cosignedFixture(t)
	n, err := ParseNote(note)
	if err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"log", "witness w1", "witness w2"} {
		dup := *n
		dup.Sigs = append(append([]NoteSignature{}, n.Sigs...), n.Sigs[i])
		if _, err := ParseNote(dup.Bytes()); !errors.Is(err, ErrNote) {
			t.Errorf("%s line twice: ParseNote: %v", what, err)
		}
		if _, err := VerifyCosigned(dup.Bytes(), k.Verifier(), ws, 2); !errors.Is(err, ErrNote) {
			t.Errorf("%s line twice: VerifyCosigned: %v", what, err)
		}
		// The second copy corrupted: a first-wins verifier accepts it, a
		// last-wins one refuses it.
		bad := append([]byte{}, n.Sigs[i].Sig...)
		bad[len(bad)-1] ^= 1
		dup.Sigs[len(dup.Sigs)-1].Sig = bad
		if _, err := VerifyCosigned(dup.Bytes(), k.Verifier(), ws, 2); !errors.Is(err, ErrNote) {
			t.Errorf("%s line twice, second corrupted: %v", what, err)
		}
	}
	if _, err := AddSignatures(note, n.Sigs[1]); !errors.Is(err, ErrNote) {
		t.Errorf("AddSignatures repeats a witness's line: %v", err)
	}
}

// TestCosignedUnknownSigner: a checkpoint checked against an election's
// anchors carries only the log's lines and the listed witnesses'
// cosignatures.
func TestCosignedUnknownSigner(t *testing.T) {
	note, k, ws, _, c := cosignedFixture(t)
	if _, err := VerifyCosigned(note, k.Verifier(), ws, 2); err != nil {
		t.Fatal(err)
	}
	// A cosignature from a witness outside the list, valid in itself.
	s := seededEd25519("witness.example/stranger")
	stranger := CosignerKey{Name: "witness.example/stranger", Public: s.Public()}
	cs, _ := Cosign(c.Body(), stranger, s, time.Unix(1_800_000_020, 0))
	extra, err := AddSignatures(note, cs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCosigned(extra, k.Verifier(), ws, 2); !errors.Is(err, ErrUnexpectedSigner) || !errors.Is(err, ErrNoteSig) {
		t.Errorf("unknown witness's cosignature: %v", err)
	}
	// A listed witness's name with another key.
	s2 := seededEd25519("other key")
	impostor := CosignerKey{Name: ws[0].Name, Public: s2.Public()}
	cs2, _ := Cosign(c.Body(), impostor, s2, time.Unix(1_800_000_020, 0))
	extra2, _ := AddSignatures(note, cs2)
	if _, err := VerifyCosigned(extra2, k.Verifier(), ws, 2); !errors.Is(err, ErrUnexpectedSigner) {
		t.Errorf("listed name, unknown key: %v", err)
	}
	// An ML-DSA-65 line the anchors do not pin.
	pq := testLogKey(k.Origin, true)
	pq.Ed25519, pq.Ed25519Public = k.Ed25519, k.Ed25519Public
	both, _ := SignCheckpoint(c, pq)
	pn, _ := ParseNote(both)
	withPQ, _ := AddSignatures(note, pn.Sigs[1])
	if _, err := VerifyCosigned(withPQ, k.Verifier(), ws, 2); !errors.Is(err, ErrUnexpectedSigner) {
		t.Errorf("ML-DSA-65 line not pinned: %v", err)
	}
	// The log's own checks and a witness's still ignore foreign lines.
	if _, _, err := VerifyCheckpoint(extra, k.Verifier()); err != nil {
		t.Errorf("VerifyCheckpoint: %v", err)
	}
}

// TestCheckpointExtensionLines: the body is exactly origin, size, root and
// one time line; C2SP allows extension lines, evote's checkpoints have
// only this one.
func TestCheckpointExtensionLines(t *testing.T) {
	root := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	for _, b := range []string{
		"o\n7\n" + root + "\nextra\ntime 1\n",
		"o\n7\n" + root + "\ntime 1\ntime 1\n",
		"o\n7\n" + root + "\ntime 1\ntime 2\n",
		"o\n7\n" + root + "\ntime  1\n",
		"o\n7\n" + root + "\ntime\n",
		"o\n7\n" + root + "\nTime 1\n",
		"o\n7\n" + root + "\ntime 1 \n",
		"o\n7\n" + root + "\ntime 9223372036854775808\n",
	} {
		if _, err := ParseCheckpoint([]byte(b)); !errors.Is(err, ErrNote) {
			t.Errorf("%q: %v", strings.ReplaceAll(b, "\n", `\n`), err)
		}
	}
}
