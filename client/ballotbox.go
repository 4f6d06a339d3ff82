package client

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"evote/bulletin"
	"evote/trustee"
)

// ElectionSummary is one item of GET /elections.
type ElectionSummary struct {
	ElectionID string `json:"election_id"`
	Phase      string `json:"phase"`
	Log        string `json:"log"`
}

// ElectionInfo is GET /elections/{id} (spec §10.1). It is a convenience:
// the board's manifest and context entries are authoritative.
type ElectionInfo struct {
	ElectionID   string            `json:"election_id"`
	Phase        string            `json:"phase"`
	Log          string            `json:"log"`
	Origin       string            `json:"origin"`
	Size         uint64            `json:"size"`
	Manifest     string            `json:"manifest"`
	Title        map[string]string `json:"title"`
	AuthorityKey string            `json:"authority_key"`
	IdentityKey  string            `json:"identity_key"`
	JointKey     string            `json:"joint_key"`
	ExtendedHash string            `json:"extended_hash"`
	ClientHash   string            `json:"client_hash"`
	Witnesses    []WitnessInfo     `json:"witnesses"`
}

// WitnessInfo is a witness's cosigner key as the ballot box lists it.
type WitnessInfo struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Elections lists the elections the ballot box serves.
func (c *Client) Elections(ctx context.Context) ([]ElectionSummary, error) {
	var out []ElectionSummary
	_, err := c.do(ctx, http.MethodGet, "/api/v1/elections", nil, &out, "")
	return out, err
}

// Election returns one election's public description.
func (c *Client) Election(ctx context.Context, id string) (*ElectionInfo, error) {
	var out ElectionInfo
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/elections/"+esc(id), nil, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// entryView is the board's JSON view of an entry; only the canonical
// encoding is trusted.
type entryView struct {
	Index     uint64 `json:"index"`
	Canonical string `json:"canonical"`
}

type entriesPage struct {
	Start   uint64      `json:"start"`
	Size    uint64      `json:"size"`
	Entries []entryView `json:"entries"`
	Next    *uint64     `json:"next"`
}

// RawEntries returns the canonical encodings of the entries of log from
// start to end (exclusive).
func (c *Client) RawEntries(ctx context.Context, log string, start, end uint64) ([][]byte, error) {
	var out [][]byte
	for start < end {
		var p entriesPage
		_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/board/%s/entries?start=%d&limit=%d", esc(log), start, min(1000, end-start)), nil, &p, "")
		if err != nil {
			return nil, err
		}
		if len(p.Entries) == 0 {
			return nil, fmt.Errorf("client: board ends at %d, before %d", start, end)
		}
		for i, v := range p.Entries {
			if v.Index != start+uint64(i) {
				return nil, fmt.Errorf("client: board page starting at %d has entry %d at offset %d", start, v.Index, i)
			}
			raw, err := decodeB64(v.Canonical)
			if err != nil {
				return nil, fmt.Errorf("client: entry %d: %w", v.Index, err)
			}
			out = append(out, raw)
		}
		start += uint64(len(p.Entries))
	}
	return out, nil
}

// Record fetches an election's public record over the API: a cosigned
// checkpoint covering the whole board and the canonical encoding of every
// entry it covers, in order (the auditor checks both; spec §11.1).
func (c *Client) Record(ctx context.Context, electionID string) (note []byte, entries [][]byte, err error) {
	info, err := c.Election(ctx, electionID)
	if err != nil {
		return nil, nil, err
	}
	size, text, err := c.ElectionCheckpoint(ctx, electionID)
	if err != nil {
		return nil, nil, err
	}
	entries, err = c.RawEntries(ctx, info.Log, 0, size)
	return []byte(text), entries, err
}

// Entries returns the board entries of log (hex log id) from start to the
// board's end, page by page, each decoded strictly. Signatures are not
// checked here.
func (c *Client) Entries(ctx context.Context, log string, start uint64) ([]*bulletin.Entry, error) {
	return c.EntriesUpTo(ctx, log, start, 0)
}

// EntriesUpTo is Entries that stops after at least max entries (0: no
// bound), at the end of a page: a reader of a large board takes it in
// parts instead of holding all of it at once.
func (c *Client) EntriesUpTo(ctx context.Context, log string, start uint64, max int) ([]*bulletin.Entry, error) {
	var out []*bulletin.Entry
	for max <= 0 || len(out) < max {
		var p entriesPage
		_, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/board/%s/entries?start=%d&limit=1000", esc(log), start), nil, &p, "")
		if err != nil {
			if IsCode(err, "not_found") && start > 0 {
				return out, nil // start is the board's size: nothing new
			}
			return nil, err
		}
		for i, v := range p.Entries {
			if v.Index != start+uint64(i) {
				return nil, fmt.Errorf("client: board page starting at %d has entry %d at offset %d", start, v.Index, i)
			}
			raw, err := decodeB64(v.Canonical)
			if err != nil {
				return nil, fmt.Errorf("client: entry %d: %w", v.Index, err)
			}
			e, err := bulletin.DecodeEntry(raw)
			if err != nil {
				return nil, fmt.Errorf("client: entry %d: %w", v.Index, err)
			}
			out = append(out, e)
		}
		start += uint64(len(p.Entries))
		if p.Next == nil || len(p.Entries) == 0 {
			return out, nil
		}
	}
	return out, nil
}

// Checkpoint is the board's latest signed checkpoint (its note text is
// authoritative).
type Checkpoint struct {
	Origin string `json:"origin"`
	Size   uint64 `json:"size"`
	Root   string `json:"root"`
	Note   string `json:"note"`
}

// Checkpoint returns the latest checkpoint of log.
func (c *Client) Checkpoint(ctx context.Context, log string) (*Checkpoint, error) {
	var out Checkpoint
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/board/"+esc(log)+"/checkpoint", nil, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// PostedAnswer is the answer to a posted entry (spec §10.3).
type PostedAnswer struct {
	Index     uint64 `json:"index"`
	EntryHash string `json:"entry_hash"`
	Valid     *bool  `json:"valid,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// PostTrusteeEntry posts a trustee's signed entry.
func (c *Client) PostTrusteeEntry(ctx context.Context, electionID string, e *bulletin.Entry) (*PostedAnswer, error) {
	var out PostedAnswer
	_, err := c.do(ctx, http.MethodPost, "/api/v1/elections/"+esc(electionID)+"/trustee/entries", entryBody{e}, &out, "")
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// PostIdentityEntry posts an identity-service entry (spec §10.4).
func (c *Client) PostIdentityEntry(ctx context.Context, electionID string, e *bulletin.Entry) (*PostedAnswer, error) {
	var out PostedAnswer
	_, err := c.do(ctx, http.MethodPost, "/api/v1/elections/"+esc(electionID)+"/identity/entries", map[string]string{"entry": b64.EncodeToString(e.Encode())}, &out, "")
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// IdentityBoard posts the identity service's entries to one election's
// board, signed with the identity service's board key; it implements
// idp.Board.
type IdentityBoard struct {
	C          *Client
	ElectionID string
	Log        bulletin.LogID
	Key        ed25519.PrivateKey
}

// Post implements idp.Board.
func (b *IdentityBoard) Post(ctx context.Context, entryType uint16, payload []byte) (uint64, error) {
	e, err := bulletin.NewEntry(b.Log, bulletin.Type(entryType), [32]byte(b.Key.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(b.Key), payload)
	if err != nil {
		return 0, err
	}
	a, err := b.C.PostIdentityEntry(ctx, b.ElectionID, e)
	if err != nil {
		return 0, err
	}
	return a.Index, nil
}

// VotingClosed implements idp.VotingState: whether the election's board
// holds its close entry, by the phase the ballot box reports.
func (b *IdentityBoard) VotingClosed(ctx context.Context) (bool, error) {
	info, err := b.C.Election(ctx, b.ElectionID)
	if err != nil {
		return false, err
	}
	switch info.Phase {
	case "closed", "mixing", "decrypting", "tallied":
		return true, nil
	}
	return false, nil
}

// ElectionCheckpoint returns a checkpoint covering the whole board, with
// the witnesses' cosignatures.
func (c *Client) ElectionCheckpoint(ctx context.Context, electionID string) (size uint64, note string, err error) {
	var out struct {
		Size uint64 `json:"size"`
		Note string `json:"note"`
	}
	_, err = c.do(ctx, http.MethodGet, "/api/v1/elections/"+esc(electionID)+"/checkpoint", nil, &out, "")
	return out.Size, out.Note, err
}

// Board is one election's board as the trustee tool sees it: it
// implements trustee.Board over HTTP, polling for new entries.
type Board struct {
	C          *Client
	ElectionID string
	Log        string        // hex log id
	Poll       time.Duration // default 200 ms
	// NoStream makes Wait poll instead of following the event stream.
	NoStream bool
	// Retries bounds the attempts after a transient failure (default 8,
	// with backoff from 100 ms doubling to 5 s: about half a minute).
	Retries int
}

// transient reports whether err may go away on retry: a server fault
// (5xx) or a failure to reach the server. A refusal (4xx) and a malformed
// answer are final.
func transient(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	var ue *url.Error
	return errors.As(err, &ue) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// retry calls f until it succeeds, fails for good, or attempts run out.
func retry(ctx context.Context, attempts int, f func() error) error {
	if attempts <= 0 {
		attempts = 8
	}
	delay := 100 * time.Millisecond
	for i := 0; ; i++ {
		err := f()
		if err == nil || !transient(err) || i >= attempts || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// NewBoard looks up the election's log and returns its board.
func NewBoard(ctx context.Context, c *Client, electionID string) (*Board, error) {
	info, err := c.Election(ctx, electionID)
	if err != nil {
		return nil, err
	}
	if _, err := hex.DecodeString(info.Log); err != nil || len(info.Log) != 64 {
		return nil, fmt.Errorf("client: election %s: bad log id %q", electionID, info.Log)
	}
	return &Board{C: c, ElectionID: electionID, Log: info.Log}, nil
}

// boardPart is about the most entries Board.Entries returns at once: a
// trustee's replay of a million ballots reads them in parts of this size
// instead of decoding the whole board into memory first.
const boardPart = 4096

// Entries implements trustee.Board, retrying transient failures. It
// returns at most about boardPart entries; the follower asks again for
// the rest.
func (b *Board) Entries(ctx context.Context, start uint64) ([]*bulletin.Entry, error) {
	var out []*bulletin.Entry
	err := retry(ctx, b.Retries, func() error {
		var err error
		out, err = b.C.EntriesUpTo(ctx, b.Log, start, boardPart)
		return err
	})
	return out, err
}

// Post implements trustee.Board. A post that fails transiently (network,
// 5xx) is retried: the ballot box answers an identical resubmission with
// the original index, so a retry never posts twice.
func (b *Board) Post(ctx context.Context, e *bulletin.Entry) (*trustee.Posted, error) {
	var a *PostedAnswer
	err := retry(ctx, b.Retries, func() error {
		var err error
		a, err = b.C.PostTrusteeEntry(ctx, b.ElectionID, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	p := &trustee.Posted{Index: a.Index, Valid: a.Valid == nil || *a.Valid, Reason: a.Reason}
	return p, nil
}

// Wait implements trustee.Board: it follows the board's event stream
// (§7.9, server-sent events from position size) until an entry is
// announced, and falls back to polling the entries if the stream cannot
// be followed.
func (b *Board) Wait(ctx context.Context, size uint64) error {
	poll := b.Poll
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	if !b.NoStream {
		if err := b.follow(ctx, size); err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		var p entriesPage
		_, err := b.C.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/board/%s/entries?start=%d&limit=1", esc(b.Log), size), nil, &p, "")
		if err == nil && len(p.Entries) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// follow returns nil once the event stream announces an entry at or past
// size, and an error if the stream cannot be opened or ends first.
func (b *Board) follow(ctx context.Context, size uint64) error {
	// Only the indices are needed: the index view spares the server an
	// entry view of each mix for each waiting trustee, and the tool
	// reading each mix whole as one line.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/board/%s/stream?from=%d&view=index", b.C.BaseURL, esc(b.Log), size), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	hc := b.C.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return fmt.Errorf("client: event stream answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), maxEventLine)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			if n, err := strconv.ParseUint(id, 10, 64); err == nil && n >= size {
				return nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("client: event stream ended")
}

// maxEventLine bounds one line of the event stream (an entry's JSON view,
// which can carry a whole mix).
const maxEventLine = 1 << 30

// Checkpoint implements trustee.Checkpointer: the signed note of a
// checkpoint covering the whole board, with the witnesses' cosignatures.
func (b *Board) Checkpoint(ctx context.Context) ([]byte, error) {
	var note string
	err := retry(ctx, b.Retries, func() error {
		var err error
		_, note, err = b.C.ElectionCheckpoint(ctx, b.ElectionID)
		return err
	})
	return []byte(note), err
}

var (
	_ trustee.Board        = (*Board)(nil)
	_ trustee.Checkpointer = (*Board)(nil)
)

// Receipt is the ballot box's answer to a cast ballot (spec §10.2).
type Receipt struct {
	TrackingCode     string   `json:"tracking_code"`
	TrackingCodeText string   `json:"tracking_code_text"`
	Pseudonym        string   `json:"pseudonym"`
	Index            uint64   `json:"index"`
	EntryHash        string   `json:"entry_hash"`
	Checkpoint       string   `json:"checkpoint"`
	InclusionProof   []string `json:"inclusion_proof"`
	Witnessed        bool     `json:"witnessed"`
}

// BoardBallot is the public board's answer for a ballot by tracking code
// (spec §7.9): the entry, and once a checkpoint covers it the inclusion
// proof in that checkpoint's tree. Nothing in it is trusted: the caller
// verifies the entry, the checkpoint and the proof.
type BoardBallot struct {
	Entry struct {
		Index     uint64 `json:"index"`
		Canonical string `json:"canonical"`
	} `json:"entry"`
	Inclusion *struct {
		Index uint64   `json:"index"`
		Size  uint64   `json:"size"`
		Path  []string `json:"path"`
	} `json:"inclusion"`
	Checkpoint *struct {
		Note string `json:"note"`
	} `json:"checkpoint"`
}

// BoardBallot looks a ballot up on a log's public board by its tracking
// code (the text form or base64url).
func (c *Client) BoardBallot(ctx context.Context, log, code string) (*BoardBallot, error) {
	var out BoardBallot
	_, err := c.do(ctx, http.MethodGet, "/api/v1/board/"+esc(log)+"/ballots/"+esc(code), nil, &out, "")
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Cast posts a ballot entry signed by the device key, under the voter's
// token.
func (c *Client) Cast(ctx context.Context, electionID, token string, e *bulletin.Entry) (*Receipt, error) {
	var out Receipt
	_, err := c.do(ctx, http.MethodPost, "/api/v1/elections/"+esc(electionID)+"/ballots", map[string]string{"entry": b64.EncodeToString(e.Encode())}, &out, token)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditAnswer is the ballot box's answer to an audit, and to a lookup of
// an audit by tracking code (spec §10.1, §10.2). It is what the server
// says: the second device checks it (the ballot's code, the entry's
// signature, the opening, the inclusion proof) before believing any of it.
type AuditAnswer struct {
	TrackingCode     string   `json:"tracking_code"`
	TrackingCodeText string   `json:"tracking_code_text"`
	Status           string   `json:"status"` // "pending" or "published"
	EntryHash        string   `json:"entry_hash"`
	Ballot           string   `json:"ballot"` // lookup only
	Entry            string   `json:"entry"`  // lookup only
	PublishAfter     uint64   `json:"publish_after"`
	MinBatch         int      `json:"min_batch"`
	Index            uint64   `json:"index"`
	Checkpoint       string   `json:"checkpoint"`
	CheckpointSize   uint64   `json:"checkpoint_size"`
	InclusionProof   []string `json:"inclusion_proof"`
}

// Published reports whether the audit is on the board.
func (a *AuditAnswer) Published() bool { return a.Status == "published" }

// Audit submits a Benaloh audit: the opening and the prepared ballot it
// opens. The ballot box keeps it in its pool and publishes it unlinked, in
// a later shuffled batch (spec §9.4).
func (c *Client) Audit(ctx context.Context, electionID, token string, audited, prepared []byte) (*AuditAnswer, error) {
	var out AuditAnswer
	body := map[string]string{"audited": b64.EncodeToString(audited), "ballot": b64.EncodeToString(prepared)}
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/elections/"+esc(electionID)+"/audits", body, &out, token); err != nil {
		return nil, err
	}
	return &out, nil
}

// AuditByCode looks an accepted audit up by the tracking code as shown to
// the voter, pending or published.
func (c *Client) AuditByCode(ctx context.Context, electionID, code string) (*AuditAnswer, error) {
	var out AuditAnswer
	if _, err := c.do(ctx, http.MethodGet, "/api/v1/elections/"+esc(electionID)+"/audits/"+esc(code), nil, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// Login signs an official in and keeps the session token in c.Token. It
// presents c.Device, and keeps in it the device token the server issues
// when c.Device was empty or no longer valid. It returns the number of
// failed logins on the account since the previous one.
func (c *Client) Login(ctx context.Context, user, password, totp string) (failed int, err error) {
	var out struct {
		Token        string `json:"token"`
		Device       string `json:"device"`
		FailedLogins int    `json:"failed_logins"`
	}
	in := map[string]string{"user": user, "password": password, "totp": totp}
	if c.Device != "" {
		in["device"] = c.Device
	}
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/officials/login", in, &out, ""); err != nil {
		return 0, err
	}
	if out.Token == "" {
		return 0, fmt.Errorf("client: login answered no token")
	}
	c.Token = out.Token
	if out.Device != "" {
		c.Device = out.Device
	}
	return out.FailedLogins, nil
}

// CreateElection asks the ballot box to post a manifest (canonical
// encoding) as a new election.
func (c *Client) CreateElection(ctx context.Context, manifest []byte) (*ElectionInfo, error) {
	var out ElectionInfo
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/elections", map[string]string{"manifest": b64.EncodeToString(manifest)}, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// Act asks for an official's action (qualified, context, open, close,
// cleanse, start-mixing, start-decrypting, tally).
func (c *Client) Act(ctx context.Context, electionID, action string) (*PostedAnswer, error) {
	var out PostedAnswer
	if _, err := c.do(ctx, http.MethodPost, "/api/v1/elections/"+esc(electionID)+"/actions/"+esc(action), map[string]string{}, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// SignCredential implements idp.CredentialSigner: it signs a credential
// of spec §15.14.1 as an entry of type revote-credential of the
// election's log with the identity service's board key, without posting
// it (the credential is published inside its row, §15.16.1).
func (b *IdentityBoard) SignCredential(payload []byte) ([64]byte, error) {
	e, err := bulletin.NewEntry(b.Log, bulletin.TypeRevoteCredential, [32]byte(b.Key.Public().(ed25519.PublicKey)), bulletin.NewEd25519Signer(b.Key), payload)
	if err != nil {
		return [64]byte{}, err
	}
	return e.Signature, nil
}

// Consistency returns the board's consistency proof between its trees of
// first and second entries (RFC 6962 §2.1.2, spec §7.5), as the board
// serves it; the caller verifies it against roots it trusts
// (bulletin.VerifyConsistency). It implements trustee.Consistencer.
func (b *Board) Consistency(ctx context.Context, first, second uint64) ([][32]byte, error) {
	var v struct {
		First  uint64   `json:"first"`
		Second uint64   `json:"second"`
		Path   []string `json:"path"`
	}
	err := retry(ctx, b.Retries, func() error {
		_, err := b.C.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/board/%s/proof/consistency?first=%d&second=%d", esc(b.Log), first, second), nil, &v, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.First != first || v.Second != second {
		return nil, fmt.Errorf("client: consistency proof between %d and %d answered for %d and %d", first, second, v.First, v.Second)
	}
	out := make([][32]byte, len(v.Path))
	for i, h := range v.Path {
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("client: consistency proof: hash %d is not 64 hex digits", i)
		}
		out[i] = [32]byte(raw)
	}
	return out, nil
}

var _ trustee.Consistencer = (*Board)(nil)
