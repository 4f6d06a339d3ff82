package client

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"time"
)

// Challenge is the identity service's answer to the first factor.
type Challenge struct {
	ChallengeID        string    `json:"challenge_id"`
	ExpiresAt          time.Time `json:"expires_at"`
	PhoneHint          string    `json:"phone_hint"`
	ResendAfterSeconds int       `json:"resend_after_seconds"`
	// Unconfirmed: the answer does not say whether the details matched; if
	// they did, a code is on its way (spec/08-identity.md §8.11.3).
	Unconfirmed bool `json:"unconfirmed"`
}

// VoterToken is the identity service's answer to the second factor: a
// voting token bound to the device key.
type VoterToken struct {
	Token       string    `json:"token"`
	TokenType   string    `json:"token_type"`
	ExpiresAt   time.Time `json:"expires_at"`
	Pseudonym   string    `json:"pseudonym"`
	BallotStyle string    `json:"ballot_style"`
	KeyID       string    `json:"key_id"`
	// In deniable re-voting mode (spec §15.16.1): the credential, its
	// signature as a revote-credential entry and s, all base64url.
	RevoteCredential    string `json:"revote_credential,omitempty"`
	RevoteCredentialSig string `json:"revote_credential_sig,omitempty"`
	RevoteS             string `json:"revote_s,omitempty"`
}

// StartAuth sends the first factor (PIN, document number, birth date as
// YYYY-MM-DD); the service texts a one-time code to the phone on record,
// in lang (ky, ru, uz or en; empty: the service's default).
func (c *Client) StartAuth(ctx context.Context, pin, documentNumber, birthDate, lang string) (*Challenge, error) {
	var out Challenge
	body := map[string]string{"pin": pin, "document_number": documentNumber, "birth_date": birthDate}
	if lang != "" {
		body["lang"] = lang
	}
	if _, err := c.do(ctx, http.MethodPost, "/v1/auth/start", body, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// VerifyAuth sends the one-time code with the device's public key and
// returns the voting token.
func (c *Client) VerifyAuth(ctx context.Context, challengeID, code string, device ed25519.PublicKey) (*VoterToken, error) {
	var out VoterToken
	body := map[string]string{"challenge_id": challengeID, "code": code, "device_key": b64.EncodeToString(device)}
	if _, err := c.do(ctx, http.MethodPost, "/v1/auth/verify", body, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListItem is one change of a voter-list request.
type ListItem struct {
	Op          string `json:"op"` // "add", "remove", "phone"
	PIN         string `json:"pin"`
	BallotStyle string `json:"ballot_style,omitempty"`
	Phone       string `json:"phone,omitempty"`
}

// NextListSequence returns the sequence number the next voter-list change
// must carry.
func (c *Client) NextListSequence(ctx context.Context) (uint64, error) {
	var out struct {
		Sequence uint64 `json:"sequence"`
	}
	_, err := c.do(ctx, http.MethodGet, "/v1/officials/list-changes/next", nil, &out, "")
	return out.Sequence, err
}

// ChangeVoterList submits a list official's signed statement (a canonical
// VoterListChange), the salt of its details digest and the items.
func (c *Client) ChangeVoterList(ctx context.Context, statement []byte, salt [32]byte, items []ListItem) error {
	// The statement first: the identity service checks it before it reads
	// the items (spec/08-identity.md §8.10).
	body := struct {
		Statement string     `json:"statement"`
		Salt      string     `json:"salt"`
		Items     []ListItem `json:"items"`
	}{b64.EncodeToString(statement), b64.EncodeToString(salt[:]), items}
	_, err := c.do(ctx, http.MethodPost, "/v1/officials/list-changes", body, nil, "")
	return err
}

// MarkInPerson submits a polling station's signed in-person mark (a
// canonical InPersonMark).
func (c *Client) MarkInPerson(ctx context.Context, mark []byte) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/officials/marks", map[string]string{"mark": b64.EncodeToString(mark)}, nil, "")
	return err
}

// RegisterPolling submits a list official's signed registration of polling
// stations and officials (a canonical PollingRegistration); the identity
// service posts it to the board, before voting opens.
func (c *Client) RegisterPolling(ctx context.Context, registration []byte) error {
	_, err := c.do(ctx, http.MethodPost, "/v1/officials/registrations", map[string]string{"registration": b64.EncodeToString(registration)}, nil, "")
	return err
}

// VoterLookup is a polling station's signed look-up of the voter in front
// of it (spec/08-identity.md §8.8.5): the fields and both signatures over
// voterlist.LookupRequest.SigningBytes.
type VoterLookup struct {
	ElectionID, StationID, OfficialID string
	PIN                               string
	At                                uint64 // Unix seconds
	StationSig, OfficialSig           [64]byte
}

// VoterStatus is the identity service's answer to a look-up: what the
// station needs to sign a mark, and no name.
type VoterStatus struct {
	Pseudonym         string     `json:"pseudonym"` // 64 hex digits
	BallotStyle       string     `json:"ballot_style"`
	CredentialsIssued *int       `json:"credentials_issued,omitempty"` // nil in deniable re-voting mode
	MarkedAt          *time.Time `json:"marked_at,omitempty"`          // nil if not marked
}

// LookupVoter sends a polling station's signed look-up (POST
// /v1/officials/lookup).
func (c *Client) LookupVoter(ctx context.Context, l *VoterLookup) (*VoterStatus, error) {
	body := map[string]any{"election_id": l.ElectionID, "station_id": l.StationID, "official_id": l.OfficialID, "pin": l.PIN, "at": l.At,
		"station_sig": b64.EncodeToString(l.StationSig[:]), "official_sig": b64.EncodeToString(l.OfficialSig[:])}
	var out VoterStatus
	if _, err := c.do(ctx, http.MethodPost, "/v1/officials/lookup", body, &out, ""); err != nil {
		return nil, err
	}
	return &out, nil
}
