package connecttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Fault scripts the answer to one token request (see Server.Fail). Fields
// combine: Delay applies first; Redirect, Body or a Status other than 200
// replace the response (credentials are then not even checked); the other
// fields alter an otherwise normal token response.
type Fault struct {
	// Status replaces the response with this status; its body is Body, or a
	// fitting OAuth error for 4xx/5xx. 0 or 200 keeps a normal response.
	Status int `json:"status,omitempty"`
	// RetryAfter is sent verbatim as the Retry-After header.
	RetryAfter string `json:"retryAfter,omitempty"`
	// Delay holds the response back; in JSON a Go duration string ("2s").
	Delay time.Duration `json:"-"`
	// Body replaces the response body, sent verbatim.
	Body string `json:"body,omitempty"`
	// ContentType replaces application/json on a replaced response.
	ContentType string `json:"contentType,omitempty"`
	// Truncate cuts a normal token response in half.
	Truncate bool `json:"truncate,omitempty"`
	// OmitExpiresIn drops expires_in from a token response.
	OmitExpiresIn bool `json:"omitExpiresIn,omitempty"`
	// ExpiresIn, when not nil, is sent as expires_in verbatim (e.g. 0 or "300").
	ExpiresIn any `json:"expiresIn,omitempty"`
	// TokenType replaces "bearer".
	TokenType string `json:"tokenType,omitempty"`
	// OmitAccessToken drops access_token from a token response.
	OmitAccessToken bool `json:"omitAccessToken,omitempty"`
	// AccessToken replaces the JWT with this (opaque) value.
	AccessToken string `json:"accessToken,omitempty"`
	// Scope adds "scope" to a token response.
	Scope string `json:"scope,omitempty"`
	// Redirect answers with a redirect to this URL (Status when it is a 3xx,
	// else 302).
	Redirect string `json:"redirect,omitempty"`
}

// UnmarshalJSON reads Delay as a Go duration string.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var w struct {
		plain
		Delay string `json:"delay"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Fault(w.plain)
	if w.Delay != "" {
		d, err := time.ParseDuration(w.Delay)
		if err != nil {
			return fmt.Errorf("fault delay: %w", err)
		}
		f.Delay = d
	}
	return nil
}

// MarshalJSON writes Delay as a Go duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	w := struct {
		plain
		Delay string `json:"delay,omitempty"`
	}{plain: plain(f)}
	if f.Delay != 0 {
		w.Delay = f.Delay.String()
	}
	return json.Marshal(w)
}

// replaces reports whether the fault answers instead of the token endpoint.
func (f *Fault) replaces() bool {
	return f.Redirect != "" || f.Body != "" || (f.Status != 0 && f.Status != http.StatusOK)
}

// writeReplacement answers the request as the fault says.
func (f *Fault) writeReplacement(w http.ResponseWriter) {
	h := w.Header()
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	if f.Redirect != "" {
		status := f.Status
		if status < 300 || status > 399 {
			status = http.StatusFound
		}
		h.Set("Location", f.Redirect)
		w.WriteHeader(status)
		return
	}
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	body := f.Body
	if body == "" && status >= 400 {
		code := defaultErrorCode(status)
		b, _ := json.Marshal(oauthError{Code: code, Description: "fault injected by the fake server"})
		body = string(b)
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/json"
	}
	h.Set("Content-Type", ct)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func defaultErrorCode(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_client"
	case status == http.StatusForbidden:
		return "unauthorized_client"
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		return "temporarily_unavailable"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request"
}
