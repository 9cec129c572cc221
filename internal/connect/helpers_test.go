package connect

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
)

// Marker bytes that must never show up in an error: every error a test
// produces goes through expectSafe.
const (
	secretMarker   = "SeCrEtMaRkEr"
	tokenMarker    = "ToKeNmArKeR"
	queryMarker    = "QuErYmArKeR"
	userinfoMarker = "UsErInFoMaRkEr"
)

const (
	testClientID = "client_01TEST"
	testOrgID    = "org_01TEST"
	// testSecret holds characters that Basic authentication must escape.
	testSecret = "sk_" + secretMarker + ":+/&=%"
	// testToken is an opaque access token scripted with a Fault.
	testToken = "opaque-" + tokenMarker
)

// testNow is the fake clock's time; its fraction of a second checks that
// IssuedAt is truncated.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

// newFake starts a fake Connect server with the test client registered.
func newFake(t *testing.T) *connecttest.Server {
	t.Helper()
	s := connecttest.NewServer(connecttest.Config{})
	s.AddClient(testClientID, testSecret, testOrgID, "widgets:read", "widgets:write", "admin")
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// newTestClient is a Client on the fake clock, with a limit high enough not
// to matter unless a test sets one.
func newTestClient(o Options) *Client {
	if o.Clock == nil {
		o.Clock = clocktesting.NewFakePassiveClock(testNow)
	}
	if o.RequestsPerSecond == 0 {
		o.RequestsPerSecond = -1
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return NewClient(o)
}

// requestTo is a valid request for the fake server's test client.
func requestTo(s *connecttest.Server) Request {
	return Request{TokenURL: s.TokenURL(), ClientID: testClientID, ClientSecret: testSecret}
}

// token calls c.Token with a bounded context and checks any error is safe.
func token(t *testing.T, c *Client, r Request) (*Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := c.Token(ctx, r)
	expectSafe(t, err)
	if err == nil && tok == nil {
		t.Fatal("Token returned neither a token nor an error")
	}
	return tok, err
}

// expectSafe fails the test when err is not an *Error or when its message or
// fields carry a marker, an Authorization header or x/oauth2's raw text.
func expectSafe(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q (%T) is not a *connect.Error", err, err)
	}
	for _, s := range []string{err.Error(), e.Code, e.Description} {
		if leak := leaked(s); leak != "" {
			t.Fatalf("error text %q leaks %s", s, leak)
		}
	}
}

func leaked(s string) string {
	for _, m := range []string{secretMarker, tokenMarker, queryMarker, userinfoMarker, url.QueryEscape(testSecret)} {
		if strings.Contains(s, m) {
			return "marker " + m
		}
	}
	for _, m := range []string{"Authorization", "Basic ", "oauth2:", "Response:"} {
		if strings.Contains(s, m) {
			return m
		}
	}
	return ""
}

// asError returns err as *Error, failing when it is not one.
func asError(g Gomega, err error) *Error {
	var e *Error
	g.ExpectWithOffset(1, errors.As(err, &e)).To(BeTrue(), "want *connect.Error, got %T %v", err, err)
	return e
}
