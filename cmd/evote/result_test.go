package main

import (
	"strings"
	"testing"

	"evote/ballot"
	"evote/tally"
)

// TestWriteResult (issue 19, finding 11): official tally prints each
// contest's counts beside the candidates' names, (blank) first for a
// single-choice contest, and a withheld contest as such.
func TestWriteResult(t *testing.T) {
	m := ballot.SampleManifest("result-test", nil, 1, [32]byte{}, ballot.BoardAnchors{})
	var single, multi *ballot.Contest
	for i := range m.Contests {
		switch m.Contests[i].Kind {
		case ballot.SingleChoice:
			if single == nil {
				single = &m.Contests[i]
			}
		default:
			multi = &m.Contests[i]
		}
	}
	if single == nil || multi == nil {
		t.Fatal("the sample manifest lacks a single-choice or a multi-select contest")
	}
	sc := make([]uint64, len(single.Candidates)+1)
	sc[0], sc[2] = 4, 7
	mc := make([]uint64, len(multi.Candidates))
	mc[0] = 9
	r := &tally.Result{Contests: []tally.ContestResult{
		{ContestID: single.ID, Ballots: 11, Counts: sc},
		{ContestID: multi.ID, Ballots: 9, Counts: mc},
		{ContestID: "tiny", Ballots: 2, Withheld: true},
	}}
	var out strings.Builder
	writeResult(&out, m, r)
	for _, want := range []string{
		single.ID + ": 11 ballots\n",
		"    (blank)" + strings.Repeat(" ", 32-len("(blank)")) + " 4\n",
		"    " + single.Candidates[1].Name.En + strings.Repeat(" ", 32-len(single.Candidates[1].Name.En)) + " 7\n",
		"    " + multi.Candidates[0].Name.En + strings.Repeat(" ", 32-len(multi.Candidates[0].Name.En)) + " 9\n",
		"tiny: 2 ballots, withheld",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("result lacks %q:\n%s", want, out.String())
		}
	}
}
