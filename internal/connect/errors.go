package connect

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kind says what the caller should do about a failed token request.
type Kind string

const (
	// KindRejected means the token endpoint (or the request as configured)
	// refused the client: an RFC 6749 §5.2 error, another 4xx status, a
	// redirect, or a request that cannot succeed as written (an invalid CA
	// bundle, a reserved additional parameter). Retrying unchanged will not
	// help; back off slowly until the spec or the credentials change.
	KindRejected Kind = "Rejected"
	// KindTransient means the request may succeed later: network, DNS, TLS
	// and timeout failures, 408, 429, 5xx, a malformed response, or the
	// client-side rate limit not admitting the request before the deadline.
	KindTransient Kind = "Transient"
	// KindURLNotAllowed means the token URL breaks the URL policy (scheme,
	// userinfo, query, fragment, allowed hosts). Nothing was sent.
	KindURLNotAllowed Kind = "URLNotAllowed"
)

// Limits on what a token endpoint can make us store or display.
const (
	maxDescriptionBytes = 256
	maxCodeBytes        = 64
	maxRetryAfter       = time.Hour
	redacted            = "[redacted]"
)

// Error is the only error type Token and CheckURL return. Every field and
// the message are safe to log, put in events and in status: they never hold
// the client secret, the access token, a URL query string, an Authorization
// header or a raw response body.
type Error struct {
	// Kind classifies the failure; see the Kind constants.
	Kind Kind
	// Code is the OAuth "error" code (RFC 6749 §5.2), sanitized; empty when
	// the endpoint sent none.
	Code string
	// Description is the OAuth "error_description", with control characters
	// removed and capped at about 256 bytes.
	Description string
	// StatusCode is the HTTP status of the response, 0 when none arrived.
	StatusCode int
	// RetryAfter is the endpoint's Retry-After (delta-seconds or HTTP-date),
	// capped at one hour; 0 when absent. For the client-side rate limit it is
	// the wait the limiter asked for.
	RetryAfter time.Duration

	msg string // safe message; Error synthesizes one from the fields when empty
}

// Error returns a message that is safe to show: see the type's comment.
func (e *Error) Error() string {
	if e.msg != "" {
		return e.msg
	}
	var b strings.Builder
	switch e.Kind {
	case KindRejected:
		b.WriteString("token request rejected")
	case KindURLNotAllowed:
		b.WriteString("token URL not allowed")
	default:
		b.WriteString("token request failed")
	}
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// KindOf returns the Kind of err: "" for nil, the Kind of an *Error found by
// errors.As, and KindTransient for any other error (an error we cannot
// classify is assumed to pass).
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != "" {
		return e.Kind
	}
	return KindTransient
}

// redactor removes the request's secrets from text that came from the
// network, so an endpoint echoing the client secret or a token cannot make us
// log it.
type redactor []string

func newRedactor(secrets ...string) redactor {
	var r redactor
	for _, s := range secrets {
		if s == "" {
			continue
		}
		r = append(r, s)
		// Sanitizing may turn a secret that holds control characters into a
		// different string; redact that form too.
		if c := stripControl(s); c != s && c != "" {
			r = append(r, c)
		}
	}
	return r
}

func (r redactor) apply(s string) string {
	for _, secret := range r {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

// description sanitizes an untrusted error_description (or any other text
// from the network) for display.
func (r redactor) description(s string) string {
	s = r.apply(stripControl(r.apply(s)))
	return capBytes(s, maxDescriptionBytes)
}

// code sanitizes an untrusted OAuth error code: RFC 6749 allows only
// printable ASCII without '"' and '\'.
func (r redactor) code(s string) string {
	s = r.apply(s)
	s = r.apply(strings.Map(func(c rune) rune {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return -1
		}
		return c
	}, s))
	return capBytes(strings.TrimSpace(s), maxCodeBytes)
}

// stripControl turns invalid UTF-8 and control characters into nothing,
// except line breaks and tabs, which become spaces; runs of spaces collapse.
func stripControl(s string) string {
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, c := range s {
		switch {
		case c == '\n' || c == '\r' || c == '\t' || c == ' ':
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = true
			continue
		case unicode.IsControl(c) || c == utf8.RuneError || unicode.Is(unicode.Cf, c):
			continue
		}
		space = false
		b.WriteRune(c)
	}
	return strings.TrimRight(b.String(), " ")
}

// capBytes cuts s to at most n bytes on a rune boundary, marking the cut.
func capBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// parseRetryAfter reads a Retry-After header (RFC 9110 §10.2.3): either
// delta-seconds or an HTTP-date, relative to now. Unparseable or past values
// give 0; the result is capped so a hostile endpoint cannot park us forever.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	switch {
	case d <= 0:
		return 0
	case d > maxRetryAfter:
		return maxRetryAfter
	}
	return d
}
