package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"evote/ballot"
	"evote/client"
	"evote/idp/registry"
	"evote/record"
	"evote/station"
	"evote/trustee"
	"evote/web/desk"
)

// stationCmd is "evote station lookup|mark|serve": the polling station's tool
// (package station). Staff look the voter in front of them up by the
// PIN of their identity document, and mark them as having voted in
// person, which overrides the voter's online ballots; the election's mode
// (deniable re-voting or not) comes from the manifest on the board.
func stationCmd(ctx context.Context, args []string, out io.Writer) error {
	if err := subcommand("station", args, []string{"lookup", "mark", "serve"}); err != nil {
		return err
	}
	r := &stationRun{sub: args[0], out: out}
	if err := r.parse(args[1:]); err != nil {
		return err
	}
	switch r.sub {
	case "lookup":
		return r.lookup(ctx)
	case "serve":
		return r.serve(ctx)
	}
	return r.mark(ctx)
}

const stationLookupHelp = `usage: evote station lookup --idp URL --election ID --station ID --station-key FILE
                            --official ID --official-key FILE --pin PIN

Looks up the voter in front of you on the voter list (spec §8.8.5): the
station and the official sign the request with their keys. Prints the
voter's pseudonym (not their name), their ballot style and whether they
were already marked as having voted in person.

`

const stationMarkHelp = `usage: evote station mark --server URL --idp URL --election ID --fingerprint FP
                          --station ID --station-key FILE --official ID --official-key FILE --pin PIN
                          [--wait 10m] [--poll 2s]

Marks the voter in front of you as having voted in person: their online
ballots do not count, and they cannot vote online any more. The voter is
looked up first; a voter marked already is refused. In an election in
deniable re-voting mode the mark is a row on the board: the command waits
(at most --wait) until the ballot box publishes it and checks it on this
station's own copy of the board, then prints where it is.

The election's key, mode and the registered stations come from the board,
checked against the fingerprint the officials published.

`

const stationServeHelp = `usage: evote station serve --server URL --idp URL --election ID --fingerprint FP
                           --station ID --station-key FILE --official ID --official-key FILE
                           [--listen 127.0.0.1:8088] [--wait 10m] [--poll 2s]

Serves the polling station's desk page on this machine: the staff type
the PIN of the voter in front of them, see whether the voter is on the
online list and marked already, and record their vote in person, in
Kyrgyz, Russian, Uzbek or English (the same steps as evote station lookup
and mark). Open the printed address in this machine's browser. The desk
listens on this machine only: it signs with the station's and the
official's keys.

`

// stationRun is one run of "evote station": its flags.
type stationRun struct {
	sub string
	out io.Writer
	fs  *flag.FlagSet

	server, idp, electionID, fingerprint   string
	stationID, stationKey, officialID, pin string
	officialKey                            string
	wait, poll                             time.Duration
	listen                                 string
}

// deskListening, if set, is called with the desk's address once evote
// station serve listens (tests).
var deskListening func(url string)

func (r *stationRun) parse(args []string) error {
	fs := flag.NewFlagSet("station "+r.sub, flag.ContinueOnError)
	fs.SetOutput(r.out)
	help := stationLookupHelp
	if r.sub == "serve" {
		help = stationServeHelp
		fs.StringVar(&r.listen, "listen", "127.0.0.1:8088", "serve: the address of the desk page, on this machine (127.0.0.1 or [::1])")
	}
	if r.sub == "mark" || r.sub == "serve" {
		if r.sub == "mark" {
			help = stationMarkHelp
		}
		fs.StringVar(&r.server, "server", "", "ballot box base URL")
		fs.StringVar(&r.fingerprint, "fingerprint", "", "the election's fingerprint as the officials published it")
		fs.DurationVar(&r.wait, "wait", 10*time.Minute, "deniable re-voting: how long to wait for the mark's row on the board")
		fs.DurationVar(&r.poll, "poll", 2*time.Second, "deniable re-voting: how often to ask the ballot box whether the row is published")
	}
	fs.StringVar(&r.idp, "idp", "", "identity service base URL")
	fs.StringVar(&r.electionID, "election", "", "election id")
	fs.StringVar(&r.stationID, "station", "", "this polling station's id, as registered")
	fs.StringVar(&r.stationKey, "station-key", "", "file holding the station's Ed25519 seed in hex")
	fs.StringVar(&r.officialID, "official", "", "the polling official's id, as registered")
	fs.StringVar(&r.officialKey, "official-key", "", "file holding the polling official's Ed25519 seed in hex")
	if r.sub != "serve" {
		fs.StringVar(&r.pin, "pin", "", "the voter's personal identification number (14 digits, from their identity document)")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), help)
		fs.PrintDefaults()
	}
	r.fs = fs
	if err := fs.Parse(args); err != nil {
		return err
	}
	return r.validate()
}

// validate checks every argument before any file is read or server
// asked, each with what was wrong.
func (r *stationRun) validate() error {
	fs, name := r.fs, "station "+r.sub
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (every value is given with its flag)", name, fs.Arg(0))
	}
	req := []string{"idp", "election", "station", "station-key", "official", "official-key"}
	if r.sub != "serve" {
		req = append(req, "pin")
	}
	if r.sub != "lookup" {
		req = append([]string{"server", "fingerprint"}, req...)
	}
	if err := need(fs, req...); err != nil {
		return err
	}
	for _, u := range []struct{ flag, v string }{{"server", r.server}, {"idp", r.idp}} {
		if u.v == "" && r.sub == "lookup" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s: --%s %q is not an http:// or https:// URL", name, u.flag, u.v)
		}
	}
	for _, id := range []struct{ flag, v string }{{"election", r.electionID}, {"station", r.stationID}, {"official", r.officialID}} {
		if !record.ValidID(id.v) {
			return fmt.Errorf("%s: --%s %q: an id is 1 to 64 characters from A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit", name, id.flag, id.v)
		}
	}
	if r.sub != "serve" {
		if _, err := registry.ParsePIN(r.pin, time.Now()); err != nil {
			return fmt.Errorf("%s: --pin: %w", name, err)
		}
	} else if err := loopback(r.listen); err != nil {
		return fmt.Errorf("%s: --listen: %w", name, err)
	}
	if r.sub != "lookup" {
		if _, err := ballot.ParseFingerprint(r.fingerprint); err != nil {
			return fmt.Errorf("%s: --fingerprint: %w", name, err)
		}
		if r.wait <= 0 || r.poll <= 0 {
			return fmt.Errorf("%s: --wait and --poll must be positive durations (e.g. 10m, 2s)", name)
		}
	}
	return nil
}

// station reads the keys and returns the station's device.
func (r *stationRun) station() (*station.Station, error) {
	name := "station " + r.sub
	sk, err := readSeedFile(r.stationKey, name+": --station-key")
	if err != nil {
		return nil, err
	}
	ok, err := readSeedFile(r.officialKey, name+": --official-key")
	if err != nil {
		return nil, err
	}
	if sk.Equal(ok) {
		return nil, fmt.Errorf("%s: the station and the official hold the same key: each signs for itself", name)
	}
	return &station.Station{ElectionID: r.electionID, StationID: r.stationID, StationKey: sk, OfficialID: r.officialID, OfficialKey: ok,
		Identity: client.New(r.idp)}, nil
}

// loopback refuses a listening address off this machine: the desk signs
// with the station's keys for whoever reaches it.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not on this machine: the desk listens on 127.0.0.1 or [::1] only, since it signs with the station's and the official's keys", addr)
	}
	return nil
}

// lookup prints what the identity service knows of the voter: no name.
func (r *stationRun) lookup(ctx context.Context) error {
	st, err := r.station()
	if err != nil {
		return err
	}
	v, err := st.Lookup(ctx, r.pin)
	if err != nil {
		return stationRefusal(err)
	}
	fmt.Fprintf(r.out, "voter found on the list of election %s\n  pseudonym:    %x\n  ballot style: %s\n", r.electionID, v.Pseudonym, v.BallotStyle)
	if v.MarkedAt.IsZero() {
		fmt.Fprintln(r.out, "  in person:    not marked yet: this voter may vote here (evote station mark)")
	} else {
		fmt.Fprintf(r.out, "  in person:    ALREADY MARKED at %s UTC: do not give this voter a ballot\n", v.MarkedAt.Format(time.DateTime))
	}
	return nil
}

// board replays and witnesses the election's board with the published
// fingerprint, for st.
func (r *stationRun) board(ctx context.Context, st *station.Station) error {
	fp, _ := ballot.ParseFingerprint(r.fingerprint)
	box := client.New(r.server)
	b, err := client.NewBoard(ctx, box, r.electionID)
	if err != nil {
		return err
	}
	f := trustee.NewFollower(b)
	f.Fingerprint = fp
	if err := f.Witness(ctx); err != nil {
		return fmt.Errorf("station %s: this station's copy of the board: %w", r.sub, err)
	}
	st.Box, st.Board = box, f
	return nil
}

// serve runs the desk page (package web/desk) until ctx ends: the
// board replayed and the station checked registered first.
func (r *stationRun) serve(ctx context.Context) error {
	st, err := r.station()
	if err != nil {
		return err
	}
	if err := r.board(ctx, st); err != nil {
		return err
	}
	if err := st.Ready(); err != nil && !errors.Is(err, station.ErrNotOpen) {
		return stationRefusal(err)
	}
	h, err := desk.New(&desk.StationDesk{St: st, Poll: r.poll}, desk.Info{ElectionID: r.electionID, StationID: r.stationID, OfficialID: r.officialID, Wait: r.wait})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", r.listen)
	if err != nil {
		return fmt.Errorf("station serve: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	u := "http://" + ln.Addr().String() + h.Path()
	fmt.Fprintf(r.out, "The polling station's desk is at %s\nOpen this address, key included, in this machine's browser; keep it to yourself: it lets whoever has it mark voters. Ctrl-C stops the desk.\n", u)
	if deskListening != nil {
		deskListening(u)
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// mark replays and witnesses the board, checks that this station may
// mark, looks the voter up, marks them and, in deniable re-voting mode,
// waits for the mark's row on the board.
func (r *stationRun) mark(ctx context.Context) error {
	st, err := r.station()
	if err != nil {
		return err
	}
	if err := r.board(ctx, st); err != nil {
		return err
	}
	f := st.Board
	if err := st.Ready(); err != nil {
		return stationRefusal(err)
	}
	v, err := st.Lookup(ctx, r.pin)
	if err != nil {
		return stationRefusal(err)
	}
	res, err := st.Mark(ctx, v)
	if err != nil {
		return stationRefusal(err)
	}
	fmt.Fprintf(r.out, "MARKED: the voter (ballot style %s) is recorded as having voted in person at %s, %s UTC.\n", v.BallotStyle, r.stationID, res.MarkedAt.Format(time.DateTime))
	fmt.Fprintln(r.out, "Their online ballots, if any, will not be counted, and they cannot vote online any more.")
	if !res.Revote {
		return nil
	}
	fmt.Fprintf(r.out, "Waiting for the mark to appear on the public board (at most one slot, %d s)...\n", f.State.Manifest.Coercion.SlotSeconds)
	wctx, cancel := context.WithTimeout(ctx, r.wait)
	defer cancel()
	rc, err := st.AwaitPublished(wctx, res, r.poll)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("station mark: the mark is recorded, but after %v its row (hash %s) is still not on the board; tell the election commission", r.wait, res.Receipt.RowHash)
	}
	if err != nil {
		return fmt.Errorf("station mark: the mark is recorded, but its receipt does not check (row hash %s); tell the election commission: %w", res.Receipt.RowHash, err)
	}
	fmt.Fprintf(r.out, "On the board and checked: row %s, slot %d of ballot style %s, board position %d.\n", rc.RowHash, *rc.Slot, rc.Style, *rc.Index)
	return nil
}

// stationRefusal says in plain words why the station may not mark or
// look up the voter, keeping the services' answer after it.
func stationRefusal(err error) error {
	reason := desk.Reason(err)
	plain := map[string]string{
		"unregistered":     "this station or official is not registered for this election with the key in its key file",
		"not_open":         "voting is not open: no one can be marked now",
		"already_marked":   "this voter has ALREADY been marked as having voted in person: do not give them a ballot",
		"marked_no_row":    "the voter is marked, but the ballot box did not take the mark: tell the election commission at once",
		"not_on_list":      "this person is not on the online voter list of this election: they have no online vote to override",
		"official_refused": "the identity service refused this station or official (not configured or not registered with these keys, or the clock is wrong)",
		"conflict":         "the identity service refused the mark",
		"rate_limited":     "too many refused requests from this station: wait and try again",
	}[reason]
	if api := (*client.APIError)(nil); reason == "not_open" && errors.As(err, &api) && api.Code == "voting_closed" {
		plain = "voting is closed: no one can be marked now"
	}
	if plain == "" {
		return fmt.Errorf("station: refused: %w", err)
	}
	return fmt.Errorf("station: REFUSED: %s (%w)", plain, err)
}
