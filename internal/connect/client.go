// Package connect requests access tokens from WorkOS Connect (or any RFC 6749
// authorization server) with the client credentials grant, and classifies
// every failure into an *Error whose message is safe to show.
package connect

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"
)

// AuthMethod is how the client authenticates to the token endpoint.
type AuthMethod string

const (
	// AuthClientSecretPost sends client_id and client_secret in the form body
	// (OIDC client_secret_post), WorkOS's documented method. The empty
	// AuthMethod means this.
	AuthClientSecretPost AuthMethod = "ClientSecretPost"
	// AuthClientSecretBasic sends them in an HTTP Basic Authorization header
	// (OIDC client_secret_basic, RFC 6749 §2.3.1).
	AuthClientSecretBasic AuthMethod = "ClientSecretBasic"
)

// Request is one client credentials grant.
type Request struct {
	// TokenURL is the full token endpoint, e.g. https://acme.authkit.app/oauth2/token.
	TokenURL string
	// ClientID and ClientSecret authenticate the client; both are required.
	ClientID, ClientSecret string
	// Scopes are sent space-separated in "scope"; none sends no scope.
	Scopes []string
	// AuthMethod selects how the credentials are sent; "" means post.
	AuthMethod AuthMethod
	// AdditionalParameters are extra form parameters (Auth0 "audience",
	// RFC 8707 "resource"). grant_type, client_id, client_secret and scope
	// are refused.
	AdditionalParameters map[string]string
	// CABundle is PEM certificates trusted in addition to the system roots;
	// nil trusts the system roots only.
	CABundle []byte
}

// Token is an access token and what the operator needs to know about it.
type Token struct {
	// AccessToken is the token itself. Never log it.
	AccessToken string
	// TokenType is token_type as sent; it equals "bearer" ignoring case.
	TokenType string
	// Lifetime is expires_in in whole seconds; 0 when absent or 0, in which
	// case the caller applies its default.
	Lifetime time.Duration
	// IssuedAt is when the request was sent, by the client's clock, truncated
	// to seconds. Taking the send time errs on the early side: the token's
	// real expiry is never before IssuedAt + Lifetime.
	IssuedAt time.Time
	// GrantedScopes are the response's "scope" split on spaces when present
	// and non-empty, else the requested scopes (RFC 6749 §5.1).
	GrantedScopes []string
	// Claims are read from the access token when it is a JWT; zero otherwise.
	Claims Claims
}

// Options configures a Client. The zero value is usable.
type Options struct {
	// Timeout bounds one token request; 10s when 0.
	Timeout time.Duration
	// RequestsPerSecond is the client-side limit per token host; 10 when 0,
	// unlimited when negative.
	RequestsPerSecond float64
	// Burst is the limiter's burst per token host; 20 when 0 or less.
	Burst int
	// AllowedHosts restricts token hosts; empty allows any. Each entry is
	// "host", "host:port" or "*.suffix" (any subdomain, not the suffix
	// itself), case-insensitive; without a port any port matches. Malformed
	// entries match nothing (see ValidateAllowedHosts).
	AllowedHosts []string
	// Clock stamps IssuedAt and dates Retry-After; the real clock when nil.
	Clock clock.PassiveClock
	// UserAgent is sent as User-Agent when not empty.
	UserAgent string
	// Observe, when set, is called once per request sent (not for requests
	// refused before sending) with the token host (host:port), the Kind of
	// the outcome ("" on success) and the request's duration.
	Observe func(host string, kind Kind, d time.Duration)
}

// Client requests tokens. It is safe for concurrent use and keeps per-host
// rate limiters and per-CA-bundle transports, both bounded in number.
type Client struct {
	timeout    time.Duration
	clock      clock.PassiveClock
	userAgent  string
	observe    func(string, Kind, time.Duration)
	allowed    []hostPattern
	allowedRaw []string
	limiters   *hostLimiters
	transports *transports
}

// NewClient returns a Client with o's settings, defaults filled in.
func NewClient(o Options) *Client {
	c := &Client{
		timeout:    o.Timeout,
		clock:      o.Clock,
		userAgent:  o.UserAgent,
		observe:    o.Observe,
		transports: newTransports(),
	}
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	limit := rate.Limit(o.RequestsPerSecond)
	switch {
	case o.RequestsPerSecond == 0:
		limit = 10
	case o.RequestsPerSecond < 0:
		limit = rate.Inf
	}
	burst := o.Burst
	if burst <= 0 {
		burst = 20
	}
	c.limiters = newHostLimiters(limit, burst)
	for _, p := range o.AllowedHosts {
		if strings.TrimSpace(p) == "" {
			continue
		}
		hp, err := parseHostPattern(p)
		if err != nil {
			hp = hostPattern{} // fail closed: matches no host
		}
		c.allowed = append(c.allowed, hp)
		c.allowedRaw = append(c.allowedRaw, strings.TrimSpace(p))
	}
	return c
}

// reservedParams are set by the grant itself; x/oauth2 would even let an
// additional parameter override grant_type.
var reservedParams = map[string]bool{"grant_type": true, "client_id": true, "client_secret": true, "scope": true}

// Token performs one client credentials grant (RFC 6749 §4.4). The URL policy
// is checked first, then the per-host rate limit is waited for within ctx,
// then a single request is sent (redirects are not followed, nothing is
// retried). Every error is an *Error.
func (c *Client) Token(ctx context.Context, r Request) (*Token, error) {
	u, perr := c.checkURL(r.TokenURL)
	if perr != nil {
		return nil, perr
	}
	cfg, perr := grantConfig(r)
	if perr != nil {
		return nil, perr
	}
	base, err := c.transports.get(r.CABundle)
	if err != nil {
		return nil, &Error{Kind: KindRejected, msg: "token request not sent: " + err.Error()}
	}
	host := hostKey(u)
	if perr := c.limiters.wait(ctx, host); perr != nil {
		return nil, perr
	}

	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	x := &exchange{}
	hc := &http.Client{
		Transport: &recordingTransport{base: base, userAgent: c.userAgent},
		Timeout:   c.timeout,
		// A token endpoint that redirects is misconfigured or hostile; a
		// followed redirect would carry the credentials to another place.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	reqCtx = context.WithValue(withExchange(reqCtx, x), oauth2.HTTPClient, hc)

	issuedAt := c.clock.Now().Truncate(time.Second)
	start := time.Now()
	ot, err := cfg.Token(reqCtx)
	d := time.Since(start)

	red := newRedactor(r.ClientSecret, tokenOf(ot))
	var tok *Token
	var terr *Error
	if err != nil {
		terr = c.classify(reqCtx, ctx, u, x, err, red)
	} else {
		tok, terr = readToken(ot, issuedAt, r.Scopes, safeURL(u), x, red)
	}
	if c.observe != nil {
		var k Kind
		if terr != nil {
			k = terr.Kind
		}
		c.observe(host, k, d)
	}
	if terr != nil {
		return nil, terr
	}
	return tok, nil
}

// grantConfig validates r and turns it into the x/oauth2 configuration.
func grantConfig(r Request) (*clientcredentials.Config, *Error) {
	invalid := func(format string, args ...any) *Error {
		return &Error{Kind: KindRejected, msg: "token request not sent: " + fmt.Sprintf(format, args...)}
	}
	if r.ClientID == "" || r.ClientSecret == "" {
		return nil, invalid("client ID and client secret are required")
	}
	cfg := &clientcredentials.Config{
		ClientID:     r.ClientID,
		ClientSecret: r.ClientSecret,
		TokenURL:     r.TokenURL,
		Scopes:       r.Scopes,
	}
	switch r.AuthMethod {
	case "", AuthClientSecretPost:
		cfg.AuthStyle = oauth2.AuthStyleInParams
	case AuthClientSecretBasic:
		cfg.AuthStyle = oauth2.AuthStyleInHeader
	default:
		return nil, invalid("unknown client authentication method %q", capBytes(stripControl(string(r.AuthMethod)), 64))
	}
	for _, s := range r.Scopes {
		if s == "" || strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			return nil, invalid("scope %q is empty or holds whitespace", capBytes(stripControl(s), 64))
		}
	}
	if len(r.AdditionalParameters) > 0 {
		cfg.EndpointParams = url.Values{}
		for k, v := range r.AdditionalParameters {
			if reservedParams[k] {
				return nil, invalid("additional parameter %q is set by the grant itself", k)
			}
			cfg.EndpointParams.Set(k, v)
		}
	}
	return cfg, nil
}

func tokenOf(t *oauth2.Token) string {
	if t == nil {
		return ""
	}
	return t.AccessToken
}
