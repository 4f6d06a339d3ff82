// Package boxauth is the ballot box's signed request to the identity
// service for the credentials of its dummy and padding rows in deniable
// re-voting mode (spec §15.16.2): the signed message, and the HTTP client
// of POST /v1/revote/box-credentials. Both the identity service (which
// checks the request) and the ballot box (which signs it) use it; it
// imports neither.
package boxauth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Tag is the domain-separation tag of the box's requests.
const Tag = "evote-v1/revote/box-credentials"

// MaxItems bounds the items of one request.
const MaxItems = 4096

// Kinds of Item.
const (
	Dummy   uint8 = 0
	Padding uint8 = 1
)

// Item is one credential the ballot box asks for, bound to a device key
// the box generated: a dummy row's (Kind Dummy), for dummy voter Index of
// Style with the identifier the box expects (D_{Style,Index}), or, after
// the close, a padding row's (Kind Padding) for the voter with that
// pseudonym.
type Item struct {
	Kind       uint8
	Style      string
	Index      uint64
	Identifier [32]byte // Element(D_{Style,Index}); zero for padding
	Pseudonym  [32]byte // zero for a dummy
	DeviceKey  [32]byte
}

// Message is what the box signs (spec §15.16.2):
//
//	string("evote-v1/revote/box-credentials") || string(election_id) || u64(at)
//	|| SHA-256(per item: u8(kind) || string(style) || u64(index) || identifier[32]
//	           || pseudonym[32] || device_key[32])
func Message(electionID string, at int64, items []Item) []byte {
	h := sha256.New()
	for _, it := range items {
		var b []byte
		b = append(b, it.Kind)
		b = appendStr(b, it.Style)
		b = binary.BigEndian.AppendUint64(b, it.Index)
		b = append(b, it.Identifier[:]...)
		b = append(b, it.Pseudonym[:]...)
		b = append(b, it.DeviceKey[:]...)
		h.Write(b)
	}
	m := appendStr(nil, Tag)
	m = appendStr(m, electionID)
	m = binary.BigEndian.AppendUint64(m, uint64(at))
	return h.Sum(m)
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Credential is a credential of spec §15.14.1 with the identity service's
// signature over it as a revote-credential entry.
type Credential struct {
	Credential []byte
	Signature  [64]byte
}

// Client asks an identity service for credentials over HTTP, signing
// with the ballot box's authority key.
type Client struct {
	BaseURL string // the identity service, e.g. https://id.example
	Key     ed25519.PrivateKey
	HTTP    *http.Client     // default: 30 s timeout
	Now     func() time.Time // default time.Now
}

var b64 = base64.RawURLEncoding

// Request asks for one credential per item, in order.
func (c *Client) Request(ctx context.Context, electionID string, items []Item) ([]Credential, error) {
	if len(items) == 0 || len(items) > MaxItems {
		return nil, fmt.Errorf("boxauth: %d items (1 to %d)", len(items), MaxItems)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	at := now().Unix()
	js := make([]map[string]any, len(items))
	for i, it := range items {
		j := map[string]any{"style": it.Style, "device_key": b64.EncodeToString(it.DeviceKey[:])}
		switch it.Kind {
		case Dummy:
			j["kind"], j["index"], j["identifier"] = "dummy", it.Index, hex.EncodeToString(it.Identifier[:])
		case Padding:
			j["kind"], j["pseudonym"] = "padding", hex.EncodeToString(it.Pseudonym[:])
		default:
			return nil, fmt.Errorf("boxauth: item %d of kind %d", i, it.Kind)
		}
		js[i] = j
	}
	sig := ed25519.Sign(c.Key, Message(electionID, at, items))
	body, err := json.Marshal(map[string]any{"election_id": electionID, "at": at, "items": js, "box_sig": b64.EncodeToString(sig)})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/v1/revote/box-credentials", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("boxauth: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("boxauth: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("boxauth: the identity service answered %d: %s", resp.StatusCode, bytes.TrimSpace(raw[:min(len(raw), 512)]))
	}
	var out struct {
		Credentials []struct {
			Credential    string `json:"credential"`
			CredentialSig string `json:"credential_sig"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("boxauth: answer: %w", err)
	}
	if len(out.Credentials) != len(items) {
		return nil, fmt.Errorf("boxauth: %d credentials for %d items", len(out.Credentials), len(items))
	}
	creds := make([]Credential, len(items))
	for i, x := range out.Credentials {
		cr, err := b64.DecodeString(x.Credential)
		sg, err2 := b64.DecodeString(x.CredentialSig)
		if err != nil || err2 != nil || len(cr) == 0 || len(sg) != 64 {
			return nil, errors.New("boxauth: malformed credential in the answer")
		}
		creds[i] = Credential{Credential: cr, Signature: [64]byte(sg)}
	}
	return creds, nil
}
