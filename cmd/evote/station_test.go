package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"evote/ballot"
	"evote/client"
	"evote/station"
)

// TestStationCommands: evote station lookup and mark, end to end on the
// embedded store, in both modes of the election (the demo's election with
// a few voters; the station's person is the demo's extra voter): the
// look-up says not marked, and of a PIN not on the list says so; a station key not registered on the board is
// refused before any server is asked to mark; the person votes online,
// then in person: the mark (in deniable re-voting mode a row, whose
// receipt the command waits for and checks) overrides the online ballot,
// which the demo's tally check confirms (the person's ballot is not
// among the voters' intents); a second mark is refused, the look-up says
// marked; a cast after the mark from a device signed in before it is
// refused voted_in_person by the ballot box, and a new sign-in by the
// identity service.
func TestStationCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election")
	}
	for _, coercion := range []bool{false, true} {
		name := map[bool]string{false: "normal", true: "deniable-revoting"}[coercion]
		t.Run(name, func(t *testing.T) {
			var printed []string
			demoTest(t, demoOptions{Voters: 5, Coercion: coercion, ExtraVoter: func(ctx context.Context, v *extraVoter) (ballot.Selection, error) {
				out, err := stationScript(t, v, coercion)
				printed = append(printed, out...)
				return nil, err
			}})
			t.Log(strings.Join(printed, ""))
		})
	}
}

// stationScript is TestStationCommands's polling station, with person v;
// it returns what the commands printed.
func stationScript(t *testing.T, v *extraVoter, coercion bool) ([]string, error) {
	var printed []string
	pin := v.Person.PIN.Digits()
	args := func(sub, stationKey string) []string {
		a := []string{"station", sub, "--idp", v.IdpURL, "--election", v.ElectionID, "--station", v.StationID, "--station-key", stationKey,
			"--official", v.OfficialID, "--official-key", v.OfficialKeyFile, "--pin", pin}
		if sub == "mark" {
			a = append(a, "--server", v.BoxURL, "--fingerprint", v.Fingerprint.String(), "--poll", "200ms")
		}
		return a
	}
	cli := func(a []string) (string, error) {
		out, err := runCLI(t, a...)
		printed = append(printed, "$ evote "+strings.Join(a[:2], " ")+"\n"+out)
		if err != nil {
			printed = append(printed, "evote: "+err.Error()+"\n")
		}
		return out, err
	}
	out, err := cli(args("lookup", v.StationKeyFile))
	if err != nil || !strings.Contains(out, "ballot style: "+v.Person.Constituency) || !strings.Contains(out, "not marked yet") {
		return printed, fmt.Errorf("lookup before the mark: %v %q", err, out)
	}
	// A person not on the list (the PIN of nobody the register lists).
	stranger := append(args("lookup", v.StationKeyFile)[:len(args("lookup", v.StationKeyFile))-1], pin[:9]+"99999")
	if _, err := cli(stranger); err == nil || !strings.Contains(err.Error(), "REFUSED: this person is not on the online voter list") {
		return printed, fmt.Errorf("lookup of a person not on the list: %v", err)
	}
	// A key the board does not register for the station.
	strangerKey := filepath.Join(t.TempDir(), "stranger.key")
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	os.WriteFile(strangerKey, []byte(hex.EncodeToString(sk.Seed())), 0o600)
	if _, err := cli(args("mark", strangerKey)); !errors.Is(err, station.ErrUnregistered) || !strings.Contains(err.Error(), "REFUSED: this station or official is not registered") {
		return printed, fmt.Errorf("mark with an unregistered station key: %v", err)
	}
	// The person votes online first; the mark overrides it. A second
	// device signs in before the mark and casts after it.
	ctx := context.Background()
	ps, cast, err := v.SignIn(ctx)
	if err == nil {
		err = cast(nil)
	}
	if err != nil {
		return printed, fmt.Errorf("online vote: %w", err)
	}
	v.Pseudonym = ps
	_, castLater, err := v.SignIn(ctx)
	if err != nil {
		return printed, fmt.Errorf("sign-in on a second device: %w", err)
	}
	if !strings.Contains(out, ps) {
		return printed, fmt.Errorf("the look-up printed %q, not the pseudonym %s", out, ps)
	}
	out, err = cli(args("mark", v.StationKeyFile))
	if err != nil || !strings.Contains(out, "MARKED: the voter (ballot style "+v.Person.Constituency+")") {
		return printed, fmt.Errorf("mark: %v %q", err, out)
	}
	if coercion != strings.Contains(out, "On the board and checked: row ") {
		return printed, fmt.Errorf("mark in deniable re-voting mode %v printed %q", coercion, out)
	}
	v.InPerson = true
	if _, err := cli(args("mark", v.StationKeyFile)); !errors.Is(err, station.ErrAlreadyMarked) || !strings.Contains(err.Error(), "ALREADY been marked") {
		return printed, fmt.Errorf("a second mark: %v", err)
	}
	if out, err := cli(args("lookup", v.StationKeyFile)); err != nil || !strings.Contains(out, "ALREADY MARKED at ") {
		return printed, fmt.Errorf("lookup after the mark: %v %q", err, out)
	}
	// The ballot box refuses the second device's cast, the identity
	// service any new sign-in.
	var api *client.APIError
	if err := castLater(nil); !errors.As(err, &api) || api.Code != "voted_in_person" {
		return printed, fmt.Errorf("an online cast after the mark, signed in before it: %v", err)
	}
	if _, _, err := v.SignIn(ctx); !errors.As(err, &api) || api.Code != "voted_in_person" {
		return printed, fmt.Errorf("a sign-in after the mark: %v", err)
	}
	return printed, nil
}

// TestStationArguments: every argument of evote station is checked, with
// what was wrong, before a key file is read or a server asked.
func TestStationArguments(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o600)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not hex"), 0o600)
	good := map[string]string{"--idp": "http://127.0.0.1:1", "--election": "e-1", "--station": "st-1", "--station-key": key,
		"--official": "po-1", "--official-key": filepath.Join(dir, "k2"), "--pin": "21505199012345"}
	os.WriteFile(good["--official-key"], []byte(strings.Repeat("cd", 32)), 0o600)
	args := func(sub string, change ...string) []string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		if sub != "lookup" {
			m["--server"], m["--fingerprint"] = "https://box.example", strings.Repeat("0", 64)
		}
		if sub == "serve" {
			delete(m, "--pin")
		}
		for i := 0; i+1 < len(change); i += 2 {
			if change[i+1] == "" {
				delete(m, change[i])
			} else {
				m[change[i]] = change[i+1]
			}
		}
		a := []string{"station", sub}
		for k, v := range m {
			a = append(a, k, v)
		}
		return a
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"station"}, "station: want lookup, mark or serve"},
		{args("serve", "--listen", "0.0.0.0:8088"), `station serve: --listen: "0.0.0.0:8088" is not on this machine`},
		{args("serve", "--listen", "192.168.1.5:80"), "the desk listens on 127.0.0.1 or [::1] only"},
		{args("serve", "--listen", "8088"), `--listen: "8088" is not host:port`},
		{args("serve", "--fingerprint", ""), "station serve: --fingerprint is required"},
		{append(args("serve"), "--pin", "21505199012345"), "flag provided but not defined: -pin"},
		{[]string{"station", "vote"}, `unknown subcommand "vote"`},
		{args("lookup", "--pin", ""), "station lookup: --pin is required"},
		{args("mark", "--server", ""), "station mark: --server is required"},
		{args("mark", "--fingerprint", ""), "station mark: --fingerprint is required"},
		{append(args("lookup"), "stray"), `unexpected argument "stray"`},
		{args("lookup", "--idp", "idp.example"), `--idp "idp.example" is not an http:// or https:// URL`},
		{args("mark", "--server", "ftp://box"), `--server "ftp://box" is not an http:// or https:// URL`},
		{args("lookup", "--election", "-e"), `--election "-e": an id is 1 to 64 characters`},
		{args("lookup", "--station", "st 1"), `--station "st 1": an id is`},
		{args("lookup", "--official", strings.Repeat("o", 65)), `--official "ooo`},
		{args("lookup", "--pin", "2150519901234"), "--pin: registry: malformed personal identification number: want 14 digits, got 13 characters"},
		{args("lookup", "--pin", "31505199012345"), "first digit must be 1 or 2"},
		{args("mark", "--fingerprint", "ABCD"), "station mark: --fingerprint: "},
		{args("mark", "--wait", "0s"), "--wait and --poll must be positive"},
		{args("lookup", "--station-key", bad), "station lookup: --station-key: the key file must hold a 32-byte seed in hex"},
		{args("lookup", "--official-key", filepath.Join(dir, "missing")), "no such file"},
		{args("lookup", "--official-key", key), "the station and the official hold the same key"},
	} {
		if _, err := runCLI(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args[:2], err, c.want)
		}
	}
	out, err := runCLI(t, "station", "mark", "-h")
	if err == nil || !strings.Contains(out, "Marks the voter in front of you") || !strings.Contains(out, "-fingerprint") {
		t.Errorf("station mark -h: %v %q", err, out)
	}
}

// TestStationRefusals: each refusal a station meets is said in plain
// words, the services' answer kept after them.
func TestStationRefusals(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: the election is in phase closed", station.ErrNotOpen), "REFUSED: voting is not open"},
		{&client.APIError{Status: 403, Code: "voting_closed"}, "REFUSED: voting is closed"},
		{&client.APIError{Status: 403, Code: "official_refused", Message: "unknown station"}, "REFUSED: the identity service refused this station or official"},
		{&client.APIError{Status: 409, Code: "conflict", Message: "idp: conflict: voter already marked"}, "REFUSED: this voter has ALREADY been marked"},
		{&client.APIError{Status: 409, Code: "conflict", Message: "something else"}, "REFUSED: the identity service refused the mark"},
		{&client.APIError{Status: 429, Code: "client_locked"}, "REFUSED: too many refused requests from this station"},
		{fmt.Errorf("%w: %w", station.ErrMarkedNoRow, &client.APIError{Status: 422, Code: "mark_invalid"}), "the ballot box did not take the mark: tell the election commission at once"},
		{errors.New("no route to host"), "station: refused: no route to host"},
	} {
		err := stationRefusal(c.err)
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: said %v, want %q", c.err, err, c.want)
		}
	}
}

// TestStationServe: evote station serve, the desk page, in both modes of
// the election, driven as the staff's browser would (forms posted with
// the page's token). A look-up shows the ballot style and "not marked";
// a mark without the document-checked box, without the token, or from
// another site is refused; a PIN not on the list and a malformed one are
// said to be so; the mark records the vote in person (in deniable
// re-voting mode the page waits for the mark's row on the board, then
// shows where it is); the voter's online vote, cast before, is not
// counted (the demo's tally check); a second look-up says marked, a
// second mark is refused.
func TestStationServe(t *testing.T) {
	if testing.Short() {
		t.Skip("a whole election")
	}
	for _, coercion := range []bool{false, true} {
		t.Run(map[bool]string{false: "normal", true: "deniable-revoting"}[coercion], func(t *testing.T) {
			demoTest(t, demoOptions{Voters: 5, Coercion: coercion, ExtraVoter: func(ctx context.Context, v *extraVoter) (ballot.Selection, error) {
				return nil, deskScript(t, v, coercion)
			}})
		})
	}
}

// deskScript is TestStationServe's polling station, with person v.
func deskScript(t *testing.T, v *extraVoter, coercion bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listening := make(chan string, 1)
	deskListening = func(u string) { listening <- u }
	defer func() { deskListening = nil }()
	served := make(chan error, 1)
	go func() {
		var out strings.Builder
		err := run(ctx, []string{"station", "serve", "--server", v.BoxURL, "--idp", v.IdpURL, "--election", v.ElectionID, "--fingerprint", v.Fingerprint.String(),
			"--station", v.StationID, "--station-key", v.StationKeyFile, "--official", v.OfficialID, "--official-key", v.OfficialKeyFile,
			"--listen", "127.0.0.1:0", "--poll", "200ms", "--wait", "2m"}, &out)
		served <- err
	}()
	var base string
	select {
	case base = <-listening:
	case err := <-served:
		return fmt.Errorf("station serve: %v", err)
	case <-time.After(time.Minute):
		return errors.New("station serve did not listen")
	}
	// The staff's browser opens the printed address: its key becomes the
	// browser's cookie.
	jar, _ := cookiejar.New(nil)
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noRedirect.Get(base); err != nil || resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("the printed address %s: %v %v", base, err, resp)
	}
	base = base[:strings.Index(base, "?")]
	get := func(path string) (int, string, error) {
		resp, err := noRedirect.Get(base + strings.TrimPrefix(path, "/"))
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	_, page, err := get("/?lang=en")
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`name="token" value="([0-9a-f]{64})"`).FindStringSubmatch(page)
	if m == nil {
		return fmt.Errorf("no token in the desk's page: %s", page)
	}
	token := m[1]
	post := func(path string, form url.Values, header ...string) (*http.Response, string, error) {
		req, _ := http.NewRequest(http.MethodPost, base+strings.TrimPrefix(path, "/"), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b), nil
	}
	pin := v.Person.PIN.Digits()
	form := func(kv ...string) url.Values {
		f := url.Values{"token": {token}, "lang": {"en"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	// The voter votes online first: the mark overrides it.
	ps, cast, err := v.SignIn(ctx)
	if err == nil {
		err = cast(nil)
	}
	if err != nil {
		return fmt.Errorf("online vote: %w", err)
	}
	v.Pseudonym = ps
	resp, page, err := post("/lookup", form("pin", pin[:5]+" "+pin[5:]))
	if err != nil || resp.StatusCode != 200 || !strings.Contains(page, v.Person.Constituency) || !strings.Contains(page, "Not marked yet") || !strings.Contains(page, `name="pin" value="`+pin[:5]) {
		return fmt.Errorf("look-up: %v %v %s", err, resp, page)
	}
	for _, c := range []struct {
		name   string
		form   url.Values
		header []string
		status int
		want   string
	}{
		{"without the document checked", form("pin", pin), nil, 422, `data-refusal="err_not_checked"`},
		{"without the token", url.Values{"pin": {pin}, "checked": {"yes"}}, nil, 403, "refused"},
		{"from another site", form("pin", pin, "checked", "yes"), []string{"Sec-Fetch-Site", "cross-site"}, 403, "refused"},
		{"from another origin", form("pin", pin, "checked", "yes"), []string{"Origin", "http://evil.example"}, 403, "refused"},
		{"a malformed PIN", form("pin", "12345", "checked", "yes"), nil, 422, `data-refusal="err_pin"`},
	} {
		resp, page, err := post("/mark", c.form, c.header...)
		if err != nil || resp.StatusCode != c.status || !strings.Contains(page, c.want) {
			return fmt.Errorf("mark %s: %v %v %s", c.name, err, resp, page)
		}
	}
	if _, page, err := post("/lookup", form("pin", pin[:9]+"99999")); err != nil || !strings.Contains(page, `data-refusal="err_not_on_list"`) {
		return fmt.Errorf("look-up of a person not on the list: %v %s", err, page)
	}
	resp, page, err = post("/mark", form("pin", pin, "checked", "yes"))
	if err != nil {
		return err
	}
	if !coercion {
		if resp.StatusCode != 200 || !strings.Contains(page, `data-view="marked"`) {
			return fmt.Errorf("mark: %v %s", resp, page)
		}
	} else {
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/marks/") {
			return fmt.Errorf("mark in deniable re-voting mode: %v %s", resp, page)
		}
		for i := 0; ; i++ {
			_, page, err = get(loc)
			if err != nil {
				return err
			}
			if !strings.Contains(page, `data-view="waiting"`) {
				break
			}
			if !strings.Contains(page, `http-equiv="refresh"`) {
				return fmt.Errorf("the waiting page does not refresh: %s", page)
			}
			if i > 600 {
				return errors.New("the mark's row never reached the board")
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(page, `data-view="published"`) {
			return fmt.Errorf("the mark's row: %s", page)
		}
	}
	v.InPerson = true
	if _, page, err := post("/lookup", form("pin", pin)); err != nil || !strings.Contains(page, `id="already"`) || strings.Contains(page, `action="/mark"`) {
		return fmt.Errorf("look-up after the mark: %v %s", err, page)
	}
	if _, page, err := post("/mark", form("pin", pin, "checked", "yes")); err != nil || !strings.Contains(page, `data-refusal="err_already_marked"`) {
		return fmt.Errorf("a second mark: %v %s", err, page)
	}
	cancel()
	select {
	case err := <-served:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("station serve did not stop")
	}
}
