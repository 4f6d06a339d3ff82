// Package idsource is the ballot box's credential source in deniable
// re-voting mode (spec §15.16.2): the identity service over HTTP
// (POST /v1/revote/box-credentials), asked with requests signed by the
// box's authority key (package idp/boxauth). evoted uses it with
// --identity-url; the demo (evote demo --coercion) too.
package idsource

import (
	"context"

	"evote/ballotbox"
	"evote/idp/boxauth"
	"evote/tally/revote"
)

// Source implements ballotbox.CredentialSource with an identity service's
// HTTP client.
type Source struct{ C *boxauth.Client }

var _ ballotbox.CredentialSource = Source{}

// DummyCredentials asks for the credentials of dummy voters D_{style,index}
// (their identifiers as the box expects them).
func (s Source) DummyCredentials(ctx context.Context, electionID string, items []ballotbox.DummyItem) ([]ballotbox.SignedCredential, error) {
	its := make([]boxauth.Item, len(items))
	for i, it := range items {
		its[i] = boxauth.Item{Kind: boxauth.Dummy, Style: it.Style, Index: it.Index, Identifier: [32]byte(revote.DummyID(electionID, it.Style, it.Index).Bytes()), DeviceKey: it.DeviceKey}
	}
	return s.request(ctx, electionID, its)
}

// PaddingCredentials asks, after the close, for padding credentials of
// the voters named by pseudonym.
func (s Source) PaddingCredentials(ctx context.Context, electionID string, items []ballotbox.PaddingItem) ([]ballotbox.SignedCredential, error) {
	its := make([]boxauth.Item, len(items))
	for i, it := range items {
		its[i] = boxauth.Item{Kind: boxauth.Padding, Style: it.Style, Pseudonym: it.Voter, DeviceKey: it.DeviceKey}
	}
	return s.request(ctx, electionID, its)
}

// request asks in batches of at most boxauth.MaxItems.
func (s Source) request(ctx context.Context, electionID string, items []boxauth.Item) ([]ballotbox.SignedCredential, error) {
	out := make([]ballotbox.SignedCredential, 0, len(items))
	for len(items) > 0 {
		n := min(len(items), boxauth.MaxItems)
		cs, err := s.C.Request(ctx, electionID, items[:n])
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out = append(out, ballotbox.SignedCredential{Credential: c.Credential, Signature: c.Signature})
		}
		items = items[n:]
	}
	return out, nil
}
