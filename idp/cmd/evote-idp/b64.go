package main

import "encoding/base64"

func b64url(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
func b64std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
