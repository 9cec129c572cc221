package connect

import (
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxLifetimeSeconds mirrors x/oauth2's clamp of expires_in to an int32.
const maxLifetimeSeconds = math.MaxInt32

// readToken validates a successful x/oauth2 answer and extracts what the
// operator needs. x/oauth2 already refused bodies that do not parse and
// answers without access_token.
func readToken(ot *oauth2.Token, issuedAt time.Time, requested []string, safe string, x *exchange, red redactor) (*Token, *Error) {
	bad := func(why string) *Error { return malformed(safe, x, why) }
	if ot.AccessToken == "" {
		return nil, bad("no access_token")
	}
	if !strings.EqualFold(ot.TokenType, "bearer") {
		if ot.TokenType == "" {
			return nil, bad("no token_type")
		}
		return nil, bad("token_type " + strconv.Quote(capBytes(red.description(ot.TokenType), 32)) + " is not bearer")
	}
	secs, ok := expiresIn(ot.Extra("expires_in"))
	if !ok {
		return nil, bad("expires_in is not a non-negative whole number of seconds")
	}
	return &Token{
		AccessToken:   ot.AccessToken,
		TokenType:     ot.TokenType,
		Lifetime:      time.Duration(secs) * time.Second,
		IssuedAt:      issuedAt,
		GrantedScopes: grantedScopes(ot.Extra("scope"), requested),
		Claims:        readClaims(ot.AccessToken),
	}, nil
}

// expiresIn reads expires_in as JSON decoding (float64), a form-encoded
// response (int64 or string) or a numeric JSON string left it; absent is 0.
func expiresIn(v any) (int64, bool) {
	var n int64
	switch v := v.(type) {
	case nil:
		return 0, true
	case float64:
		if v < 0 || v != math.Trunc(v) || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, false
		}
		n = int64(min(v, maxLifetimeSeconds))
	case int64:
		n = v
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0, true
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		n = i
	default:
		return 0, false
	}
	if n < 0 {
		return 0, false
	}
	return min(n, maxLifetimeSeconds), true
}

// grantedScopes splits the response's scope; RFC 6749 §5.1 lets the server
// omit it when it granted what was asked. Scope tokens with characters RFC
// 6749 §3.3 does not allow are dropped, since they end up in status.
func grantedScopes(v any, requested []string) []string {
	if s, ok := v.(string); ok {
		var out []string
		for _, f := range strings.Fields(s) {
			if validScopeToken(f) {
				out = append(out, f)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	if len(requested) == 0 {
		return nil
	}
	return append([]string(nil), requested...)
}

func validScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return len(s) <= 256
}
