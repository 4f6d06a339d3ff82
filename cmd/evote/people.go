package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"evote/idp/registry"
)

// peopleCmd lists the simulated register's people, as a development
// identity service (EVOTE_IDP_REGISTRY=simulated) generates them from the
// same settings, so that a tester knows whom to sign in as: PIN, document
// number, birth date, constituency, phone, and whether the person may vote
// (else why not). Settings default to the identity service's variables.
//
//	evote demo people [--seed S] [--constituencies A,B] [--per N] [--election-day YYYY-MM-DD]
func peopleCmd(args []string, out io.Writer) error {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("demo people", flag.ContinueOnError)
	seed := fs.String("seed", env("EVOTE_IDP_SIM_SEED", "evote-demo"), "the register's seed (EVOTE_IDP_SIM_SEED)")
	cons := fs.String("constituencies", env("EVOTE_IDP_SIM_CONSTITUENCIES", ""), "constituency codes, comma separated (EVOTE_IDP_SIM_CONSTITUENCIES)")
	per := fs.String("per", env("EVOTE_IDP_SIM_PER_CONSTITUENCY", "50"), "people per constituency (EVOTE_IDP_SIM_PER_CONSTITUENCY)")
	day := fs.String("election-day", env("EVOTE_IDP_ELECTION_DAY", ""), "the election day, YYYY-MM-DD (EVOTE_IDP_ELECTION_DAY)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := strconv.Atoi(*per)
	if err != nil || n <= 0 {
		return errors.New("demo people: --per must be a positive number")
	}
	var list []string
	for _, c := range strings.Split(*cons, ",") {
		if c = strings.TrimSpace(c); c != "" {
			list = append(list, c)
		}
	}
	if len(list) == 0 {
		return errors.New("demo people: name the constituencies (--constituencies or EVOTE_IDP_SIM_CONSTITUENCIES)")
	}
	d, err := time.Parse(time.DateOnly, *day)
	if err != nil {
		return errors.New("demo people: --election-day (or EVOTE_IDP_ELECTION_DAY) must be YYYY-MM-DD")
	}
	sim, err := registry.NewSimulated(registry.SimulatedConfig{Seed: *seed, Constituencies: list, PerConstituency: n, ElectionDay: d})
	if err != nil {
		return err
	}
	w := csv.NewWriter(out)
	w.Write([]string{"pin", "document", "birth_date", "constituency", "phone", "may_vote"})
	for _, p := range sim.People() {
		may := "yes"
		if p.Reason != nil {
			may = "no: " + p.Reason.Error()
		}
		w.Write([]string{p.PIN.Digits(), p.DocumentNumber, p.BirthDate.Format(time.DateOnly), p.Constituency, p.Phone, may})
	}
	w.Flush()
	return w.Error()
}
