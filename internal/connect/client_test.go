package connect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
)

func TestTokenAuthenticationMethods(t *testing.T) {
	tests := map[string]struct {
		method     AuthMethod
		wantServer string // the style the fake server saw
	}{
		"an empty method posts the credentials in the form":  {method: "", wantServer: "client_secret_post"},
		"ClientSecretPost posts the credentials in the form": {method: AuthClientSecretPost, wantServer: "client_secret_post"},
		"ClientSecretBasic sends an Authorization header":    {method: AuthClientSecretBasic, wantServer: "client_secret_basic"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newFake(t)
			r := requestTo(s)
			r.AuthMethod = tc.method

			tok, err := token(t, newTestClient(Options{}), r)

			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(tok.AccessToken).NotTo(BeEmpty())
			last := s.LastRequest()
			g.Expect(last.AuthMethod).To(Equal(tc.wantServer))
			g.Expect(last.ClientID).To(Equal(testClientID))
			g.Expect(last.Form.Get("grant_type")).To(Equal("client_credentials"))
			g.Expect(last.Form.Has("client_id")).To(Equal(tc.wantServer == "client_secret_post"))
			g.Expect(s.Requests()).To(Equal(1), "exactly one request, no auth style probing")
		})
	}
}

func TestTokenSendsScopesAndAdditionalParameters(t *testing.T) {
	g := NewWithT(t)
	s := newFake(t)
	r := requestTo(s)
	r.Scopes = []string{"widgets:read", "widgets:write", "admin"}
	r.AdditionalParameters = map[string]string{"audience": "https://api.example.com", "resource": "urn:widgets"}

	tok, err := token(t, newTestClient(Options{UserAgent: "connect-token-operator/test"}), r)

	g.Expect(err).NotTo(HaveOccurred())
	last := s.LastRequest()
	g.Expect(last.Form.Get("scope")).To(Equal("widgets:read widgets:write admin"))
	g.Expect(last.Form.Get("audience")).To(Equal("https://api.example.com"))
	g.Expect(last.Form.Get("resource")).To(Equal("urn:widgets"))
	g.Expect(last.UserAgent).To(Equal("connect-token-operator/test"))
	g.Expect(tok.GrantedScopes).To(Equal(r.Scopes), "the server sent no scope, so the requested ones were granted")
	g.Expect(tok.Claims.Scope).To(Equal("widgets:read widgets:write admin"))
}

func TestTokenWithoutScopesSendsNoScopeParameter(t *testing.T) {
	g := NewWithT(t)
	s := newFake(t)

	tok, err := token(t, newTestClient(Options{}), requestTo(s))

	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.LastForm().Has("scope")).To(BeFalse())
	g.Expect(tok.GrantedScopes).To(BeEmpty())
}

func TestTokenRefusesRequestsThatCannotSucceed(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Request)
		wantMsg string
	}{
		"a reserved additional parameter": {
			mutate:  func(r *Request) { r.AdditionalParameters = map[string]string{"grant_type": "password"} },
			wantMsg: `additional parameter "grant_type"`,
		},
		"an empty client secret": {
			mutate:  func(r *Request) { r.ClientSecret = "" },
			wantMsg: "client ID and client secret are required",
		},
		"an unknown authentication method": {
			mutate:  func(r *Request) { r.AuthMethod = "PrivateKeyJWT" },
			wantMsg: `unknown client authentication method "PrivateKeyJWT"`,
		},
		"a scope holding whitespace": {
			mutate:  func(r *Request) { r.Scopes = []string{"a b"} },
			wantMsg: `scope "a b"`,
		},
		"a CA bundle without certificates": {
			mutate:  func(r *Request) { r.CABundle = []byte("not PEM " + secretMarker) },
			wantMsg: "caBundle holds no PEM-encoded certificate",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newFake(t)
			r := requestTo(s)
			tc.mutate(&r)

			_, err := token(t, newTestClient(Options{}), r)

			e := asError(g, err)
			g.Expect(e.Kind).To(Equal(KindRejected))
			g.Expect(e.Error()).To(ContainSubstring(tc.wantMsg))
			g.Expect(s.Requests()).To(BeZero())
		})
	}
}

func TestTokenReadsTheResponse(t *testing.T) {
	tests := map[string]struct {
		fault  connecttest.Fault
		scopes []string
		check  func(g Gomega, tok *Token)
	}{
		"a JWT's claims are read": {
			scopes: []string{"widgets:read"},
			check: func(g Gomega, tok *Token) {
				g.Expect(tok.Claims.TokenID).To(HavePrefix("tok_"))
				g.Expect(tok.Claims.OrganizationID).To(Equal(testOrgID))
				g.Expect(tok.Claims.Scope).To(Equal("widgets:read"))
				g.Expect(tok.Claims.ExpiresAt).To(BeTemporally("~", time.Now().Add(connecttest.DefaultLifetime), 10*time.Second))
				g.Expect(tok.Claims.ExpiresAt.Location()).To(Equal(time.UTC))
			},
		},
		"an opaque token is accepted with zero claims": {
			fault: connecttest.Fault{AccessToken: testToken},
			check: func(g Gomega, tok *Token) {
				g.Expect(tok.AccessToken).To(Equal(testToken))
				g.Expect(tok.Claims).To(BeZero())
			},
		},
		"the lifetime is expires_in": {
			check: func(g Gomega, tok *Token) { g.Expect(tok.Lifetime).To(Equal(connecttest.DefaultLifetime)) },
		},
		"an absent expires_in gives lifetime 0": {
			fault: connecttest.Fault{OmitExpiresIn: true},
			check: func(g Gomega, tok *Token) { g.Expect(tok.Lifetime).To(BeZero()) },
		},
		"expires_in 0 gives lifetime 0": {
			fault: connecttest.Fault{ExpiresIn: 0},
			check: func(g Gomega, tok *Token) { g.Expect(tok.Lifetime).To(BeZero()) },
		},
		"expires_in as a numeric string is accepted": {
			fault: connecttest.Fault{ExpiresIn: "300"},
			check: func(g Gomega, tok *Token) { g.Expect(tok.Lifetime).To(Equal(300 * time.Second)) },
		},
		"a huge expires_in is clamped instead of overflowing": {
			fault: connecttest.Fault{ExpiresIn: 1e15},
			check: func(g Gomega, tok *Token) { g.Expect(tok.Lifetime).To(Equal(maxLifetimeSeconds * time.Second)) },
		},
		"token_type Bearer is accepted and kept as sent": {
			fault: connecttest.Fault{TokenType: "Bearer"},
			check: func(g Gomega, tok *Token) { g.Expect(tok.TokenType).To(Equal("Bearer")) },
		},
		"the response's scope wins over the requested scopes": {
			scopes: []string{"widgets:read", "widgets:write"},
			fault:  connecttest.Fault{Scope: "widgets:read  \x00bad"},
			check:  func(g Gomega, tok *Token) { g.Expect(tok.GrantedScopes).To(Equal([]string{"widgets:read"})) },
		},
		"a form-encoded response is read too": {
			fault: connecttest.Fault{Body: "access_token=" + testToken + "&token_type=bearer&expires_in=60&scope=a+b", ContentType: "application/x-www-form-urlencoded"},
			check: func(g Gomega, tok *Token) {
				g.Expect(tok.Lifetime).To(Equal(time.Minute))
				g.Expect(tok.GrantedScopes).To(Equal([]string{"a", "b"}))
			},
		},
		"IssuedAt comes from the injected clock, truncated to seconds": {
			check: func(g Gomega, tok *Token) { g.Expect(tok.IssuedAt).To(Equal(testNow.Truncate(time.Second))) },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newFake(t)
			s.Fail(tc.fault)
			r := requestTo(s)
			r.Scopes = tc.scopes

			tok, err := token(t, newTestClient(Options{}), r)

			g.Expect(err).NotTo(HaveOccurred())
			tc.check(g, tok)
		})
	}
}

func TestTokenRefusesMalformedResponses(t *testing.T) {
	tests := map[string]struct {
		fault   connecttest.Fault
		wantMsg string
	}{
		"token_type mac": {
			fault:   connecttest.Fault{TokenType: "mac", AccessToken: testToken},
			wantMsg: `token_type "mac" is not bearer`,
		},
		"no token_type": {
			fault:   connecttest.Fault{Body: `{"access_token":"` + testToken + `","expires_in":300}`},
			wantMsg: "no token_type",
		},
		"no access_token": {
			fault:   connecttest.Fault{OmitAccessToken: true},
			wantMsg: "no access_token",
		},
		"a non-numeric expires_in": {
			fault:   connecttest.Fault{ExpiresIn: "soon", AccessToken: testToken},
			wantMsg: "not a token response",
		},
		"a negative expires_in": {
			fault:   connecttest.Fault{ExpiresIn: -5, AccessToken: testToken},
			wantMsg: "expires_in is not a non-negative whole number",
		},
		"a truncated body": {
			fault:   connecttest.Fault{Truncate: true},
			wantMsg: "not a token response",
		},
		"an HTML page": {
			fault:   connecttest.Fault{Body: "<html>" + secretMarker + "</html>", ContentType: "text/html"},
			wantMsg: `Content-Type "text/html"`,
		},
		"a body over 1 MiB": {
			fault:   connecttest.Fault{Body: `{"access_token":"` + testToken + strings.Repeat("x", 1<<20) + `","token_type":"bearer"}`},
			wantMsg: "exceeds 1 MiB",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newFake(t)
			s.Fail(tc.fault)

			_, err := token(t, newTestClient(Options{}), requestTo(s))

			e := asError(g, err)
			g.Expect(e.Kind).To(Equal(KindTransient))
			g.Expect(e.StatusCode).To(Equal(http.StatusOK))
			g.Expect(e.Error()).To(ContainSubstring("malformed response"))
			g.Expect(e.Error()).To(ContainSubstring(tc.wantMsg))
		})
	}
}

func TestTokenClassifiesErrors(t *testing.T) {
	longDescription := strings.Repeat("é", 300)
	tests := map[string]struct {
		fault     *connecttest.Fault // nil: the server decides
		mutate    func(*Request)
		want      Error // Kind, Code, Description, StatusCode, RetryAfter compared
		wantInMsg string
	}{
		"a wrong secret is invalid_client": {
			mutate: func(r *Request) { r.ClientSecret = "wrong-" + secretMarker },
			want:   Error{Kind: KindRejected, Code: "invalid_client", Description: "Invalid client credentials.", StatusCode: 401},
		},
		"an unknown client is invalid_client": {
			mutate: func(r *Request) { r.ClientID = "client_unknown"; r.AuthMethod = AuthClientSecretBasic },
			want:   Error{Kind: KindRejected, Code: "invalid_client", Description: "Invalid client credentials.", StatusCode: 401},
		},
		"a scope the client may not have is invalid_scope": {
			mutate: func(r *Request) { r.Scopes = []string{"widgets:delete"} },
			want:   Error{Kind: KindRejected, Code: "invalid_scope", Description: "The scope widgets:delete is not allowed for this client.", StatusCode: 400},
		},
		"unsupported_grant_type is rejected": {
			fault: &connecttest.Fault{Status: 400, Body: `{"error":"unsupported_grant_type"}`},
			want:  Error{Kind: KindRejected, Code: "unsupported_grant_type", StatusCode: 400},
		},
		"403 is rejected": {
			fault: &connecttest.Fault{Status: 403},
			want:  Error{Kind: KindRejected, Code: "unauthorized_client", Description: "fault injected by the fake server", StatusCode: 403},
		},
		"404 without an OAuth body is rejected": {
			fault:     &connecttest.Fault{Status: 404, Body: "not found", ContentType: "text/plain"},
			want:      Error{Kind: KindRejected, StatusCode: 404},
			wantInMsg: "rejected by http://127.0.0.1",
		},
		"an OAuth error inside a 200 is rejected": {
			fault: &connecttest.Fault{Body: `{"error":"invalid_client","error_description":"nope"}`},
			want:  Error{Kind: KindRejected, Code: "invalid_client", Description: "nope", StatusCode: 200},
		},
		"408 is transient": {
			fault: &connecttest.Fault{Status: 408, Body: "{}"},
			want:  Error{Kind: KindTransient, StatusCode: 408},
		},
		"429 with Retry-After in seconds is transient": {
			fault:     &connecttest.Fault{Status: 429, RetryAfter: "30"},
			want:      Error{Kind: KindTransient, Code: "temporarily_unavailable", Description: "fault injected by the fake server", StatusCode: 429, RetryAfter: 30 * time.Second},
			wantInMsg: "retry after 30s",
		},
		"503 with Retry-After as an HTTP-date is read against the clock": {
			fault: &connecttest.Fault{Status: 503, RetryAfter: testNow.Add(2 * time.Minute).Truncate(time.Second).Format(http.TimeFormat)},
			want:  Error{Kind: KindTransient, Code: "temporarily_unavailable", Description: "fault injected by the fake server", StatusCode: 503, RetryAfter: 2*time.Minute - 600*time.Millisecond},
		},
		"Retry-After is capped at an hour": {
			fault: &connecttest.Fault{Status: 503, RetryAfter: "7200", Body: "{}"},
			want:  Error{Kind: KindTransient, StatusCode: 503, RetryAfter: time.Hour},
		},
		"a 5xx is transient even with a rejection code": {
			fault: &connecttest.Fault{Status: 502, Body: `{"error":"invalid_client"}`},
			want:  Error{Kind: KindTransient, Code: "invalid_client", StatusCode: 502},
		},
		"a description is stripped of control characters and capped": {
			fault: &connecttest.Fault{Status: 400, Body: `{"error":"invalid_request\u0007","error_description":"line1\nline2\u001b[31m ` + longDescription + `"}`},
			want:  Error{Kind: KindRejected, Code: "invalid_request", Description: "line1 line2[31m " + strings.Repeat("é", 118) + "...", StatusCode: 400},
		},
		"a description echoing the secret is redacted": {
			fault: &connecttest.Fault{Status: 401, Body: `{"error":"invalid_client","error_description":"secret ` + testSecret + ` is wrong"}`},
			want:  Error{Kind: KindRejected, Code: "invalid_client", Description: "secret [redacted] is wrong", StatusCode: 401},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newFake(t)
			if tc.fault != nil {
				s.Fail(*tc.fault)
			}
			r := requestTo(s)
			if tc.mutate != nil {
				tc.mutate(&r)
			}

			_, err := token(t, newTestClient(Options{}), r)

			e := asError(g, err)
			got := Error{Kind: e.Kind, Code: e.Code, Description: e.Description, StatusCode: e.StatusCode, RetryAfter: e.RetryAfter}
			g.Expect(got).To(Equal(tc.want))
			g.Expect(KindOf(err)).To(Equal(tc.want.Kind))
			if tc.wantInMsg != "" {
				g.Expect(err.Error()).To(ContainSubstring(tc.wantInMsg))
			}
			g.Expect(s.Requests()).To(Equal(1))
		})
	}
}

func TestTokenDoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			g := NewWithT(t)
			var hits atomic.Int32
			target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
			t.Cleanup(target.Close)
			s := newFake(t)
			s.Fail(connecttest.Fault{Status: status, Redirect: target.URL + "/steal?x=" + queryMarker})

			_, err := token(t, newTestClient(Options{}), requestTo(s))

			e := asError(g, err)
			g.Expect(e.Kind).To(Equal(KindRejected))
			g.Expect(e.StatusCode).To(Equal(status))
			g.Expect(err.Error()).To(ContainSubstring("answered with a redirect"))
			g.Expect(err.Error()).To(ContainSubstring("redirects are not followed"))
			g.Expect(hits.Load()).To(BeZero())
		})
	}
}

func TestTokenTimesOut(t *testing.T) {
	tests := map[string]struct {
		timeout  time.Duration
		deadline time.Duration // the caller's
		wantMsg  string
	}{
		"the client's timeout":  {timeout: 200 * time.Millisecond, deadline: 10 * time.Second, wantMsg: "timed out after 200ms"},
		"the caller's deadline": {timeout: 10 * time.Second, deadline: 200 * time.Millisecond, wantMsg: "timed out"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := newFake(t)
			s.Fail(connecttest.Fault{Delay: time.Minute})
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()

			_, err := newTestClient(Options{Timeout: tc.timeout}).Token(ctx, requestTo(s))

			expectSafe(t, err)
			e := asError(g, err)
			g.Expect(e.Kind).To(Equal(KindTransient))
			g.Expect(e.StatusCode).To(BeZero())
			g.Expect(err.Error()).To(ContainSubstring(tc.wantMsg))
		})
	}
}

func TestTokenCanceledByCaller(t *testing.T) {
	g := NewWithT(t)
	s := newFake(t)
	s.Fail(connecttest.Fault{Delay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_ = s.WaitForRequests(context.Background(), 1)
		cancel()
	}()

	_, err := newTestClient(Options{}).Token(ctx, requestTo(s))

	expectSafe(t, err)
	g.Expect(KindOf(err)).To(Equal(KindTransient))
	g.Expect(err.Error()).To(ContainSubstring("canceled"))
}

func TestTokenTLS(t *testing.T) {
	g := NewWithT(t)
	s := connecttest.NewServer(connecttest.Config{})
	s.AddClient(testClientID, testSecret, testOrgID)
	s.StartTLS()
	t.Cleanup(s.Close)
	c := newTestClient(Options{})
	g.Expect(s.TokenURL()).To(HavePrefix("https://"))

	t.Run("trusting the server's CA bundle works", func(t *testing.T) {
		g := NewWithT(t)
		r := requestTo(s)
		r.CABundle = s.CACertPEM()
		tok, err := token(t, c, r)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(tok.AccessToken).NotTo(BeEmpty())
	})
	t.Run("system roots alone fail as transient", func(t *testing.T) {
		g := NewWithT(t)
		_, err := token(t, c, requestTo(s))
		e := asError(g, err)
		g.Expect(e.Kind).To(Equal(KindTransient))
		g.Expect(e.StatusCode).To(BeZero())
		g.Expect(err.Error()).To(ContainSubstring("TLS certificate verification failed"))
	})
	t.Run("https to a plain HTTP server fails as transient", func(t *testing.T) {
		g := NewWithT(t)
		plain := newFake(t)
		r := requestTo(plain)
		r.TokenURL = strings.Replace(r.TokenURL, "http://", "https://", 1)
		_, err := token(t, c, r)
		g.Expect(KindOf(err)).To(Equal(KindTransient))
		g.Expect(err.Error()).To(ContainSubstring("server gave HTTP response to HTTPS client"))
	})
	g.Expect(s.Requests()).To(Equal(1))
}

func TestTokenNetworkFailuresAreTransient(t *testing.T) {
	closed := newFake(t)
	closed.Close() // its port now refuses connections

	tests := map[string]struct {
		tokenURL string
		wantMsg  string
	}{
		"connection refused": {tokenURL: closed.TokenURL(), wantMsg: "connection refused"},
		// .invalid never resolves (RFC 6761); offline resolvers may time out instead.
		"DNS failure": {tokenURL: "https://connect-token-operator.invalid/oauth2/token", wantMsg: "connect-token-operator.invalid"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			r := Request{TokenURL: tc.tokenURL, ClientID: testClientID, ClientSecret: testSecret}

			_, err := token(t, newTestClient(Options{Timeout: 3 * time.Second}), r)

			e := asError(g, err)
			g.Expect(e.Kind).To(Equal(KindTransient))
			g.Expect(e.StatusCode).To(BeZero())
			g.Expect(err.Error()).To(Or(ContainSubstring(tc.wantMsg), ContainSubstring("timed out")))
		})
	}
}

func TestTokenRefusesDisallowedHostsWithoutSending(t *testing.T) {
	g := NewWithT(t)
	s := newFake(t)
	c := newTestClient(Options{AllowedHosts: []string{"*.authkit.app"}})

	_, err := token(t, c, requestTo(s))

	e := asError(g, err)
	g.Expect(e.Kind).To(Equal(KindURLNotAllowed))
	g.Expect(err.Error()).To(ContainSubstring(strings.TrimPrefix(s.URL(), "http://")))
	g.Expect(s.Requests()).To(BeZero())
}

func TestTokenRateLimitsPerHost(t *testing.T) {
	g := NewWithT(t)
	a, b := newFake(t), newFake(t)
	// Burst 1 at one request per ~17 minutes: the second request to a host
	// can only be admitted far beyond any test deadline.
	c := newTestClient(Options{RequestsPerSecond: 0.001, Burst: 1})

	_, err := token(t, c, requestTo(a))
	g.Expect(err).NotTo(HaveOccurred())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Token(ctx, requestTo(a))
	expectSafe(t, err)
	e := asError(g, err)
	g.Expect(e.Kind).To(Equal(KindTransient))
	g.Expect(e.RetryAfter).To(BeNumerically(">", 5*time.Minute))
	g.Expect(err.Error()).To(ContainSubstring("client-side rate limit"))
	g.Expect(ctx.Err()).NotTo(HaveOccurred(), "refused at once, not after waiting for the deadline")
	g.Expect(a.Requests()).To(Equal(1))

	_, err = token(t, c, requestTo(b))
	g.Expect(err).NotTo(HaveOccurred(), "another host has its own budget")
	g.Expect(b.Requests()).To(Equal(1))
}

func TestTokenRateLimitWaitsWithinTheDeadline(t *testing.T) {
	g := NewWithT(t)
	s := newFake(t)
	c := newTestClient(Options{RequestsPerSecond: 50, Burst: 1})

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { _, errs[i] = token(t, c, requestTo(s)) })
	}
	wg.Wait()

	for _, err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(s.Requests()).To(Equal(3))
}

func TestTokenObserves(t *testing.T) {
	g := NewWithT(t)
	s := newFake(t)
	type observation struct {
		host string
		kind Kind
	}
	var mu sync.Mutex
	var seen []observation
	c := newTestClient(Options{AllowedHosts: []string{"127.0.0.1"}, Observe: func(host string, kind Kind, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, observation{host, kind})
	}})
	s.Fail(connecttest.Fault{}, connecttest.Fault{Status: 500})
	host := strings.TrimPrefix(s.URL(), "http://")

	_, _ = token(t, c, requestTo(s))
	_, _ = token(t, c, requestTo(s))
	_, _ = token(t, c, Request{TokenURL: "https://elsewhere.example/oauth2/token", ClientID: "x", ClientSecret: "y"})

	g.Expect(seen).To(Equal([]observation{{host, ""}, {host, KindTransient}}), "refused URLs are not observed")
}

func TestKindOf(t *testing.T) {
	g := NewWithT(t)
	g.Expect(KindOf(nil)).To(Equal(Kind("")))
	g.Expect(KindOf(&Error{Kind: KindRejected})).To(Equal(KindRejected))
	g.Expect(KindOf(&Error{})).To(Equal(KindTransient))
	g.Expect(KindOf(context.DeadlineExceeded)).To(Equal(KindTransient))
	g.Expect(KindOf(&url.Error{Op: "Post", URL: "https://x", Err: &Error{Kind: KindURLNotAllowed}})).To(Equal(KindURLNotAllowed))
}

func TestErrorMessageFromFields(t *testing.T) {
	tests := map[string]struct {
		err  *Error
		want string
	}{
		"rejected with code, status and description": {
			err:  &Error{Kind: KindRejected, Code: "invalid_client", StatusCode: 401, Description: "bad"},
			want: "token request rejected: invalid_client (HTTP 401): bad",
		},
		"transient with status only": {err: &Error{Kind: KindTransient, StatusCode: 503}, want: "token request failed (HTTP 503)"},
		"url not allowed":            {err: &Error{Kind: KindURLNotAllowed}, want: "token URL not allowed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			NewWithT(t).Expect(tc.err.Error()).To(Equal(tc.want))
		})
	}
}
