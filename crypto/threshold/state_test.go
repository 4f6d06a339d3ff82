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

// TestDealingAfterRestore: a trustee restored from the state saved right
// after Deal gives the same commitments again, and shares encrypted afresh
// that every recipient opens, without complaint, to the share Deal sent.
func TestDealingAfterRestore(t *testing.T) {
	d := newDKG(t, Params{N: 3, T: 2}, "dealing")
	peers := make([]HPKEPublicKey, 3)
	for i, k := range d.keys {
		peers[i] = k.Public()
	}
	if _, _, err := d.trustees[0].Dealing(); err == nil {
		t.Fatal("Dealing before Deal")
	}
	tr := d.tr
	for _, x := range d.trustees {
		c, e, err := x.Deal()
		if err != nil {
			t.Fatal(err)
		}
		tr.Commitments, tr.EncryptedShares = append(tr.Commitments, c), append(tr.EncryptedShares, e)
	}
	r, err := RestoreTrustee(d.trustees[0].MarshalState(), d.keys[0], peers, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Params() != d.p || r.BaseHash() != d.base || r.Index() != 1 {
		t.Fatal("restored trustee reports other parameters")
	}
	c, e, err := r.Dealing()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Bytes(), tr.Commitments[0].Bytes()) {
		t.Fatal("commitments differ from Deal's")
	}
	if bytes.Equal(e.Bytes(), tr.EncryptedShares[0].Bytes()) {
		t.Fatal("shares not encrypted afresh")
	}
	// Recipients 2 and 3 check the re-encrypted shares instead of Deal's.
	re := *tr
	re.EncryptedShares = []*EncryptedShares{e, tr.EncryptedShares[1], tr.EncryptedShares[2]}
	for j := 2; j <= 3; j++ {
		x := d.trustees[j-1]
		// Open Deal's share first, then the new one: both must agree.
		if cs, err := x.Complain(tr); err != nil || len(cs) != 0 {
			t.Fatalf("trustee %d on Deal's shares: %v, %d complaints", j, err, len(cs))
		}
		want := *x.got[1][0]
		if cs, err := x.Complain(&re); err != nil || len(cs) != 0 {
			t.Fatalf("trustee %d on re-encrypted shares: %v, %d complaints", j, err, len(cs))
		}
		if x.got[1][0].Equal(&want) != 1 {
			t.Fatalf("trustee %d: re-encrypted share differs", j)
		}
	}
}

// TestMaxStateSize: the largest state MarshalState can give is
// MaxStateSize bytes.
func TestMaxStateSize(t *testing.T) {
	p := Params{N: MaxTrustees, T: MaxTrustees}
	d := newDKG(t, p, "max state")
	x := d.trustees[0]
	if _, _, err := x.Deal(); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= p.N; i++ {
		x.got[i] = x.got[1]
	}
	if n := len(x.MarshalState()); n != MaxStateSize {
		t.Fatalf("full state is %d bytes, MaxStateSize %d", n, MaxStateSize)
	}
}
