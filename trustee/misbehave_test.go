package trustee

import (
	"evote/crypto/group"
	"evote/crypto/shuffle"
	"evote/crypto/threshold"
	"evote/tally"
)

// A misbehaviour alters a message a trustee is about to sign, after its
// proofs are made, so tests can show that the culprit is named on the
// board and the election goes on with the honest trustees. The tool has
// no switch for this: tests set Options.tamper (unexported).
type misbehaviour struct {
	// badMix doubles the first output ciphertext of a mix: its proof of
	// shuffle no longer holds.
	badMix bool
	// badShare adds the generator to the first partial decryption: its
	// proof no longer holds.
	badShare bool
	// badDeal flips a bit of the encrypted share for the first other
	// trustee, who must complain; the dealer then answers the complaint
	// in public and stays qualified.
	badDeal bool
}

// options returns o with m's misbehaviour set (o unchanged when m is nil).
func (m *misbehaviour) options(o Options) Options {
	if m != nil {
		o.tamper = m.tamper
	}
	return o
}

func (m *misbehaviour) tamper(msg any) {
	switch x := msg.(type) {
	case *tally.MixEntry:
		if !m.badMix {
			return
		}
		cts, err := x.Output.Ciphertexts()
		if err != nil {
			panic(err)
		}
		cts[0].Add(cts[0], cts[0])
		if x.Output, err = shuffle.NewRows(x.Output.Width(), cts); err != nil {
			panic(err)
		}
	case *tally.DecryptionEntry:
		if m.badShare {
			x.Share.D[0] = new(group.Element).Add(x.Share.D[0], group.NewGeneratorElement())
		}
	case *threshold.EncryptedShares:
		if m.badDeal {
			x.Shares[0].Ciphertext[0] ^= 1
		}
	}
}
