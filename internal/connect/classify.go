package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"golang.org/x/oauth2"
)

// classify turns a failed grant into an *Error. The wire facts come from the
// exchange record; x/oauth2's own error strings are never shown, because they
// quote response bodies and, for transport errors, the URL.
func (c *Client) classify(reqCtx, callerCtx context.Context, u *url.URL, x *exchange, err error, red redactor) *Error {
	safe := safeURL(u)
	if x.status == 0 {
		return c.transportError(reqCtx, callerCtx, safe, err, red)
	}
	e := &Error{StatusCode: x.status}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e.Code = red.code(re.ErrorCode)
		e.Description = red.description(re.ErrorDescription)
	}
	if x.status >= 300 {
		e.RetryAfter = parseRetryAfter(x.header.Get("Retry-After"), c.clock.Now())
	}
	switch s := x.status; {
	case s >= 300 && s < 400:
		e.Kind = KindRejected
		e.msg = fmt.Sprintf("token endpoint %s answered with a redirect (HTTP %d); redirects are not followed", safe, s)
		return e
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		e.Kind = KindTransient
		e.msg = "token request to " + safe + " failed" + e.detail()
	case s >= 400:
		e.Kind = KindRejected
		e.msg = "token request rejected by " + safe + e.detail()
	case e.Code != "":
		// RFC 6749 wants 400, but some servers answer errors with 200.
		e.Kind = KindRejected
		e.msg = "token request rejected by " + safe + e.detail()
	default:
		return malformed(safe, x, c.bodyProblem(reqCtx, callerCtx, x, err))
	}
	if e.RetryAfter > 0 {
		e.msg += fmt.Sprintf("; retry after %s", e.RetryAfter)
	}
	return e
}

// detail renders ": code (HTTP n): description", or ": HTTP n" without a
// code, from sanitized fields.
func (e *Error) detail() string {
	var b strings.Builder
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s (HTTP %d)", e.Code, e.StatusCode)
	} else {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

// bodyProblem says why a 2xx answer carried no usable token.
func (c *Client) bodyProblem(reqCtx, callerCtx context.Context, x *exchange, err error) string {
	switch {
	case strings.Contains(err.Error(), "missing access_token"): // x/oauth2's only way of saying so
		return "no access_token"
	case x.overflow:
		return "the body exceeds 1 MiB"
	case x.readErr != nil && reqCtx.Err() != nil:
		return "timed out reading the body" + c.after(callerCtx)
	case x.readErr != nil:
		return "the connection failed while reading the body"
	}
	if ct := x.header.Get("Content-Type"); ct != "" {
		return fmt.Sprintf("the body is not a token response (Content-Type %q)", capBytes(stripControl(ct), 64))
	}
	return "the body is not a token response"
}

func malformed(safe string, x *exchange, why string) *Error {
	return &Error{
		Kind:       KindTransient,
		StatusCode: x.status,
		msg:        fmt.Sprintf("token endpoint %s sent a malformed response (HTTP %d): %s", safe, x.status, why),
	}
}

// after names our own timeout when it, not the caller's deadline, fired.
func (c *Client) after(callerCtx context.Context) string {
	if callerCtx.Err() == nil {
		return " after " + c.timeout.String()
	}
	return ""
}

// transportError describes a request that got no HTTP response.
func (c *Client) transportError(reqCtx, callerCtx context.Context, safe string, err error, red redactor) *Error {
	e := &Error{Kind: KindTransient}
	prefix := "token request to " + safe
	var (
		dnsErr  *net.DNSError
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case errors.Is(callerCtx.Err(), context.Canceled):
		e.msg = prefix + " canceled"
	case errors.Is(reqCtx.Err(), context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		e.msg = prefix + " timed out" + c.after(callerCtx)
	case errors.As(err, &dnsErr):
		e.msg = fmt.Sprintf("%s failed: DNS lookup of %q failed: %s", prefix, capBytes(stripControl(dnsErr.Name), 256), capBytes(stripControl(dnsErr.Err), 128))
	case errors.Is(err, syscall.ECONNREFUSED):
		e.msg = prefix + " failed: connection refused"
	case errors.As(err, &certErr), errors.As(err, &uaErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		e.msg = prefix + " failed: TLS certificate verification failed: " + tlsReason(err, red)
	case errors.As(err, &recErr):
		e.msg = prefix + " failed: TLS handshake failed: the server did not answer with TLS"
	case errors.As(err, &alert):
		e.msg = prefix + " failed: TLS handshake failed: " + red.description(alert.Error())
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e.msg = prefix + " failed: the connection was closed by the server"
	default:
		e.msg = prefix + " failed: " + innerReason(err, red)
	}
	return e
}

// tlsReason is the certificate error without the "tls: failed to verify
// certificate:" wrapping; x509 messages name hosts and issuers, no secrets.
func tlsReason(err error, red redactor) string {
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) && certErr.Err != nil {
		err = certErr.Err
	}
	return red.description(err.Error())
}

// innerReason renders an unknown transport error without the URL that
// *url.Error prefixes.
func innerReason(err error, red redactor) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return red.description(err.Error())
}
