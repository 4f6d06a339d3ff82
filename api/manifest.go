package api

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"evote/ballot"
	"evote/internal/httpedge"
)

// TextForm is a text in the four languages of a manifest.
type TextForm struct {
	Ky string `json:"ky"`
	Ru string `json:"ru"`
	Uz string `json:"uz"`
	En string `json:"en"`
}

func (t TextForm) text() ballot.Text { return ballot.Text{Ky: t.Ky, Ru: t.Ru, Uz: t.Uz, En: t.En} }

// missing appends "what (lang)" for each language left empty.
func (t TextForm) missing(what string, out []string) []string {
	for i, v := range [4]string{t.Ky, t.Ru, t.Uz, t.En} {
		if strings.TrimSpace(v) == "" {
			out = append(out, what+" ("+ballot.Languages[i]+")")
		}
	}
	return out
}

// NamedForm is a constituency or a candidate: an id and a name.
type NamedForm struct {
	ID   string   `json:"id"`
	Name TextForm `json:"name"`
}

// ContestForm is one contest of a ManifestForm.
type ContestForm struct {
	ID    string   `json:"id"`
	Title TextForm `json:"title"`
	// Kind is "single" (one candidate or blank) or "multi" (up to
	// MaxSelections candidates).
	Kind          string      `json:"kind"`
	MaxSelections uint32      `json:"max_selections"`
	Candidates    []NamedForm `json:"candidates"`
}

// StyleForm is one ballot style of a ManifestForm.
type StyleForm struct {
	ID           string   `json:"id"`
	Constituency string   `json:"constituency"`
	Contests     []string `json:"contests"`
}

// TrusteeForm is one trustee: a name and the public keys exactly as
// `evote trustee init` prints them ("signing key: <hex>", "hpke key: <hex>").
type TrusteeForm struct {
	Name       string `json:"name"`
	PublicKeys string `json:"public_keys"`
}

// ManifestForm is POST /elections/manifest: an election as an official
// fills it in a form. The server adds what it alone knows and every
// party checks through the fingerprint: its log's origin and keys, the
// witnesses (all configured ones, or those named), the identity service's
// key it requires and the voting page it serves.
type ManifestForm struct {
	ElectionID     string        `json:"election_id"`
	Title          TextForm      `json:"title"`
	AuthorityName  TextForm      `json:"authority_name"`
	AuthorityHelp  TextForm      `json:"authority_help"`
	Emblem         string        `json:"emblem,omitempty"` // base64url PNG or SVG
	Constituencies []NamedForm   `json:"constituencies"`
	Contests       []ContestForm `json:"contests"`
	BallotStyles   []StyleForm   `json:"ballot_styles"`
	VotingStart    uint64        `json:"voting_start"`
	VotingEnd      uint64        `json:"voting_end"`
	// Revote is "last" (the last ballot counts) or "single".
	Revote       string        `json:"revote"`
	MinAnonymity uint32        `json:"min_anonymity"`
	Trustees     []TrusteeForm `json:"trustees"`
	Threshold    uint32        `json:"threshold"`
	// Mixes defaults to the number of trustees.
	Mixes uint32 `json:"mixes,omitempty"`
	// Witnesses names the server's witnesses the board needs (default:
	// all of them); Quorum how many must cosign (default: all named).
	Witnesses []string `json:"witnesses,omitempty"`
	Quorum    uint32   `json:"quorum,omitempty"`
	// IdentityKey (hex) is needed only when the server does not fix one.
	IdentityKey string `json:"identity_key,omitempty"`
	// Coercion is "none" (the default) or "deniable-revoting" (spec
	// §15.1), which needs revote "last" and the three numbers below: the
	// slot length Δ in seconds, the rows B published per slot and the
	// rows M of every voter. The form composes such a manifest; POST
	// /elections refuses it (coercion_unsupported) unless the server has
	// an identity service credential source and a store with the
	// re-voting ledger (spec §15.16).
	Coercion    string `json:"coercion,omitempty"`
	SlotSeconds uint32 `json:"slot_seconds,omitempty"`
	SlotRows    uint32 `json:"slot_rows,omitempty"`
	MaxBallots  uint32 `json:"max_ballots,omitempty"`
}

// coercion reads the form's coercion option. The manifest's Validate
// checks the bounds; here only what the form alone can get wrong.
func (f *ManifestForm) coercion() (ballot.Coercion, error) {
	switch f.Coercion {
	case "", "none":
		if f.SlotSeconds != 0 || f.SlotRows != 0 || f.MaxBallots != 0 {
			return ballot.Coercion{}, errors.New("api: slot_seconds, slot_rows and max_ballots go only with coercion deniable-revoting")
		}
		return ballot.Coercion{}, nil
	case "deniable-revoting":
		if f.MaxBallots > ballot.MaxMaxBallots {
			return ballot.Coercion{}, fmt.Errorf("api: max_ballots %d outside %d..%d", f.MaxBallots, ballot.MinMaxBallots, ballot.MaxMaxBallots)
		}
		return ballot.Coercion{Mode: ballot.DeniableRevoting, SlotSeconds: f.SlotSeconds, SlotRows: f.SlotRows, MaxBallots: uint8(f.MaxBallots)}, nil
	}
	return ballot.Coercion{}, fmt.Errorf("api: coercion must be none or deniable-revoting, not %q", f.Coercion)
}

// ManifestView answers POST /elections/manifest: the canonical manifest
// to submit with POST /elections, and its fingerprint to publish.
type ManifestView struct {
	ElectionID     string `json:"election_id"`
	Manifest       string `json:"manifest"`
	Fingerprint    string `json:"fingerprint"`
	FingerprintHex string `json:"fingerprint_hex"`
}

// ParseTrusteeKeys reads a trustee's public keys from the text `evote
// trustee init` prints: the lines "signing key: <64 hex>" and "hpke key:
// <64 hex>"; other lines are ignored.
func ParseTrusteeKeys(text string) (sign [32]byte, hpke []byte, err error) {
	var haveSign bool
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		b, derr := hex.DecodeString(strings.TrimSpace(v))
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "signing key":
			if derr != nil || len(b) != 32 {
				return sign, nil, errors.New("api: the signing key must be 64 hex digits")
			}
			sign, haveSign = [32]byte(b), true
		case "hpke key":
			if derr != nil || len(b) != 32 {
				return sign, nil, errors.New("api: the hpke key must be 64 hex digits")
			}
			hpke = b
		}
	}
	if !haveSign || hpke == nil {
		return sign, nil, errors.New("api: want the lines \"signing key: …\" and \"hpke key: …\" as evote trustee init prints them")
	}
	return sign, hpke, nil
}

// missingTranslations lists every text of the form left empty in some
// language.
func (f *ManifestForm) missingTranslations() []string {
	var out []string
	out = f.Title.missing("title", out)
	out = f.AuthorityName.missing("authority name", out)
	out = f.AuthorityHelp.missing("authority help", out)
	for _, c := range f.Constituencies {
		out = c.Name.missing("constituency "+c.ID, out)
	}
	for _, c := range f.Contests {
		out = c.Title.missing("contest "+c.ID, out)
		for _, k := range c.Candidates {
			out = k.Name.missing("contest "+c.ID+" candidate "+k.ID, out)
		}
	}
	return out
}

// build turns the form into a manifest with the server's anchors.
func (s *Server) buildManifest(f *ManifestForm) (*ballot.Manifest, error) {
	anchors, idKey, err := s.Registry.Anchors(f.ElectionID)
	if err != nil {
		return nil, err
	}
	m := &ballot.Manifest{ElectionID: f.ElectionID, Title: f.Title.text(), VotingStart: f.VotingStart, VotingEnd: f.VotingEnd,
		MinAnonymity: f.MinAnonymity, Threshold: f.Threshold, Mixes: f.Mixes, ClientHash: s.ClientHash,
		Authority: ballot.Authority{Name: f.AuthorityName.text(), Help: f.AuthorityHelp.text()}}
	if f.Emblem != "" {
		if m.Authority.Emblem, err = base64.RawURLEncoding.Strict().DecodeString(f.Emblem); err != nil {
			return nil, errors.New("api: emblem must be base64url without padding")
		}
	}
	for _, c := range f.Constituencies {
		m.Constituencies = append(m.Constituencies, ballot.Constituency{ID: c.ID, Name: c.Name.text()})
	}
	for _, c := range f.Contests {
		ct := ballot.Contest{ID: c.ID, Title: c.Title.text(), MaxSelections: c.MaxSelections}
		switch c.Kind {
		case "single":
			ct.Kind, ct.MaxSelections = ballot.SingleChoice, 1
		case "multi":
			ct.Kind = ballot.MultiSelect
		default:
			return nil, fmt.Errorf("api: contest %s: kind must be single or multi", c.ID)
		}
		for _, k := range c.Candidates {
			ct.Candidates = append(ct.Candidates, ballot.Candidate{ID: k.ID, Name: k.Name.text()})
		}
		m.Contests = append(m.Contests, ct)
	}
	for _, st := range f.BallotStyles {
		m.BallotStyles = append(m.BallotStyles, ballot.BallotStyle{ID: st.ID, Constituency: st.Constituency, Contests: st.Contests})
	}
	switch f.Revote {
	case "last":
		m.Revote = ballot.LastBallotCounts
	case "single":
		m.Revote = ballot.SingleBallot
	default:
		return nil, errors.New("api: revote must be last or single")
	}
	if m.Coercion, err = f.coercion(); err != nil {
		return nil, err
	}
	for i, t := range f.Trustees {
		sign, hpke, err := ParseTrusteeKeys(t.PublicKeys)
		if err != nil {
			return nil, fmt.Errorf("trustee %d: %w", i+1, err)
		}
		m.Trustees = append(m.Trustees, ballot.Trustee{Index: uint32(i + 1), Name: t.Name, SignKey: sign, HPKEKey: hpke})
	}
	if m.Mixes == 0 {
		m.Mixes = uint32(len(m.Trustees))
	}
	switch {
	case idKey != nil:
		m.IdentityKey = *idKey
		if f.IdentityKey != "" && f.IdentityKey != hex.EncodeToString(idKey[:]) {
			return nil, errors.New("api: this server accepts only its configured identity service's key")
		}
	default:
		k, err := hex.DecodeString(f.IdentityKey)
		if err != nil || len(k) != 32 {
			return nil, errors.New("api: identity_key must be 64 hex digits (this server fixes none)")
		}
		m.IdentityKey = [32]byte(k)
	}
	if len(f.Witnesses) > 0 {
		all := anchors.Witnesses
		anchors.Witnesses = nil
		for _, name := range f.Witnesses {
			found := false
			for _, w := range all {
				if w.Name == name {
					anchors.Witnesses, found = append(anchors.Witnesses, w), true
				}
			}
			if !found {
				return nil, fmt.Errorf("api: no witness %q is configured on this server", name)
			}
		}
	}
	anchors.Quorum = uint32(len(anchors.Witnesses))
	if f.Quorum != 0 {
		anchors.Quorum = f.Quorum
	}
	m.Board = anchors
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// composeManifest answers POST /elections/manifest: the canonical
// manifest of the form and its fingerprint, through the same validation
// as POST /elections (which the official calls next, with this manifest).
// Nothing is stored.
func (s *Server) composeManifest(c *gin.Context) {
	var f ManifestForm
	if !httpedge.Decode(c, limitOfficial, &f) {
		return
	}
	if miss := f.missingTranslations(); len(miss) > 0 {
		// The code POST /elections answers an invalid manifest; the
		// message lists every text missing in some language.
		httpedge.Fail(c, http.StatusUnprocessableEntity, "entry_invalid", "missing translations: "+strings.Join(miss, ", "))
		return
	}
	m, err := s.buildManifest(&f)
	if err != nil {
		httpedge.Fail(c, http.StatusUnprocessableEntity, "entry_invalid", err.Error())
		return
	}
	fp := m.Fingerprint()
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, ManifestView{ElectionID: m.ElectionID, Manifest: b64s(m.Encode()), Fingerprint: fp.String(), FingerprintHex: fp.Hex()})
}
