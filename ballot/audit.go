package ballot

import (
	"errors"
	"fmt"
	"slices"

	"evote/crypto/elgamal"
	"evote/crypto/group"
	"evote/internal/wire"
)

// ErrAuditMismatch is returned when an audited ballot's opening does not
// reproduce its ciphertexts or is not a valid choice.
var ErrAuditMismatch = errors.New("ballot: audited ballot does not open correctly")

const auditFormat = 1

// An AuditedContest is the opening of one contest of an audited ballot: the
// ciphertexts and, for each, the plaintext and randomness.
type AuditedContest struct {
	Ciphertexts []*elgamal.Ciphertext
	Plaintexts  []uint32
	Randomness  []*group.Scalar
}

// An AuditedBallot is a Benaloh-audited ballot as published on the board
// (spec §9.4): no credential key, pseudonym, proof or tracking code, so it
// shows an intention without saying whose.
type AuditedBallot struct {
	ElectionID string
	Style      string
	Contests   []AuditedContest
}

// Encode returns the canonical encoding.
func (a *AuditedBallot) Encode() []byte {
	w := wire.NewWriter(512)
	w.U8(auditFormat)
	w.String(a.ElectionID)
	w.String(a.Style)
	w.U32(uint32(len(a.Contests)))
	for _, c := range a.Contests {
		w.U32(uint32(len(c.Ciphertexts)))
		for _, ct := range c.Ciphertexts {
			w.Ciphertext(ct)
		}
		w.U32(uint32(len(c.Plaintexts)))
		for _, m := range c.Plaintexts {
			w.U32(m)
		}
		w.U32(uint32(len(c.Randomness)))
		for _, r := range c.Randomness {
			w.Scalar(r)
		}
	}
	return w.Bytes()
}

// DecodeAuditedBallot parses a canonical audited ballot.
func DecodeAuditedBallot(p []byte) (*AuditedBallot, error) {
	r := wire.NewReader(p)
	if v := r.U8("format"); r.Err() == nil && v != auditFormat {
		return nil, fmt.Errorf("%w: audited ballot format %d", ErrMalformedBallot, v)
	}
	a := &AuditedBallot{ElectionID: r.String(maxIDLen, "election id"), Style: r.String(maxIDLen, "ballot style")}
	n := r.Count(maxItems, 12, "contests")
	for i := 0; i < n; i++ {
		var c AuditedContest
		k := r.Count(maxCandidates, elgamal.CiphertextSize, "ciphertexts")
		for j := 0; j < k; j++ {
			c.Ciphertexts = append(c.Ciphertexts, r.Ciphertext("ciphertext"))
		}
		k = r.Count(maxCandidates, 4, "plaintexts")
		for j := 0; j < k; j++ {
			c.Plaintexts = append(c.Plaintexts, r.U32("plaintext"))
		}
		k = r.Count(maxCandidates, group.ScalarSize, "randomness")
		for j := 0; j < k; j++ {
			c.Randomness = append(c.Randomness, r.Scalar("randomness"))
		}
		a.Contests = append(a.Contests, c)
	}
	if err := r.Finish(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedBallot, err)
	}
	return a, nil
}

// AuditedFlag is the plaintext of the flag an audited ballot of an election
// in deniable re-voting mode opens (spec §15.9): f = 1, an online ballot
// (revote.FlagBallot), the only flag a voter's device sets.
const AuditedFlag = 1

// WithFlag returns a with the opening of its row's flag appended (spec
// §15.9): in deniable re-voting mode an audit opens the row's flag C_f
// (plaintext AuditedFlag, randomness r) after the style's contests, so
// that a device which would flag its voter's ballot 0 (not counted) is
// caught by an audit like one that would encrypt another choice.
func (a *AuditedBallot) WithFlag(flag *elgamal.Ciphertext, r *group.Scalar) *AuditedBallot {
	out := *a
	out.Contests = append(slices.Clone(a.Contests), AuditedContest{Ciphertexts: []*elgamal.Ciphertext{flag}, Plaintexts: []uint32{AuditedFlag}, Randomness: []*group.Scalar{r}})
	return &out
}

// flagged reports whether audits of m's elections open the row's flag
// after the style's contests (deniable re-voting mode).
func flagged(m *Manifest) bool { return m.Coercion.Mode == DeniableRevoting }

// Verify checks an audited ballot (spec §9.4): every ciphertext is
// Enc(m; r) under pk, the plaintexts are a valid choice for each contest of
// the style, and no ciphertext appears twice in it. It is the one check of
// an audit's own content: the ballot box calls it before posting an audit
// and the election rules when replaying one; whether a ciphertext repeats
// one already on the board is the caller's check.
func (a *AuditedBallot) Verify(m *Manifest, pk *elgamal.PublicKey) error {
	if a.ElectionID != m.ElectionID {
		return fmt.Errorf("%w: election %q, want %q", ErrAuditMismatch, a.ElectionID, m.ElectionID)
	}
	style, ok := m.Style(a.Style)
	if !ok {
		return fmt.Errorf("%w: unknown ballot style %q", ErrAuditMismatch, a.Style)
	}
	want := len(style.Contests)
	if flagged(m) {
		want++ // the row's flag, last (spec §15.9)
	}
	if len(a.Contests) != want {
		return fmt.Errorf("%w: %d contests, style has %d", ErrAuditMismatch, len(a.Contests), want)
	}
	type place struct {
		contest string
		index   int
	}
	seen := map[string]place{}
	for i := range a.Contests {
		c := a.Contests[i]
		id := "flag"
		if i < len(style.Contests) {
			id = style.Contests[i]
		}
		if len(c.Plaintexts) != len(c.Ciphertexts) || len(c.Randomness) != len(c.Ciphertexts) {
			return fmt.Errorf("%w: contest %s has %d ciphertexts, %d plaintexts, %d randomness values", ErrAuditMismatch, id, len(c.Ciphertexts), len(c.Plaintexts), len(c.Randomness))
		}
		if i < len(style.Contests) {
			contest, _ := m.Contest(id)
			if err := contest.checkPlaintexts(c.Plaintexts); err != nil {
				return fmt.Errorf("%w: %w", ErrAuditMismatch, err)
			}
		} else if len(c.Plaintexts) != 1 || c.Plaintexts[0] != AuditedFlag {
			return fmt.Errorf("%w: the row's flag opens to %v, an online ballot's is %d", ErrAuditMismatch, c.Plaintexts, AuditedFlag)
		}
		for j, ct := range c.Ciphertexts {
			k := string(ct.Bytes())
			if p, dup := seen[k]; dup {
				return fmt.Errorf("%w: audited ballot repeats a ciphertext: contest %s ciphertext %d equals contest %s ciphertext %d", ErrAuditMismatch, id, j, p.contest, p.index)
			}
			seen[k] = place{id, j}
			want := pk.EncryptWithRandomness(new(group.Scalar).SetUint64(uint64(c.Plaintexts[j])), c.Randomness[j])
			if !want.Equal(ct) {
				return fmt.Errorf("%w: contest %s ciphertext %d is not the encryption of its opening", ErrAuditMismatch, id, j)
			}
		}
	}
	return nil
}

// Opens reports whether a is an opening of exactly the ciphertexts of b:
// the same election and style, and the same ciphertexts contest by contest,
// in order. With Verify, this is what the voter's second device checks: the
// ballot whose tracking code the voter was shown opens to these choices.
func (a *AuditedBallot) Opens(b *EncryptedBallot) bool {
	if len(a.Contests) != len(b.Contests) {
		return false
	}
	return a.opensContests(b)
}

// OpensRow reports whether a is an opening of exactly the ciphertexts of a
// row in deniable re-voting mode (spec §15.9): its ballot b, contest by
// contest, then its flag.
func (a *AuditedBallot) OpensRow(b *EncryptedBallot, flag *elgamal.Ciphertext) bool {
	if len(a.Contests) != len(b.Contests)+1 {
		return false
	}
	last := a.Contests[len(b.Contests)]
	return len(last.Ciphertexts) == 1 && last.Ciphertexts[0].Equal(flag) && a.opensContests(b)
}

// opensContests compares the first contests of a with those of b.
func (a *AuditedBallot) opensContests(b *EncryptedBallot) bool {
	if a.ElectionID != b.ElectionID || a.Style != b.Style || len(a.Contests) < len(b.Contests) {
		return false
	}
	for i, c := range a.Contests[:len(b.Contests)] {
		if len(c.Ciphertexts) != len(b.Contests[i].Ciphertexts) {
			return false
		}
		for j, ct := range c.Ciphertexts {
			if !ct.Equal(b.Contests[i].Ciphertexts[j]) {
				return false
			}
		}
	}
	return true
}

// checkPlaintexts checks that values are a valid choice: for a
// single-choice contest one value in [0, k]; for a multi-select contest one
// 0/1 value per candidate with at most MaxSelections ones.
func (c *Contest) checkPlaintexts(values []uint32) error {
	switch c.Kind {
	case SingleChoice:
		if len(values) != 1 || values[0] > uint32(len(c.Candidates)) {
			return fmt.Errorf("contest %s: choice %v outside [0, %d]", c.ID, values, len(c.Candidates))
		}
	case MultiSelect:
		if len(values) != len(c.Candidates) {
			return fmt.Errorf("contest %s: %d values for %d candidates", c.ID, len(values), len(c.Candidates))
		}
		sum := uint32(0)
		for _, v := range values {
			if v > 1 {
				return fmt.Errorf("contest %s: selection value %d is not 0 or 1", c.ID, v)
			}
			sum += v
		}
		if sum > c.MaxSelections {
			return fmt.Errorf("contest %s: %d selections, at most %d allowed", c.ID, sum, c.MaxSelections)
		}
	}
	return nil
}

// Describe returns the chosen candidates of each contest in language lang,
// for showing an audited ballot to its voter.
func (a *AuditedBallot) Describe(m *Manifest, lang string) ([]string, error) {
	style, ok := m.Style(a.Style)
	want := len(style.Contests)
	if ok && flagged(m) {
		want++ // the flag, which Verify checks is 1: nothing to show
	}
	if !ok || len(a.Contests) != want {
		return nil, fmt.Errorf("%w: style %q does not match", ErrAuditMismatch, a.Style)
	}
	var out []string
	for i, id := range style.Contests {
		c, _ := m.Contest(id)
		out = append(out, c.Title.Get(lang)+": "+c.Describe(a.Contests[i].Plaintexts, lang))
	}
	return out, nil
}

// Describe renders plaintext values of the contest as candidate names.
func (c *Contest) Describe(values []uint32, lang string) string {
	blank := map[string]string{"ky": "бош", "ru": "пусто", "uz": "bo'sh", "en": "blank"}[lang]
	if blank == "" {
		blank = "blank"
	}
	var names []string
	switch c.Kind {
	case SingleChoice:
		if len(values) == 1 && values[0] >= 1 && int(values[0]) <= len(c.Candidates) {
			names = append(names, c.Candidates[values[0]-1].Name.Get(lang))
		}
	case MultiSelect:
		for j, v := range values {
			if v == 1 && j < len(c.Candidates) {
				names = append(names, c.Candidates[j].Name.Get(lang))
			}
		}
	}
	if len(names) == 0 {
		return blank
	}
	s := names[0]
	for _, n := range names[1:] {
		s += ", " + n
	}
	return s
}
