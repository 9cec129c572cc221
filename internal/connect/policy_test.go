package connect

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestCheckURL(t *testing.T) {
	tests := map[string]struct {
		url     string
		allowed bool
		wantMsg string // for refused URLs
	}{
		"https is allowed":                            {url: "https://acme.authkit.app/oauth2/token", allowed: true},
		"https with a port is allowed":                {url: "https://idp.example.com:8443/token", allowed: true},
		"http to localhost is allowed":                {url: "http://localhost:8089/oauth2/token", allowed: true},
		"http to 127.0.0.0/8 is allowed":              {url: "http://127.1.2.3/oauth2/token", allowed: true},
		"http to ::1 is allowed":                      {url: "http://[::1]:8089/oauth2/token", allowed: true},
		"http to another host is refused":             {url: "http://acme.authkit.app/oauth2/token", wantMsg: `http://acme.authkit.app/oauth2/token uses http`},
		"http to a lookalike of localhost is refused": {url: "http://localhost.evil.example/token", wantMsg: "uses http"},
		"another scheme is refused":                   {url: "ftp://acme.authkit.app/token", wantMsg: `scheme "ftp"`},
		"a relative URL is refused":                   {url: "/oauth2/token", wantMsg: "not an absolute URL"},
		"an empty URL is refused":                     {url: "", wantMsg: "not an absolute URL"},
		"a URL without a host is refused":             {url: "https:///oauth2/token", wantMsg: "not an absolute URL"},
		"an opaque URL is refused":                    {url: "https:acme.authkit.app", wantMsg: "not an absolute URL"},
		"an unparseable URL is refused without quoting it": {
			url: "https://acme.authkit.app:port/?q=" + queryMarker, wantMsg: "not an absolute URL",
		},
		"userinfo is refused without showing it": {
			url: "https://user:" + userinfoMarker + "@acme.authkit.app/oauth2/token", wantMsg: "https://acme.authkit.app/oauth2/token must not contain user information",
		},
		"a query is refused without showing it": {
			url: "https://acme.authkit.app/oauth2/token?client_secret=" + queryMarker, wantMsg: "https://acme.authkit.app/oauth2/token must not have a query string",
		},
		"an empty query is refused":    {url: "https://acme.authkit.app/oauth2/token?", wantMsg: "must not have a query string"},
		"a fragment is refused":        {url: "https://acme.authkit.app/oauth2/token#" + queryMarker, wantMsg: "must not have a fragment"},
		"an empty fragment is refused": {url: "https://acme.authkit.app/oauth2/token#", wantMsg: "must not have a fragment"},
	}
	c := NewClient(Options{})
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := c.CheckURL(tc.url)
			expectSafe(t, err)
			if tc.allowed {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			e := asError(g, err)
			g.Expect(e.Kind).To(Equal(KindURLNotAllowed))
			g.Expect(e.StatusCode).To(BeZero())
			g.Expect(err.Error()).To(ContainSubstring(tc.wantMsg))
		})
	}
}

func TestAllowedHosts(t *testing.T) {
	tests := map[string]struct {
		patterns []string
		url      string
		allowed  bool
	}{
		"no patterns allow any host":                       {patterns: nil, url: "https://anything.example/token", allowed: true},
		"empty entries are ignored":                        {patterns: []string{"", " "}, url: "https://anything.example/token", allowed: true},
		"an exact host matches":                            {patterns: []string{"acme.authkit.app"}, url: "https://acme.authkit.app/oauth2/token", allowed: true},
		"matching ignores case":                            {patterns: []string{"ACME.AuthKit.app"}, url: "https://acme.AUTHKIT.app/oauth2/token", allowed: true},
		"an exact host does not match a subdomain":         {patterns: []string{"authkit.app"}, url: "https://acme.authkit.app/oauth2/token", allowed: false},
		"a pattern without port matches any port":          {patterns: []string{"idp.example.com"}, url: "https://idp.example.com:8443/token", allowed: true},
		"a pattern with a port matches that port":          {patterns: []string{"idp.example.com:8443"}, url: "https://idp.example.com:8443/token", allowed: true},
		"a pattern with a port refuses other ports":        {patterns: []string{"idp.example.com:8443"}, url: "https://idp.example.com:9443/token", allowed: false},
		"a pattern with port 443 matches the default port": {patterns: []string{"idp.example.com:443"}, url: "https://idp.example.com/token", allowed: true},
		"a wildcard matches a subdomain":                   {patterns: []string{"*.authkit.app"}, url: "https://acme.authkit.app/oauth2/token", allowed: true},
		"a wildcard matches a deeper subdomain":            {patterns: []string{"*.authkit.app"}, url: "https://a.b.authkit.app/oauth2/token", allowed: true},
		"a wildcard does not match the bare suffix":        {patterns: []string{"*.authkit.app"}, url: "https://authkit.app/oauth2/token", allowed: false},
		"a wildcard does not match a lookalike":            {patterns: []string{"*.authkit.app"}, url: "https://evilauthkit.app/oauth2/token", allowed: false},
		"a wildcard with a port checks the port":           {patterns: []string{"*.authkit.app:443"}, url: "https://acme.authkit.app:8443/token", allowed: false},
		"any of several patterns may match":                {patterns: []string{"*.authkit.app", "127.0.0.1"}, url: "http://127.0.0.1:8089/oauth2/token", allowed: true},
		"an IPv6 pattern matches":                          {patterns: []string{"[::1]:8089"}, url: "http://[::1]:8089/oauth2/token", allowed: true},
		"a bare IPv6 pattern matches any port":             {patterns: []string{"::1"}, url: "http://[::1]:9000/oauth2/token", allowed: true},
		"a trailing dot is ignored":                        {patterns: []string{"acme.authkit.app."}, url: "https://acme.authkit.app./oauth2/token", allowed: true},
		"a malformed pattern fails closed":                 {patterns: []string{"*"}, url: "https://acme.authkit.app/oauth2/token", allowed: false},
		"loopback http still needs a matching pattern":     {patterns: []string{"*.authkit.app"}, url: "http://127.0.0.1:8089/oauth2/token", allowed: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := NewClient(Options{AllowedHosts: tc.patterns}).CheckURL(tc.url)
			expectSafe(t, err)
			if tc.allowed {
				g.Expect(err).NotTo(HaveOccurred())
				return
			}
			g.Expect(KindOf(err)).To(Equal(KindURLNotAllowed))
			g.Expect(err.Error()).To(ContainSubstring("is not in the allowed token hosts"))
		})
	}
}

func TestValidateAllowedHosts(t *testing.T) {
	tests := map[string]struct {
		patterns []string
		valid    bool
	}{
		"hosts, ports and wildcards are valid": {patterns: []string{"acme.authkit.app", "*.authkit.app", "idp:8443", "[::1]:8089", "::1", "127.0.0.1"}, valid: true},
		"a lone star is invalid":               {patterns: []string{"*"}},
		"a wildcard inside a name is invalid":  {patterns: []string{"acme.*.app"}},
		"a non-numeric port is invalid":        {patterns: []string{"acme.authkit.app:https"}},
		"a URL is invalid":                     {patterns: []string{"https://acme.authkit.app"}},
		"an empty pattern is invalid":          {patterns: []string{""}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			err := ValidateAllowedHosts(tc.patterns)
			if tc.valid {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(err).To(HaveOccurred())
			}
		})
	}
}
