package main

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"evote/idp/registry"
)

// TestDemoPeople (issue 19, finding 6): evote demo people lists exactly the
// people a development identity service generates from the same settings
// (its variables by default), with who may vote.
func TestDemoPeople(t *testing.T) {
	t.Setenv("EVOTE_IDP_SIM_CONSTITUENCIES", "KG-ABR-01,KG-ABR-02")
	t.Setenv("EVOTE_IDP_ELECTION_DAY", "2026-12-20")
	t.Setenv("EVOTE_IDP_SIM_SEED", "seed-x")
	var out strings.Builder
	if err := run(t.Context(), []string{"demo", "people", "--per", "10"}, &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	day, _ := time.Parse(time.DateOnly, "2026-12-20")
	sim, _ := registry.NewSimulated(registry.SimulatedConfig{Seed: "seed-x", Constituencies: []string{"KG-ABR-01", "KG-ABR-02"}, PerConstituency: 10, ElectionDay: day})
	people := sim.People()
	if len(rows) != len(people)+1 || strings.Join(rows[0], ",") != "pin,document,birth_date,constituency,phone,may_vote" {
		t.Fatalf("%d rows for %d people; header %v", len(rows), len(people), rows[0])
	}
	eligible := 0
	for i, p := range people {
		r := rows[i+1]
		if r[0] != p.PIN.Digits() || r[1] != p.DocumentNumber || r[2] != p.BirthDate.Format(time.DateOnly) || r[3] != p.Constituency || r[4] != p.Phone {
			t.Fatalf("row %d %v is not %+v", i, r, p)
		}
		if (r[5] == "yes") != (p.Reason == nil) {
			t.Fatalf("row %d: may_vote %q, reason %v", i, r[5], p.Reason)
		}
		if r[5] == "yes" {
			eligible++
		}
	}
	if eligible == 0 || eligible == len(people) {
		t.Fatalf("%d of %d may vote", eligible, len(people))
	}
	if err := run(t.Context(), []string{"demo", "people", "--constituencies", ""}, &out); err == nil {
		t.Fatal("no constituencies accepted")
	}
}
