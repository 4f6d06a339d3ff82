package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"evote/ballot"
	"evote/ballotbox"
	"evote/election"
	"evote/idp/voterlist"
	"evote/internal/httpedge"
)

// ActionView says whether an official's action is possible now and, if
// not, why (the error code and message Act would answer).
type ActionView struct {
	Action  string `json:"action"`
	Ready   bool   `json:"ready"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// TrusteeProgress is one trustee's part as read from the board: key
// generation (commitments, encrypted shares, extraction round, whether it
// is qualified), complaints against it and its answers, and per contest
// the mixes and decryption shares it posted.
type TrusteeProgress struct {
	Index       int    `json:"index"`
	Name        string `json:"name"`
	Commitments bool   `json:"commitments"`
	Shares      bool   `json:"shares"`
	Extraction  bool   `json:"extraction"`
	Qualified   *bool  `json:"qualified,omitempty"`
	Complaints  int    `json:"complaints_against"`
	Answers     int    `json:"answers"`
	Mixed       int    `json:"contests_mixed"`
	Decrypted   int    `json:"contests_decrypted"`
	Invalid     int    `json:"invalid_entries"`
}

// ContestResultView is one contest of the result.
type ContestResultView struct {
	ContestID string   `json:"contest_id"`
	Ballots   uint64   `json:"ballots"`
	Withheld  bool     `json:"withheld"`
	Counts    []uint64 `json:"counts"`
}

// ElectionStatus is GET /elections/{id}/status: what an official's
// console shows of an election, all of it from the board.
type ElectionStatus struct {
	ElectionID string            `json:"election_id"`
	Phase      string            `json:"phase"`
	Size       uint64            `json:"size"`
	Ballots    int               `json:"ballots"`
	Turnout    map[string]int    `json:"turnout"`
	Actions    []ActionView      `json:"actions"`
	Trustees   []TrusteeProgress `json:"trustees"`
	Contests   int               `json:"contests"`
	// Mixable counts the contests trustees mix (single choice, not
	// withheld), Decryptable those they decrypt (not withheld): the
	// denominators of each trustee's progress.
	Mixable     int                 `json:"mixable"`
	Decryptable int                 `json:"decryptable"`
	Result      []ContestResultView `json:"result,omitempty"`
	// Ballot is the manifest's texts, for the console's tables and
	// protocol (the manifest itself is in GET /elections/{id}).
	Ballot *ManifestTexts `json:"ballot,omitempty"`
}

// ManifestTexts is what a console shows of the manifest: the title, the
// authority, the fingerprint, constituencies, contests with their
// candidates in ballot order, and the ballot styles.
type ManifestTexts struct {
	Title          TextForm      `json:"title"`
	Authority      TextForm      `json:"authority"`
	Fingerprint    string        `json:"fingerprint"`
	FingerprintHex string        `json:"fingerprint_hex"`
	VotingStart    uint64        `json:"voting_start"`
	VotingEnd      uint64        `json:"voting_end"`
	Constituencies []NamedForm   `json:"constituencies"`
	Contests       []ContestForm `json:"contests"`
	BallotStyles   []StyleForm   `json:"ballot_styles"`
}

func textForm(t ballot.Text) TextForm { return TextForm{Ky: t.Ky, Ru: t.Ru, Uz: t.Uz, En: t.En} }

func manifestTexts(m *ballot.Manifest) *ManifestTexts {
	fp := m.Fingerprint()
	v := &ManifestTexts{Title: textForm(m.Title), Authority: textForm(m.Authority.Name), Fingerprint: fp.String(), FingerprintHex: fp.Hex(),
		VotingStart: m.VotingStart, VotingEnd: m.VotingEnd, Constituencies: []NamedForm{}, Contests: []ContestForm{}, BallotStyles: []StyleForm{}}
	for _, c := range m.Constituencies {
		v.Constituencies = append(v.Constituencies, NamedForm{ID: c.ID, Name: textForm(c.Name)})
	}
	for _, c := range m.Contests {
		cf := ContestForm{ID: c.ID, Title: textForm(c.Title), Kind: "single", MaxSelections: c.MaxSelections, Candidates: []NamedForm{}}
		if c.Kind == ballot.MultiSelect {
			cf.Kind = "multi"
		}
		for _, k := range c.Candidates {
			cf.Candidates = append(cf.Candidates, NamedForm{ID: k.ID, Name: textForm(k.Name)})
		}
		v.Contests = append(v.Contests, cf)
	}
	for _, st := range m.BallotStyles {
		v.BallotStyles = append(v.BallotStyles, StyleForm{ID: st.ID, Constituency: st.Constituency, Contests: st.Contests})
	}
	return v
}

func (s *Server) getStatus(c *gin.Context) {
	b := boxOf(c)
	v := b.View()
	out := ElectionStatus{ElectionID: v.ElectionID, Phase: v.Phase.String(), Size: v.Size, Ballots: v.Ballots, Turnout: v.Turnout,
		Actions: []ActionView{}, Trustees: []TrusteeProgress{}}
	for _, a := range b.Readiness() {
		av := ActionView{Action: a.Action, Ready: a.Err == nil}
		if a.Err != nil {
			av.Code = ballotbox.Code(a.Err)
			av.Message = a.Err.Error()
		}
		out.Actions = append(out.Actions, av)
	}
	b.WithState(func(st *election.State) {
		out.Trustees, out.Contests, out.Result = progress(st)
		out.Mixable, out.Decryptable = tallyCounts(st)
	})
	if v.Manifest != nil {
		out.Ballot = manifestTexts(v.Manifest)
	}
	fresh(c)
	c.JSON(http.StatusOK, out)
}

// progress reads each trustee's part and the result from the state.
func progress(st *election.State) ([]TrusteeProgress, int, []ContestResultView) {
	if st.Manifest == nil {
		return []TrusteeProgress{}, 0, nil
	}
	ts := make([]TrusteeProgress, len(st.Manifest.Trustees))
	for i, t := range st.Manifest.Trustees {
		ts[i] = TrusteeProgress{Index: int(t.Index), Name: t.Name}
	}
	at := func(i int) *TrusteeProgress {
		if i < 1 || i > len(ts) {
			return nil
		}
		return &ts[i-1]
	}
	if kg := st.Keygen(); kg != nil {
		for _, m := range kg.Commitments {
			if p := at(m.Dealer); p != nil {
				p.Commitments = true
			}
		}
		for _, m := range kg.EncryptedShares {
			if p := at(m.Dealer); p != nil {
				p.Shares = true
			}
		}
		for _, m := range kg.Extraction {
			if p := at(m.Dealer); p != nil {
				p.Extraction = true
			}
		}
		for _, m := range kg.Complaints {
			if p := at(m.Accused); p != nil {
				p.Complaints++
			}
		}
		for _, m := range kg.Answers {
			if p := at(m.Dealer); p != nil {
				p.Answers++
			}
		}
		if kg.Qualified != nil {
			for i := range ts {
				q := slices.Contains(kg.Qualified.Dealers, ts[i].Index)
				ts[i].Qualified = &q
			}
		}
	}
	for _, ct := range st.Tally {
		for _, m := range ct.Mixers {
			if p := at(m); p != nil {
				p.Mixed++
			}
		}
		for m := range ct.Shares {
			if p := at(m); p != nil {
				p.Decrypted++
			}
		}
	}
	for _, cu := range st.Culprits {
		if p := at(cu.Trustee); p != nil {
			p.Invalid++
		}
	}
	var res []ContestResultView
	if st.Result != nil {
		res = []ContestResultView{}
		for _, r := range st.Result.Contests {
			res = append(res, ContestResultView{ContestID: r.ContestID, Ballots: r.Ballots, Withheld: r.Withheld, Counts: append([]uint64{}, r.Counts...)})
		}
	}
	return ts, len(st.Manifest.Contests), res
}

// tallyCounts returns how many contests are mixed and how many decrypted:
// from the tally once the cleansing is on the board, else from the
// manifest (before the cleansing no contest is known to be withheld).
func tallyCounts(st *election.State) (mixable, decryptable int) {
	if st.Manifest == nil {
		return 0, 0
	}
	if st.Tally == nil {
		for _, c := range st.Manifest.Contests {
			// In deniable re-voting mode every contest is mixed (spec
			// §15.5 step 6).
			if c.Kind == ballot.SingleChoice || st.Coercion() {
				mixable++
			}
		}
		return mixable, len(st.Manifest.Contests)
	}
	for _, c := range st.Tally {
		if c.Withheld {
			continue
		}
		decryptable++
		if c.Mixed() {
			mixable++
		}
	}
	return mixable, decryptable
}

// limitVoterCSV bounds a voter list checked through the API (larger lists
// are checked by evote official import-voters, which reads a file).
const limitVoterCSV = 32 << 20

// VoterCSVRequest is POST /elections/{id}/voters/check.
type VoterCSVRequest struct {
	CSV string `json:"csv"`
}

// checkVoters reports, line by line, what an import of the voter list
// would refuse (voterlist.CheckCSV against the election's ballot styles)
// and counts the valid lines by style. Nothing is stored or submitted:
// the list official signs and submits the list to the identity service.
func (s *Server) checkVoters(c *gin.Context) {
	var req VoterCSVRequest
	if !httpedge.Decode(c, limitVoterCSV, &req) {
		return
	}
	m := boxOf(c).View().Manifest
	if m == nil {
		respondErr(c, ballotbox.ErrNotReady)
		return
	}
	rep, err := voterlist.CheckCSV(strings.NewReader(req.CSV), time.Now(), func(st string) bool {
		for _, b := range m.BallotStyles {
			if b.ID == st {
				return true
			}
		}
		return false
	})
	if err != nil {
		httpedge.BadRequest(c, "%s", strings.TrimPrefix(err.Error(), "voterlist: "))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, rep)
}
