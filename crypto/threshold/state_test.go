package threshold

import (
	"bytes"
	"errors"
	"testing"
)

// TestStateRestore saves and restores every trustee between every two
// rounds; the result must equal an uninterrupted run.
func TestStateRestore(t *testing.T) {
	ref := newDKG(t, Params{N: 3, T: 2}, "state")
	if err := ref.run(hooks{}); err != nil {
		t.Fatal(err)
	}
	d := newDKG(t, Params{N: 3, T: 2}, "state")
	peers := make([]HPKEPublicKey, 3)
	for i, k := range d.keys {
		peers[i] = k.Public()
	}
	restore := func() {
		for i, tr := range d.trustees {
			st := tr.MarshalState()
			r, err := RestoreTrustee(st, d.keys[i], peers, tr.rand)
			if err != nil {
				t.Fatalf("trustee %d: %v", i+1, err)
			}
			if !bytes.Equal(r.MarshalState(), st) {
				t.Fatalf("trustee %d: state does not round-trip", i+1)
			}
			d.trustees[i] = r
		}
	}
	restore()
	tr := d.tr
	for _, x := range d.trustees {
		c, e, err := x.Deal()
		if err != nil {
			t.Fatal(err)
		}
		tr.Commitments, tr.EncryptedShares = append(tr.Commitments, c), append(tr.EncryptedShares, e)
	}
	restore()
	for _, x := range d.trustees {
		cs, _ := x.Complain(tr)
		tr.Complaints = append(tr.Complaints, cs...)
	}
	restore()
	q, _, _ := ComputeQualified(tr)
	tr.Qualified = q
	for _, x := range d.trustees {
		e, err := x.Extract(tr)
		if err != nil {
			t.Fatal(err)
		}
		tr.Extraction = append(tr.Extraction, e)
	}
	restore()
	for i, x := range d.trustees {
		ks, res, err := x.Finish(tr)
		if err != nil {
			t.Fatal(err)
		}
		if res.JointKey.Equal(ref.res.JointKey) != 1 || ks.x.Equal(&ref.shares[i].x) != 1 {
			t.Fatal("restored run differs from the uninterrupted one")
		}
		k2, err := ParseKeyShare(ks.Bytes())
		if err != nil || k2.vk.Equal(&ks.vk) != 1 || k2.Index != ks.Index {
			t.Fatalf("key share round trip: %v", err)
		}
	}
	// A state with a tampered polynomial is refused.
	st := d.trustees[0].MarshalState()
	st[1+2+2+32+2+1] ^= 1
	if _, err := RestoreTrustee(st, d.keys[0], peers, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("tampered state: %v", err)
	}
	if _, err := RestoreTrustee(d.trustees[0].MarshalState(), d.keys[1], peers, nil); err == nil {
		t.Fatal("state restored under another trustee's key")
	}
}

func FuzzRestoreTrustee(f *testing.F) {
	d := newDKG(f, Params{N: 3, T: 2}, "fuzz state")
	peers := make([]HPKEPublicKey, 3)
	for i, k := range d.keys {
		peers[i] = k.Public()
	}
	f.Add(d.trustees[0].MarshalState())
	if _, _, err := d.trustees[0].Deal(); err != nil {
		f.Fatal(err)
	}
	f.Add(d.trustees[0].MarshalState())
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := RestoreTrustee(b, d.keys[0], peers, nil)
		if err != nil {
			return
		}
		if !bytes.Equal(tr.MarshalState(), b) {
			t.Fatalf("accepted a non-canonical state: %x", b)
		}
	})
}

func FuzzParseKeyShare(f *testing.F) {
	f.Add(append([]byte{0, 1}, make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyShare(b)
		if err != nil {
			return
		}
		if !bytes.Equal(k.Bytes(), b) {
			t.Fatalf("accepted a non-canonical key share: %x", b)
		}
	})
}
