package connect

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// CheckURL applies the token URL policy alone, without sending anything: the
// URL must be absolute, https (http only for a loopback host), without
// userinfo, query or fragment, and its host must match Options.AllowedHosts
// when set. It returns nil or an *Error of Kind KindURLNotAllowed. The
// reconciler calls it before reading credentials, so a disallowed host never
// sees them; Token applies it again.
func (c *Client) CheckURL(tokenURL string) error {
	if _, err := c.checkURL(tokenURL); err != nil {
		return err
	}
	return nil
}

// ValidateAllowedHosts reports the first malformed allowed-host pattern, so
// a manager can refuse a bad --allowed-token-hosts flag at start instead of
// refusing every token URL later.
func ValidateAllowedHosts(patterns []string) error {
	for _, p := range patterns {
		if _, err := parseHostPattern(p); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) checkURL(tokenURL string) (*url.URL, *Error) {
	notAllowed := func(format string, args ...any) *Error {
		return &Error{Kind: KindURLNotAllowed, msg: "token URL not allowed: " + fmt.Sprintf(format, args...)}
	}
	u, err := url.Parse(tokenURL)
	// The parse error quotes the whole URL, query included: never show it.
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return nil, notAllowed("not an absolute URL with a host")
	}
	safe := safeURL(u)
	switch {
	case u.User != nil:
		return nil, notAllowed("%s must not contain user information", safe)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, notAllowed("%s must not have a query string", safe)
	case u.Fragment != "" || strings.Contains(tokenURL, "#"):
		return nil, notAllowed("%s must not have a fragment", safe)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, notAllowed("%s uses http, which is allowed only for loopback hosts; use https", safe)
		}
	default:
		return nil, notAllowed("%s: scheme %q is not https", safe, u.Scheme)
	}
	if len(c.allowed) > 0 && !c.hostAllowed(u) {
		return nil, notAllowed("host %q is not in the allowed token hosts %v", u.Host, c.allowedRaw)
	}
	return u, nil
}

// safeURL renders scheme://host/path: never the userinfo, query or fragment,
// which is where secrets would hide.
func safeURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

func isLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// effectivePort returns the URL's port, or the scheme's default.
func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// hostPattern is one parsed AllowedHosts entry.
type hostPattern struct {
	host     string // lower case, without trailing dot; for wildcards the suffix with its leading dot
	wildcard bool   // "*.suffix": any subdomain of suffix, not suffix itself
	port     string // "" matches any port
}

func parseHostPattern(p string) (hostPattern, error) {
	raw := p
	p = strings.ToLower(strings.TrimSpace(p))
	if p == "" {
		return hostPattern{}, fmt.Errorf("allowed token host pattern is empty")
	}
	host, port := p, ""
	switch {
	case strings.HasPrefix(p, "["):
		// [v6] or [v6]:port
		if h, pt, err := net.SplitHostPort(p); err == nil {
			host, port = h, pt
		} else if strings.HasSuffix(p, "]") {
			host = p[1 : len(p)-1]
		} else {
			return hostPattern{}, fmt.Errorf("allowed token host pattern %q: %v", raw, err)
		}
	case strings.Count(p, ":") == 1:
		h, pt, err := net.SplitHostPort(p)
		if err != nil {
			return hostPattern{}, fmt.Errorf("allowed token host pattern %q: %v", raw, err)
		}
		host, port = h, pt
	}
	if port != "" {
		for _, c := range port {
			if c < '0' || c > '9' {
				return hostPattern{}, fmt.Errorf("allowed token host pattern %q: port %q is not a number", raw, port)
			}
		}
	}
	hp := hostPattern{host: strings.TrimSuffix(host, "."), port: port}
	if strings.HasPrefix(hp.host, "*.") {
		hp.wildcard = true
		hp.host = hp.host[1:] // keep the dot: ".suffix"
	}
	if hp.host == "" || hp.host == "." || strings.Contains(hp.host, "*") || strings.ContainsAny(hp.host, "/?#@ ") {
		return hostPattern{}, fmt.Errorf("allowed token host pattern %q: want host, host:port or *.suffix", raw)
	}
	return hp, nil
}

func (p hostPattern) matches(host, port string) bool {
	if p.port != "" && p.port != port {
		return false
	}
	if p.wildcard {
		return len(host) > len(p.host) && strings.HasSuffix(host, p.host)
	}
	return host == p.host
}

func (c *Client) hostAllowed(u *url.URL) bool {
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := effectivePort(u)
	for _, p := range c.allowed {
		if p.matches(host, port) {
			return true
		}
	}
	return false
}

// hostKey names the token host a request goes to, for rate limiting and
// metrics: lower-case host and effective port.
func hostKey(u *url.URL) string {
	return net.JoinHostPort(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), effectivePort(u))
}
