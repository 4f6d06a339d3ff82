package threshold_test

import (
	"fmt"

	"evote/crypto/elgamal"
	"evote/crypto/threshold"
)

// Example runs key generation among three in-memory trustees (any two can
// decrypt), then decrypts a ciphertext. In a real election each round's
// messages go through the bulletin board as bytes, and each trustee runs on
// its own machine.
func Example() {
	p := threshold.Params{N: 3, T: 2}
	var keys []*threshold.HPKEPrivateKey
	var peers []threshold.HPKEPublicKey
	var reg []threshold.TrusteeKeys
	for range p.N {
		k, _ := threshold.GenerateHPKEKey(nil)
		keys = append(keys, k)
		peers = append(peers, k.Public())
		reg = append(reg, threshold.TrusteeKeys{HPKEKey: k.Public()}) // and the Ed25519 board key
	}
	var manifestHash [32]byte
	base, err := threshold.BaseHash(manifestHash, p, reg)
	if err != nil {
		panic(err)
	}
	var trustees []*threshold.Trustee
	for j := 1; j <= p.N; j++ {
		tr, err := threshold.NewTrustee(p, base, j, keys[j-1], peers, nil)
		if err != nil {
			panic(err)
		}
		trustees = append(trustees, tr)
	}

	board := &threshold.Transcript{Params: p, BaseHash: base}
	for _, tr := range trustees { // phase 1: commitments and encrypted shares
		c, e, _ := tr.Deal()
		board.Commitments = append(board.Commitments, c)
		board.EncryptedShares = append(board.EncryptedShares, e)
	}
	for _, tr := range trustees { // complaints about bad shares
		cs, _ := tr.Complain(board)
		board.Complaints = append(board.Complaints, cs...)
	}
	for _, tr := range trustees { // public answers
		board.Answers = append(board.Answers, tr.Answer(board)...)
	}
	board.Qualified, _, _ = threshold.ComputeQualified(board)
	for _, tr := range trustees { // phase 2: extraction
		e, _ := tr.Extract(board)
		board.Extraction = append(board.Extraction, e)
	}
	for _, tr := range trustees {
		cs, _ := tr.ComplainExtraction(board)
		board.ExtractionComplaints = append(board.ExtractionComplaints, cs...)
	}
	for _, tr := range trustees {
		rs, _ := tr.Reveal(board)
		board.Reveals = append(board.Reveals, rs...)
	}
	var shares []*threshold.KeyShare
	for _, tr := range trustees {
		ks, _, err := tr.Finish(board)
		if err != nil {
			panic(err)
		}
		shares = append(shares, ks)
	}
	res, err := threshold.VerifyTranscript(board) // what any auditor runs
	if err != nil {
		panic(err)
	}
	fmt.Println("QUAL:", res.Qualified)

	var voterList [32]byte
	ext := threshold.ExtendedHash(base, res.JointKey, res.VerificationKeys, voterList)
	pk, _ := elgamal.NewPublicKey(res.JointKey)
	ct, _, _ := pk.Encrypt(7, nil)
	cts := []*elgamal.Ciphertext{ct}
	var ds []*threshold.DecryptionShare
	for _, j := range []int{1, 3} { // any two trustees
		d, _ := shares[j-1].DecryptShares(ext, cts, nil)
		ds = append(ds, d)
	}
	ms, bad, err := threshold.Decrypt(p, ext, res.VerificationKeys, cts, ds, elgamal.NewDLogTable(100))
	fmt.Println("plaintexts:", ms, "invalid shares:", len(bad), "error:", err)
	// Output:
	// QUAL: [1 2 3]
	// plaintexts: [7] invalid shares: 0 error: <nil>
}
