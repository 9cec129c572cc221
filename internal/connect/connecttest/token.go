package connecttest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// tokenRequest is what handleToken learned from a request.
type tokenRequest struct {
	clientID, secret string
	basic            bool
	form             url.Values
	formErr          error
}

func readTokenRequest(w http.ResponseWriter, r *http.Request) tokenRequest {
	var tr tokenRequest
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err == nil {
			tr.form, err = url.ParseQuery(string(body))
		}
		tr.formErr = err
	}
	if tr.form == nil {
		tr.form = url.Values{}
	}
	if id, secret, ok := r.BasicAuth(); ok {
		tr.basic = true
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		tr.clientID, _ = url.QueryUnescape(id)
		tr.secret, _ = url.QueryUnescape(secret)
	} else {
		tr.clientID, tr.secret = tr.form.Get("client_id"), tr.form.Get("client_secret")
	}
	if ct != "application/x-www-form-urlencoded" && tr.formErr == nil {
		tr.formErr = errNotForm
	}
	return tr
}

type constError string

func (e constError) Error() string { return string(e) }

const errNotForm = constError("request body must be application/x-www-form-urlencoded")

func (tr tokenRequest) record(r *http.Request) RecordedRequest {
	rec := RecordedRequest{ClientID: tr.clientID, Form: cloneValues(tr.form), UserAgent: r.UserAgent(), AuthMethod: "none"}
	switch {
	case tr.basic:
		rec.AuthMethod = "client_secret_basic"
	case tr.form.Has("client_secret"):
		rec.AuthMethod = "client_secret_post"
	}
	rec.Form.Del("client_secret")
	return rec
}

// handleToken is POST /oauth2/token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	tr := readTokenRequest(w, r)

	s.mu.Lock()
	s.stats.Requests++
	if tr.clientID != "" {
		cs := s.stats.Clients[tr.clientID]
		cs.Requests++
		s.stats.Clients[tr.clientID] = cs
	}
	s.last = tr.record(r)
	var fault *Fault
	if len(s.faults) > 0 {
		fault = &s.faults[0]
		s.faults = s.faults[1:]
	}
	lifetime := s.lifetime
	s.notifyLocked()
	s.mu.Unlock()

	if fault != nil && fault.Delay > 0 {
		t := time.NewTimer(fault.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.count(func(st *Stats) { st.Failed++ })
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	if fault != nil && fault.replaces() {
		s.count(func(st *Stats) { st.Failed++ })
		fault.writeReplacement(w)
		return
	}

	granted, oe, status := s.authorize(tr)
	if oe != nil {
		s.count(func(st *Stats) { st.Rejected++ })
		if status == http.StatusUnauthorized && tr.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake-connect"`)
		}
		writeJSON(w, status, oe)
		return
	}
	body := s.issue(tr.clientID, granted, lifetime, fault)
	if fault != nil && fault.Truncate {
		s.count(func(st *Stats) { st.Failed++ })
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		return
	}
	s.count(func(st *Stats) {
		st.Issued++
		cs := st.Clients[tr.clientID]
		cs.Issued++
		st.Clients[tr.clientID] = cs
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// authorize applies WorkOS's checks in order: a well-formed request, a known
// client with the right secret, the grant type, the scopes. It returns the
// granted scopes, or the OAuth error and its status.
func (s *Server) authorize(tr tokenRequest) ([]string, *oauthError, int) {
	bad := func(status int, code, desc string) ([]string, *oauthError, int) {
		return nil, &oauthError{Code: code, Description: desc}, status
	}
	switch {
	case tr.formErr != nil:
		return bad(http.StatusBadRequest, "invalid_request", tr.formErr.Error())
	case tr.basic && tr.form.Has("client_secret"):
		return bad(http.StatusBadRequest, "invalid_request", "Use only one client authentication method.")
	case tr.form.Get("grant_type") == "":
		return bad(http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type.")
	case tr.clientID == "":
		return bad(http.StatusBadRequest, "invalid_request", "Missing required parameter: client_id.")
	case tr.secret == "":
		return bad(http.StatusBadRequest, "invalid_request", "Missing required parameter: client_secret.")
	}
	s.mu.Lock()
	c, ok := s.clients[tr.clientID]
	var secret, scopes = "", []string(nil)
	if ok {
		secret, scopes = c.secret, slices.Clone(c.scopes)
	}
	s.mu.Unlock()
	if !ok || secret != tr.secret {
		return bad(http.StatusUnauthorized, "invalid_client", "Invalid client credentials.")
	}
	if gt := tr.form.Get("grant_type"); gt != "client_credentials" {
		return bad(http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant type: "+gt+".")
	}
	if !tr.form.Has("scope") {
		return scopes, nil, 0
	}
	requested := strings.Split(tr.form.Get("scope"), " ")
	for _, sc := range requested {
		if sc == "" {
			return bad(http.StatusBadRequest, "invalid_scope", "Scopes must be separated by single spaces.")
		}
		if !slices.Contains(scopes, sc) {
			return bad(http.StatusBadRequest, "invalid_scope", "The scope "+sc+" is not allowed for this client.")
		}
	}
	return requested, nil, 0
}

// issue signs a token for clientID and renders the token response, altered
// by fault when not nil.
func (s *Server) issue(clientID string, scopes []string, lifetime time.Duration, fault *Fault) []byte {
	s.mu.Lock()
	org := ""
	if c, ok := s.clients[clientID]; ok {
		org = c.orgID
	}
	s.mu.Unlock()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss":    s.Issuer(),
		"sub":    clientID,
		"aud":    s.audience(),
		"org_id": org,
		"scope":  strings.Join(scopes, " "),
		"jti":    newJTI(),
		"iat":    now.Unix(),
		"exp":    now.Add(lifetime).Unix(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.kid
	signed, err := t.SignedString(s.key)
	if err != nil {
		panic("connecttest: signing token: " + err.Error())
	}
	resp := map[string]any{
		"access_token": signed,
		"token_type":   "bearer",
		"expires_in":   int64(lifetime / time.Second),
	}
	if fault != nil {
		if fault.AccessToken != "" {
			resp["access_token"] = fault.AccessToken
		}
		if fault.OmitAccessToken {
			delete(resp, "access_token")
		}
		if fault.TokenType != "" {
			resp["token_type"] = fault.TokenType
		}
		if fault.ExpiresIn != nil {
			resp["expires_in"] = fault.ExpiresIn
		}
		if fault.OmitExpiresIn {
			delete(resp, "expires_in")
		}
		if fault.Scope != "" {
			resp["scope"] = fault.Scope
		}
	}
	b, _ := json.Marshal(resp)
	return b
}

// newJTI returns a unique token ID in WorkOS's prefixed style.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "tok_" + hex.EncodeToString(b[:])
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
