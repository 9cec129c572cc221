package connect

import (
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Caps on claim values, which end up in status fields.
const (
	maxClaimIDBytes    = 256
	maxClaimScopeBytes = 2048
)

// Claims are the access token's JWT claims that the operator displays. They
// are read without verifying the signature (the operator is not the token's
// audience and holds no key), so they are for display only, never for a
// decision.
type Claims struct {
	// TokenID is the "jti" claim.
	TokenID string
	// OrganizationID is WorkOS's "org_id" claim.
	OrganizationID string
	// Scope is the "scope" claim (or "scp" when given as a list), space-separated.
	Scope string
	// ExpiresAt is the "exp" claim in UTC; zero when absent.
	ExpiresAt time.Time
}

// readClaims parses an access token as an unverified JWT. Opaque tokens, and
// JWTs whose claims have unexpected types, give zero Claims: the token is
// still usable, there is just nothing to display.
func readClaims(accessToken string) Claims {
	var mc jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(accessToken, &mc); err != nil {
		return Claims{}
	}
	var c Claims
	c.TokenID = claimString(mc["jti"], maxClaimIDBytes)
	c.OrganizationID = claimString(mc["org_id"], maxClaimIDBytes)
	c.Scope = claimString(mc["scope"], maxClaimScopeBytes)
	if c.Scope == "" {
		c.Scope = claimString(mc["scp"], maxClaimScopeBytes)
	}
	if exp, err := mc.GetExpirationTime(); err == nil && exp != nil {
		c.ExpiresAt = exp.UTC()
	}
	return c
}

// claimString renders a string claim, or a list of strings joined with
// spaces, sanitized for display.
func claimString(v any, max int) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			if ps, ok := p.(string); ok {
				parts = append(parts, ps)
			}
		}
		s = strings.Join(parts, " ")
	}
	return capBytes(stripControl(s), max)
}
