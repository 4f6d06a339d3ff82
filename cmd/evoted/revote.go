package main

import (
	"context"

	"evote/ballotbox"
	"evote/idp/boxauth"
	"evote/tally/revote"
)

// boxCredentials is the ballot box's credential source in deniable
// re-voting mode (spec §15.16.2): the identity service at --identity-url,
// asked with requests signed by the authority key.
type boxCredentials struct{ c *boxauth.Client }

var _ ballotbox.CredentialSource = boxCredentials{}

func (s boxCredentials) DummyCredentials(ctx context.Context, electionID string, items []ballotbox.DummyItem) ([]ballotbox.SignedCredential, error) {
	its := make([]boxauth.Item, len(items))
	for i, it := range items {
		its[i] = boxauth.Item{Kind: boxauth.Dummy, Style: it.Style, Index: it.Index, Identifier: [32]byte(revote.DummyID(electionID, it.Style, it.Index).Bytes()), DeviceKey: it.DeviceKey}
	}
	return s.request(ctx, electionID, its)
}

func (s boxCredentials) PaddingCredentials(ctx context.Context, electionID string, items []ballotbox.PaddingItem) ([]ballotbox.SignedCredential, error) {
	its := make([]boxauth.Item, len(items))
	for i, it := range items {
		its[i] = boxauth.Item{Kind: boxauth.Padding, Style: it.Style, Pseudonym: it.Voter, DeviceKey: it.DeviceKey}
	}
	return s.request(ctx, electionID, its)
}

// request asks in batches of at most boxauth.MaxItems.
func (s boxCredentials) request(ctx context.Context, electionID string, items []boxauth.Item) ([]ballotbox.SignedCredential, error) {
	out := make([]ballotbox.SignedCredential, 0, len(items))
	for len(items) > 0 {
		n := min(len(items), boxauth.MaxItems)
		cs, err := s.c.Request(ctx, electionID, items[:n])
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
