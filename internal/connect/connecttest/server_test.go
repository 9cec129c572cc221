package connecttest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/gomega"

	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
)

const (
	clientID = "client_01FAKE"
	secret   = "secret:with+special/chars"
	orgID    = "org_01FAKE"
)

func start(t *testing.T, cfg connecttest.Config) *connecttest.Server {
	t.Helper()
	s := connecttest.NewServer(cfg)
	s.AddClient(clientID, secret, orgID, "widgets:read", "widgets:write")
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// reply is a decoded token endpoint answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// post sends form to the token endpoint, with Basic credentials when basic
// is not nil ({id, secret}, form-urlencoded first as RFC 6749 §2.3.1 says).
func post(t *testing.T, s *connecttest.Server, form url.Values, basic []string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != nil {
		req.SetBasicAuth(url.QueryEscape(basic[0]), url.QueryEscape(basic[1]))
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func grant(extra ...string) url.Values {
	v := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

func TestTokenEndpointAnswersLikeWorkOS(t *testing.T) {
	tests := map[string]struct {
		form       url.Values
		basic      []string
		wantStatus int
		wantError  string // OAuth error code; "" for a token
	}{
		"client_secret_post issues a token": {form: grant(), wantStatus: 200},
		"client_secret_basic issues a token": {
			form:  url.Values{"grant_type": {"client_credentials"}},
			basic: []string{clientID, secret}, wantStatus: 200,
		},
		"allowed scopes are granted":   {form: grant("scope", "widgets:read widgets:write"), wantStatus: 200},
		"a wrong secret is refused":    {form: grant("client_secret", "nope"), wantStatus: 401, wantError: "invalid_client"},
		"an unknown client is refused": {form: grant("client_id", "client_nobody"), wantStatus: 401, wantError: "invalid_client"},
		"a wrong Basic secret is refused": {
			form:  url.Values{"grant_type": {"client_credentials"}},
			basic: []string{clientID, "nope"}, wantStatus: 401, wantError: "invalid_client",
		},
		"a scope the client may not have is refused":    {form: grant("scope", "widgets:read admin"), wantStatus: 400, wantError: "invalid_scope"},
		"scopes separated by two spaces are refused":    {form: grant("scope", "widgets:read  widgets:write"), wantStatus: 400, wantError: "invalid_scope"},
		"another grant type is refused":                 {form: grant("grant_type", "password"), wantStatus: 400, wantError: "unsupported_grant_type"},
		"a missing grant_type is an invalid request":    {form: url.Values{"client_id": {clientID}, "client_secret": {secret}}, wantStatus: 400, wantError: "invalid_request"},
		"a missing client_id is an invalid request":     {form: url.Values{"grant_type": {"client_credentials"}}, wantStatus: 400, wantError: "invalid_request"},
		"a missing client_secret is an invalid request": {form: url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}, wantStatus: 400, wantError: "invalid_request"},
		"two authentication methods are an invalid request": {
			form: grant(), basic: []string{clientID, secret}, wantStatus: 400, wantError: "invalid_request",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := start(t, connecttest.Config{})

			r := post(t, s, tc.form, tc.basic)

			g.Expect(r.status).To(Equal(tc.wantStatus), r.raw)
			g.Expect(r.header.Get("Content-Type")).To(Equal("application/json"))
			g.Expect(r.header.Get("Cache-Control")).To(Equal("no-store"))
			if tc.wantError != "" {
				g.Expect(r.body).To(HaveKeyWithValue("error", tc.wantError))
				g.Expect(r.body).To(HaveKey("error_description"))
				g.Expect(s.Rejected()).To(Equal(1))
				g.Expect(s.Issued()).To(BeZero())
				if tc.wantStatus == 401 && tc.basic != nil {
					g.Expect(r.header.Get("WWW-Authenticate")).To(HavePrefix("Basic"))
				}
				return
			}
			g.Expect(r.body).To(HaveKeyWithValue("token_type", "bearer"))
			g.Expect(r.body).To(HaveKeyWithValue("expires_in", BeNumerically("==", 300)))
			g.Expect(r.body).To(HaveKeyWithValue("access_token", Not(BeEmpty())))
			g.Expect(r.body).NotTo(HaveKey("refresh_token"))
			g.Expect(s.Issued()).To(Equal(1))
			g.Expect(s.IssuedTo(clientID)).To(Equal(1))
		})
	}
}

func TestTokenEndpointRefusesNonFormBodies(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})
	req, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")

	r := do(t, req)

	g.Expect(r.status).To(Equal(400))
	g.Expect(r.body).To(HaveKeyWithValue("error", "invalid_request"))
}

func TestIssuedTokensVerifyAgainstTheJWKS(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{Lifetime: 90 * time.Second, Audience: "https://api.example.com"})

	var disco map[string]any
	g.Expect(json.Unmarshal([]byte(get(t, s.URL()+"/.well-known/openid-configuration")), &disco)).To(Succeed())
	g.Expect(disco).To(HaveKeyWithValue("issuer", s.URL()))
	g.Expect(disco).To(HaveKeyWithValue("token_endpoint", s.TokenURL()))
	g.Expect(disco).To(HaveKeyWithValue("token_endpoint_auth_methods_supported", ConsistOf("client_secret_post", "client_secret_basic")))
	var jwks connecttest.JWKS
	g.Expect(json.Unmarshal([]byte(get(t, disco["jwks_uri"].(string))), &jwks)).To(Succeed())
	g.Expect(jwks.Keys).To(HaveLen(1))

	r := post(t, s, grant("scope", "widgets:read"), nil)
	g.Expect(r.status).To(Equal(200))
	g.Expect(r.body).To(HaveKeyWithValue("expires_in", BeNumerically("==", 90)))

	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(r.body["access_token"].(string), claims, func(tok *jwt.Token) (any, error) {
		g.Expect(tok.Header["kid"]).To(Equal(jwks.Keys[0].Kid))
		return jwks.Keys[0].RSAPublicKey()
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(s.URL()), jwt.WithAudience("https://api.example.com"), jwt.WithIssuedAt())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(tok.Valid).To(BeTrue())
	g.Expect(claims).To(HaveKeyWithValue("sub", clientID))
	g.Expect(claims).To(HaveKeyWithValue("org_id", orgID))
	g.Expect(claims).To(HaveKeyWithValue("scope", "widgets:read"))
	g.Expect(claims).To(HaveKeyWithValue("jti", HavePrefix("tok_")))
	g.Expect(claims["exp"].(float64) - claims["iat"].(float64)).To(BeNumerically("==", 90))

	second := post(t, s, grant(), nil)
	other := jwt.MapClaims{}
	_, _, err = jwt.NewParser().ParseUnverified(second.body["access_token"].(string), other)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(other["jti"]).NotTo(Equal(claims["jti"]), "every token has its own jti")
	g.Expect(other["scope"]).To(Equal("widgets:read widgets:write"), "no scope requested: all of the client's")
}

func get(t *testing.T, u string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	r := do(t, req)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", u, r.status, r.raw)
	}
	return r.raw
}

func TestClientsCanBeRotatedAndRemoved(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})

	s.SetSecret(clientID, "rotated")
	g.Expect(post(t, s, grant(), nil).status).To(Equal(401))
	g.Expect(post(t, s, grant("client_secret", "rotated"), nil).status).To(Equal(200))

	s.RemoveClient(clientID)
	g.Expect(post(t, s, grant("client_secret", "rotated"), nil).status).To(Equal(401))
}

func TestLifetimeCanChange(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})
	s.SetLifetime(42 * time.Second)

	g.Expect(post(t, s, grant(), nil).body).To(HaveKeyWithValue("expires_in", BeNumerically("==", 42)))
}

func TestCountersAndLastRequest(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})
	s.Fail(connecttest.Fault{Status: 500})

	post(t, s, grant(), nil)                            // failed by the fault
	post(t, s, grant("client_secret", "wrong"), nil)    // rejected
	post(t, s, grant("scope", "widgets:read"), nil)     // issued
	post(t, s, grant("client_id", "client_other"), nil) // rejected, counted for the other client

	g.Expect(s.Stats()).To(Equal(connecttest.Stats{
		Requests: 4, Issued: 1, Rejected: 2, Failed: 1,
		Clients: map[string]connecttest.ClientStats{
			clientID:       {Requests: 3, Issued: 1},
			"client_other": {Requests: 1},
		},
	}))
	g.Expect(s.ByClient(clientID)).To(Equal(3))
	last := s.LastRequest()
	g.Expect(last.AuthMethod).To(Equal("client_secret_post"))
	g.Expect(last.ClientID).To(Equal("client_other"))
	g.Expect(s.LastForm()).NotTo(HaveKey("client_secret"), "the secret is never recorded")
	g.Expect(s.LastForm()).To(HaveKeyWithValue("client_id", []string{"client_other"}))

	s.Reset()
	g.Expect(s.Stats()).To(Equal(connecttest.Stats{Clients: map[string]connecttest.ClientStats{}}))
	g.Expect(s.LastForm()).To(BeNil())
}

func TestBasicRequestsRecordNoSecret(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})

	post(t, s, url.Values{"grant_type": {"client_credentials"}}, []string{clientID, secret})

	last := s.LastRequest()
	g.Expect(last.AuthMethod).To(Equal("client_secret_basic"))
	g.Expect(last.ClientID).To(Equal(clientID))
	g.Expect(last.Form).To(Equal(url.Values{"grant_type": {"client_credentials"}}))
}

func TestFaultsAreConsumedInOrder(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})
	s.Fail(
		connecttest.Fault{Status: 503, RetryAfter: "7"},
		connecttest.Fault{Status: 429},
		connecttest.Fault{Redirect: "https://elsewhere.example/token"},
		connecttest.Fault{TokenType: "Bearer", ExpiresIn: "300", Scope: "widgets:read"},
		connecttest.Fault{OmitExpiresIn: true, AccessToken: "opaque"},
		connecttest.Fault{Truncate: true},
		connecttest.Fault{Body: "<html>", ContentType: "text/html"},
	)
	g.Expect(s.PendingFaults()).To(Equal(7))

	r := post(t, s, grant(), nil)
	g.Expect(r.status).To(Equal(503))
	g.Expect(r.header.Get("Retry-After")).To(Equal("7"))
	g.Expect(r.body).To(HaveKeyWithValue("error", "temporarily_unavailable"))

	g.Expect(post(t, s, grant(), nil).status).To(Equal(429))

	r = post(t, s, grant(), nil)
	g.Expect(r.status).To(Equal(302))
	g.Expect(r.header.Get("Location")).To(Equal("https://elsewhere.example/token"))

	r = post(t, s, grant(), nil)
	g.Expect(r.body).To(And(HaveKeyWithValue("token_type", "Bearer"), HaveKeyWithValue("expires_in", "300"), HaveKeyWithValue("scope", "widgets:read")))

	r = post(t, s, grant(), nil)
	g.Expect(r.body).To(HaveKeyWithValue("access_token", "opaque"))
	g.Expect(r.body).NotTo(HaveKey("expires_in"))

	r = post(t, s, grant(), nil)
	g.Expect(r.status).To(Equal(200))
	g.Expect(json.Valid([]byte(r.raw))).To(BeFalse(), "truncated")

	r = post(t, s, grant(), nil)
	g.Expect(r.raw).To(Equal("<html>"))
	g.Expect(r.header.Get("Content-Type")).To(Equal("text/html"))

	g.Expect(post(t, s, grant(), nil).status).To(Equal(200), "script exhausted: normal again")
	g.Expect(s.PendingFaults()).To(BeZero())
	g.Expect(s.Stats()).To(And(
		HaveField("Requests", 8), HaveField("Failed", 5), HaveField("Issued", 3)))
}

func TestDelayedFaultEndsWithTheClient(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})
	s.Fail(connecttest.Fault{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.TokenURL(), strings.NewReader(grant().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")

	_, err := http.DefaultClient.Do(req)

	g.Expect(err).To(MatchError(context.DeadlineExceeded))
	g.Eventually(s.Failed).Should(Equal(1), "the handler stops waiting when the client goes")
}

func TestWaitForRequests(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})
	go func() {
		for range 3 {
			resp, err := http.PostForm(s.TokenURL(), grant())
			if err == nil {
				resp.Body.Close()
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.Expect(s.WaitForRequests(ctx, 3)).To(Succeed())
	g.Expect(s.Requests()).To(BeNumerically(">=", 3))

	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	g.Expect(s.WaitForRequests(short, 100)).To(MatchError(context.DeadlineExceeded))
}

func TestStartTLSServesTheAdvertisedCertificate(t *testing.T) {
	g := NewWithT(t)
	s := connecttest.NewServer(connecttest.Config{})
	s.AddClient(clientID, secret, orgID)
	s.StartTLS()
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(s.CACertPEM())).To(BeTrue())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}

	for _, base := range []string{s.URL(), strings.Replace(s.URL(), "127.0.0.1", "localhost", 1)} {
		resp, err := client.PostForm(base+"/oauth2/token", grant())
		g.Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(200))
	}
	resp, err := client.Get(s.URL() + "/fake/ca.pem")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	pemBytes, _ := io.ReadAll(resp.Body)
	g.Expect(pemBytes).To(Equal(s.CACertPEM()))
}

func TestAdminEndpointsControlAServerInAnotherProcess(t *testing.T) {
	g := NewWithT(t)
	s := start(t, connecttest.Config{})
	send := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+path, bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		return do(t, req).status
	}

	g.Expect(send("POST", "/fake/clients", `{"id":"client_new","secret":"s1","organizationId":"org_new","scopes":["a"]}`)).To(Equal(204))
	g.Expect(post(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"client_new"}, "client_secret": {"s1"}, "scope": {"a"}}, nil).status).To(Equal(200))
	g.Expect(send("POST", "/fake/clients", `{"id":"client_new","secret":"s2"}`)).To(Equal(204), "rotation keeps scopes and org")
	g.Expect(post(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"client_new"}, "client_secret": {"s1"}}, nil).status).To(Equal(401))
	g.Expect(post(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"client_new"}, "client_secret": {"s2"}, "scope": {"a"}}, nil).status).To(Equal(200))
	g.Expect(send("POST", "/fake/clients", `{"id":"client_new"}`)).To(Equal(400))
	g.Expect(send("DELETE", "/fake/clients/client_new", "")).To(Equal(204))
	g.Expect(post(t, s, url.Values{"grant_type": {"client_credentials"}, "client_id": {"client_new"}, "client_secret": {"s2"}}, nil).status).To(Equal(401))

	g.Expect(send("POST", "/fake/faults", `[{"status":503,"retryAfter":"5"},{"delay":"1ms","expiresIn":"60"}]`)).To(Equal(204))
	g.Expect(send("POST", "/fake/faults", `{"omitExpiresIn":true}`)).To(Equal(204), "a single fault is accepted too")
	g.Expect(send("POST", "/fake/faults", `[{"delay":"soon"}]`)).To(Equal(400))
	g.Expect(s.PendingFaults()).To(Equal(3))
	g.Expect(post(t, s, grant(), nil).status).To(Equal(503))
	g.Expect(post(t, s, grant(), nil).body).To(HaveKeyWithValue("expires_in", "60"))
	g.Expect(post(t, s, grant(), nil).body).NotTo(HaveKey("expires_in"))

	g.Expect(send("POST", "/fake/lifetime", `{"lifetime":"45s"}`)).To(Equal(204))
	g.Expect(post(t, s, grant(), nil).body).To(HaveKeyWithValue("expires_in", BeNumerically("==", 45)))

	var stats connecttest.Stats
	g.Expect(json.Unmarshal([]byte(get(t, s.URL()+"/fake/stats")), &stats)).To(Succeed())
	g.Expect(stats).To(Equal(s.Stats()))
	g.Expect(stats.Clients).To(HaveKeyWithValue("client_new", connecttest.ClientStats{Requests: 4, Issued: 2}))

	g.Expect(send("POST", "/fake/reset", "")).To(Equal(204))
	g.Expect(s.Requests()).To(BeZero())
	g.Expect(send("GET", "/fake/ca.pem", "")).To(Equal(404), "not serving TLS")
}

func TestFaultJSONRoundTrips(t *testing.T) {
	g := NewWithT(t)
	in := []connecttest.Fault{{Status: 503, RetryAfter: "5", Delay: 1500 * time.Millisecond, ExpiresIn: "300"}}

	b, err := json.Marshal(in)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(b)).To(ContainSubstring(`"delay":"1.5s"`))
	var out []connecttest.Fault
	g.Expect(json.Unmarshal(b, &out)).To(Succeed())
	g.Expect(out).To(Equal(in))
}
