package view

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"evote/ballot"
	"evote/bulletin"
	"evote/tally"
)

// Results is the published result laid out per contest, each with the
// constituencies whose ballots carry it.
type Results struct {
	ElectionID string          `json:"election_id"`
	Contests   []ContestResult `json:"contests"`
}

// ContestResult is one contest's counts. Blank is set for a single-choice
// contest; Withheld contests (fewer ballots than the minimum anonymity)
// have no rows.
type ContestResult struct {
	ID             string   `json:"id"`
	Title          Text     `json:"title"`
	Kind           string   `json:"kind"`
	Constituencies []string `json:"constituencies"` // ids, in manifest order
	Ballots        uint64   `json:"ballots"`
	Withheld       bool     `json:"withheld"`
	Blank          *uint64  `json:"blank,omitempty"`
	Rows           []Row    `json:"rows"`
}

// Row is one candidate's votes.
type Row struct {
	ID    string `json:"id"`
	Name  Text   `json:"name"`
	Votes uint64 `json:"votes"`
}

// ResultEntry checks the result entry the page fetched from the board
// (canonical): a result of this election's log signed by the election
// authority, the author of the board's first entry, which carries the
// manifest (AuthorityEntry); then lays it out (Result). Its inclusion in
// a cosigned checkpoint is checked apart (CheckInclusion, with these
// bytes). What the server's JSON says the entry holds is never shown.
func ResultEntry(manifest, manifestEntry, canonical []byte) (*Results, error) {
	e, err := AuthorityEntry(manifest, manifestEntry, canonical, bulletin.TypeResult)
	if err != nil {
		return nil, fmt.Errorf("view: the result entry: %w", err)
	}
	return Result(manifest, e.Payload)
}

// Result lays out the payload of a result entry with the names of the
// manifest (canonical). It refuses a result whose contests or counts do
// not fit the manifest.
func Result(manifest, payload []byte) (*Results, error) {
	m, err := ballot.DecodeManifest(manifest)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	r, err := tally.DecodeResult(payload)
	if err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	if r.ElectionID != m.ElectionID {
		return nil, fmt.Errorf("view: result of election %q, not %q", r.ElectionID, m.ElectionID)
	}
	out := &Results{ElectionID: r.ElectionID, Contests: []ContestResult{}}
	for _, cr := range r.Contests {
		c, ok := m.Contest(cr.ContestID)
		if !ok {
			return nil, fmt.Errorf("view: result names contest %q, not in the manifest", cr.ContestID)
		}
		v := ContestResult{ID: c.ID, Title: text(c.Title), Kind: "single", Constituencies: []string{}, Ballots: cr.Ballots, Withheld: cr.Withheld, Rows: []Row{}}
		if c.Kind == ballot.MultiSelect {
			v.Kind = "multi"
		}
		for _, s := range m.BallotStyles {
			for _, id := range s.Contests {
				if id == c.ID {
					v.Constituencies = append(v.Constituencies, s.Constituency)
				}
			}
		}
		if !cr.Withheld {
			counts := cr.Counts
			if c.Kind == ballot.SingleChoice {
				if len(counts) != len(c.Candidates)+1 {
					return nil, fmt.Errorf("view: contest %q has %d counts for %d candidates and blank", c.ID, len(counts), len(c.Candidates))
				}
				blank := counts[0]
				v.Blank, counts = &blank, counts[1:]
			}
			if len(counts) != len(c.Candidates) {
				return nil, fmt.Errorf("view: contest %q has %d counts for %d candidates", c.ID, len(counts), len(c.Candidates))
			}
			for i, k := range c.Candidates {
				v.Rows = append(v.Rows, Row{ID: k.ID, Name: text(k.Name), Votes: counts[i]})
			}
		}
		out.Contests = append(out.Contests, v)
	}
	return out, nil
}

// CSV returns the results as CSV (RFC 4180), one line per contest and
// candidate (and blank), names in lang: columns contest_id, contest,
// constituencies (the ids of those voting it, space-separated: a contest's
// count is over all of them), candidate_id, candidate, votes, ballots. A
// withheld contest has one line with candidate_id "withheld" and no votes.
func (r *Results) CSV(lang string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"contest_id", "contest", "constituencies", "candidate_id", "candidate", "votes", "ballots"})
	for _, c := range r.Contests {
		n, ks := strconv.FormatUint(c.Ballots, 10), strings.Join(c.Constituencies, " ")
		if c.Withheld {
			w.Write([]string{c.ID, c.Title[lang], ks, "withheld", "", "", n})
			continue
		}
		for _, row := range c.Rows {
			w.Write([]string{c.ID, c.Title[lang], ks, row.ID, row.Name[lang], strconv.FormatUint(row.Votes, 10), n})
		}
		if c.Blank != nil {
			w.Write([]string{c.ID, c.Title[lang], ks, "blank", "", strconv.FormatUint(*c.Blank, 10), n})
		}
	}
	w.Flush()
	return b.Bytes()
}
