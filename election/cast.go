package election

// RepeatedCiphertext reports whether a ciphertext of cb repeats one of an
// earlier ballot or audited ballot (spec §9.5 rule 5), and the position of
// that entry: the one casting rule a caller cannot see through the other
// accessors, for a verifier naming the rule CheckCast refused a ballot
// for.
func (s *State) RepeatedCiphertext(cb *CheckedBallot) (uint64, bool) {
	for _, h := range cb.ctHashes {
		if p, dup := s.ciphertexts.get(h); dup {
			return p, true
		}
	}
	return 0, false
}
