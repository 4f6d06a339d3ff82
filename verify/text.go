package verify

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report as evote-verify prints it: the record,
// the counts, one line per check (ok, FAIL or - when it had nothing to
// check) with its items and time, the recomputed result, the notes, the
// stages' times and the verdict, VALID or INVALID with the failures. The
// portal's in-browser verifier shows the same text.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "record   %s: %d entries, root %s\n", r.Origin, r.Size, r.Root)
	if r.ElectionID != "" {
		fmt.Fprintf(w, "election %s, phase %s\n", r.ElectionID, r.Phase)
	}
	c := r.Counts
	fmt.Fprintf(w, "counts   %d credentials, %d in-person marks, %d ballots (%d valid), %d audited, %d counted, %d cancelled, %d mixes, %d decryption shares\n",
		c.Credentials, c.InPerson, c.Ballots, c.ValidBallots, c.Audited, c.Counted, c.Cancelled, c.Mixes, c.Shares)
	if c.RevoteSlots > 0 {
		fmt.Fprintf(w, "         deniable re-voting: %d slots, %d rows in them (ballots, marks and dummies alike), %d voters kept by the filter\n", c.RevoteSlots, c.RevoteRows, c.RevoteVoters)
	}
	fmt.Fprintf(w, "\n        %-23s %-45s %8s %9s\n", "check", "", "items", "time")
	for _, k := range r.Checks {
		status := "ok  "
		switch {
		case k.Failures > 0:
			status = "FAIL"
		case k.Items == 0:
			status = "-   "
		}
		fmt.Fprintf(w, "  %s  %-23s %-45s %8d %8.2fs", status, k.Check, k.Title, k.Items, k.Seconds)
		if k.Failures > 0 {
			fmt.Fprintf(w, "  %d failed", k.Failures)
		}
		fmt.Fprintln(w)
	}
	if len(r.Result) > 0 && r.OK {
		fmt.Fprintln(w, "\nresult (recomputed from the decryption shares, equal to the published one):")
		for _, c := range r.Result {
			if c.Withheld {
				fmt.Fprintf(w, "  %-24s %d ballots, withheld (fewer than the minimum anonymity)\n", c.Contest, c.Ballots)
				continue
			}
			if len(c.Names) != len(c.Counts) {
				fmt.Fprintf(w, "  %-24s %d ballots, counts %v\n", c.Contest, c.Ballots, c.Counts)
				continue
			}
			fmt.Fprintf(w, "  %-24s %d ballots\n", c.Contest, c.Ballots)
			for i, n := range c.Counts {
				fmt.Fprintf(w, "    %-32s %d\n", c.Names[i], n)
			}
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes (events that break no rule):")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	var stages []string
	for _, s := range r.Stages {
		stages = append(stages, fmt.Sprintf("%s %.2fs", s.Stage, s.Seconds))
	}
	fmt.Fprintf(w, "\ntime     %.2fs on %d workers (%s)\n", r.Seconds, r.Workers, strings.Join(stages, ", "))
	if r.OK {
		fmt.Fprintln(w, "\nVALID: every check holds.")
		return
	}
	fmt.Fprintf(w, "\nINVALID: %d failure(s)", r.FailureCount)
	if uint64(len(r.Failures)) < r.FailureCount {
		fmt.Fprintf(w, ", the first %d listed", len(r.Failures))
	}
	fmt.Fprintln(w, ":")
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  %s\n", f)
	}
}
