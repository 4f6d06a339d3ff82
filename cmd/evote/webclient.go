package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"evote/ballot"
	"evote/client"
	"evote/web"
)

// maxModule bounds the voting page's WebAssembly module read by
// check-client.
const maxModule = 64 << 20

// checkClientCmd compares the voting page's WebAssembly module, as the
// server serves it now, with the hash the election's manifest publishes
// (read from the board's manifest entry, not from the server's summary)
// and with the module this evote binary embeds (spec/14-web.md §14.4).
func checkClientCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("check-client", flag.ContinueOnError)
	server := fs.String("server", "", "ballot box base URL (serves the page)")
	electionID := fs.String("election", "", "election id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := need(fs, "server", "election"); err != nil {
		return err
	}
	box := client.New(*server)
	info, err := box.Election(ctx, *electionID)
	if err != nil {
		return err
	}
	es, err := box.Entries(ctx, info.Log, 0)
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return errors.New("check-client: empty board")
	}
	if err := es[0].Verify(); err != nil {
		return fmt.Errorf("check-client: manifest entry: %w", err)
	}
	m, err := ballot.DecodeManifest(es[0].Payload)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*server, "/")+"/evote.wasm", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("check-client: GET /evote.wasm: %s", resp.Status)
	}
	mod, err := io.ReadAll(io.LimitReader(resp.Body, maxModule))
	if err != nil {
		return err
	}
	served, own := sha256.Sum256(mod), web.ClientHash()
	fmt.Fprintf(out, "manifest client hash: %x\nserved module:        %x\nthis binary's module: %x\n", m.ClientHash, served, own)
	switch {
	case m.ClientHash == [32]byte{}:
		return errors.New("check-client: the manifest publishes no client hash")
	case served != m.ClientHash:
		return errors.New("check-client: the server serves another voting page than the manifest names")
	}
	if own != served {
		fmt.Fprintln(out, "note: this evote binary was built from other sources than the served page")
	}
	fmt.Fprintln(out, "the served voting page is the one the manifest names")
	return nil
}
