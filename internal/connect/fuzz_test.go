package connect

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// FuzzTokenResponse answers a real token request with a fuzzed status,
// Retry-After, Content-Type and body. Whatever the endpoint sends, the client
// must not panic, must return exactly one of a valid token or an *Error, and
// no error text may hold the client secret. Seeds live in
// testdata/fuzz/FuzzTokenResponse.
func FuzzTokenResponse(f *testing.F) {
	type answer struct {
		status                  int
		retryAfter, contentType string
		body                    []byte
	}
	var current atomic.Pointer[answer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := current.Load()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	c := NewClient(Options{
		Timeout:           5 * time.Second,
		RequestsPerSecond: -1,
		Clock:             clocktesting.NewFakePassiveClock(testNow),
	})
	req := Request{TokenURL: srv.URL + "/oauth2/token", ClientID: testClientID, ClientSecret: testSecret}

	f.Fuzz(func(t *testing.T, status int, retryAfter, contentType string, body []byte) {
		// Informational statuses are not final answers and net/http's
		// server refuses codes outside 100-999; fold others onto 200-599.
		if status < 200 || status > 599 {
			if status < 0 {
				status = -(status + 1)
			}
			status = 200 + status%400
		}
		current.Store(&answer{status: status, retryAfter: retryAfter, contentType: contentType, body: body})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		tok, err := c.Token(ctx, req)

		if err != nil {
			if tok != nil {
				t.Fatalf("got both a token and the error %q", err)
			}
			var e *Error
			if KindOf(err) == "" || !asErr(err, &e) {
				t.Fatalf("error %q (%T) is not a *connect.Error", err, err)
			}
			for _, s := range []string{err.Error(), e.Code, e.Description} {
				if strings.Contains(s, testSecret) {
					t.Fatalf("error text %q holds the client secret", s)
				}
			}
			if e.RetryAfter < 0 || e.RetryAfter > time.Hour {
				t.Fatalf("RetryAfter %s out of range", e.RetryAfter)
			}
			return
		}
		switch {
		case tok == nil:
			t.Fatal("neither a token nor an error")
		case tok.AccessToken == "":
			t.Fatal("a token without access_token")
		case !strings.EqualFold(tok.TokenType, "bearer"):
			t.Fatalf("token_type %q accepted", tok.TokenType)
		case tok.Lifetime < 0:
			t.Fatalf("negative lifetime %s", tok.Lifetime)
		case !tok.IssuedAt.Equal(testNow.Truncate(time.Second)):
			t.Fatalf("IssuedAt %s is not the clock's", tok.IssuedAt)
		}
	})
}

func asErr(err error, target **Error) bool {
	e, ok := err.(*Error)
	*target = e
	return ok
}
