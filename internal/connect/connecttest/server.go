// Package connecttest is a fake WorkOS Connect authorization server over real
// HTTP, for tests, the demo and benchmarks: the client credentials grant at
// POST /oauth2/token with WorkOS's error behaviour, RS256 JWT access tokens,
// discovery and JWKS documents, request counters and a script of faults.
//
// It must not import "testing": cmd/fake-connect serves it standalone.
package connecttest

import (
	"context"
	"crypto/rsa"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"time"
)

// DefaultLifetime is the token lifetime when Config.Lifetime is 0; WorkOS's
// documented example answers expires_in 300.
const DefaultLifetime = 5 * time.Minute

// Config configures a Server.
type Config struct {
	// Lifetime of issued tokens (expires_in and exp); DefaultLifetime when 0.
	Lifetime time.Duration
	// Issuer is the "iss" claim and the discovery issuer; the server's URL
	// when empty.
	Issuer string
	// Audience is the "aud" claim; the issuer when empty.
	Audience string
	// Key signs tokens; a key generated once per process when nil (RSA key
	// generation is slow, and tests start many servers).
	Key *rsa.PrivateKey
	// ErrorLog receives the HTTP server's errors (TLS handshake failures,
	// …); discarded when nil, as tests provoke them on purpose.
	ErrorLog *log.Logger
}

// Server is a fake WorkOS Connect authorization server. Its methods are safe
// for concurrent use.
type Server struct {
	cfg       Config
	key       *rsa.PrivateKey
	kid       string
	hs        *httptest.Server
	caPEM     []byte
	done      chan struct{} // closed by Close, ends scripted delays
	closeOnce sync.Once

	mu       sync.Mutex
	lifetime time.Duration
	clients  map[string]*registeredClient
	faults   []Fault
	stats    Stats
	last     RecordedRequest
	changed  chan struct{} // closed and replaced whenever a request is counted
}

type registeredClient struct {
	secret string
	orgID  string
	scopes []string
}

// RecordedRequest describes the last token request the server received.
type RecordedRequest struct {
	// AuthMethod is "client_secret_basic" when an Authorization header was
	// sent, else "client_secret_post" when the form held client_secret, else
	// "none".
	AuthMethod string
	// ClientID is the client the request named, by either method.
	ClientID string
	// Form is the form body with client_secret removed.
	Form url.Values
	// UserAgent is the User-Agent header.
	UserAgent string
}

// Stats are the server's counters; GET /fake/stats serves them as JSON.
type Stats struct {
	// Requests counts token requests, whatever their outcome.
	Requests int `json:"requests"`
	// Issued counts token responses carrying a token.
	Issued int `json:"issued"`
	// Rejected counts OAuth errors the server itself decided (invalid_client, …).
	Rejected int `json:"rejected"`
	// Failed counts responses replaced or broken by a scripted Fault.
	Failed int `json:"failed"`
	// Clients counts per client ID named in a request.
	Clients map[string]ClientStats `json:"clients"`
}

// ClientStats are the counters of one client ID.
type ClientStats struct {
	// Requests counts token requests naming the client.
	Requests int `json:"requests"`
	// Issued counts tokens issued to the client.
	Issued int `json:"issued"`
}

// NewServer returns a server that is not started yet; call Start, StartTLS
// or StartOn.
func NewServer(cfg Config) *Server {
	key := cfg.Key
	if key == nil {
		key = sharedKey()
	}
	s := &Server{
		cfg:      cfg,
		key:      key,
		kid:      keyID(&key.PublicKey),
		done:     make(chan struct{}),
		lifetime: cfg.Lifetime,
		clients:  map[string]*registeredClient{},
		changed:  make(chan struct{}),
		stats:    Stats{Clients: map[string]ClientStats{}},
	}
	if s.lifetime == 0 {
		s.lifetime = DefaultLifetime
	}
	s.hs = httptest.NewUnstartedServer(s.routes())
	s.hs.Config.ErrorLog = cfg.ErrorLog
	if s.hs.Config.ErrorLog == nil {
		s.hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	}
	return s
}

// Start serves plain HTTP on a free loopback port.
func (s *Server) Start() { s.hs.Start() }

// StartTLS serves HTTPS on a free loopback port with a freshly generated
// self-signed certificate; CACertPEM returns it for the client to trust.
func (s *Server) StartTLS() {
	s.useTLS(s.hs.Listener.Addr())
	s.hs.StartTLS()
}

// StartOn serves on addr (e.g. "127.0.0.1:8089"), with TLS when useTLS.
func (s *Server) StartOn(addr string, useTLS bool) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	_ = s.hs.Listener.Close()
	s.hs.Listener = l
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	return nil
}

// Close stops the server: scripted delays end at once, then it waits for
// in-flight requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.hs.Close()
	})
}

// URL is the server's base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.hs.URL }

// TokenURL is the token endpoint, URL() + "/oauth2/token".
func (s *Server) TokenURL() string { return s.hs.URL + "/oauth2/token" }

// Issuer is the "iss" claim of issued tokens.
func (s *Server) Issuer() string {
	if s.cfg.Issuer != "" {
		return s.cfg.Issuer
	}
	return s.hs.URL
}

func (s *Server) audience() string {
	if s.cfg.Audience != "" {
		return s.cfg.Audience
	}
	return s.Issuer()
}

// CACertPEM is the PEM certificate to trust for a server started with TLS;
// nil otherwise.
func (s *Server) CACertPEM() []byte { return slices.Clone(s.caPEM) }

// PublicKey is the key that verifies issued tokens (also served as JWKS).
func (s *Server) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// AddClient registers (or replaces) a client allowed the given scopes.
func (s *Server) AddClient(id, secret, orgID string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = &registeredClient{secret: secret, orgID: orgID, scopes: slices.Clone(scopes)}
}

// SetSecret rotates a registered client's secret; unknown IDs are ignored.
func (s *Server) SetSecret(id, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		c.secret = secret
	}
}

// RemoveClient unregisters a client: its requests then fail with invalid_client.
func (s *Server) RemoveClient(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, id)
}

// SetLifetime changes the lifetime of tokens issued from now on.
func (s *Server) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

// Fail appends faults to the script; each token request consumes the first
// one left.
func (s *Server) Fail(f ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f...)
}

// PendingFaults is the number of scripted faults not consumed yet.
func (s *Server) PendingFaults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.faults)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Clients = make(map[string]ClientStats, len(s.stats.Clients))
	for k, v := range s.stats.Clients {
		st.Clients[k] = v
	}
	return st
}

// Requests counts token requests received.
func (s *Server) Requests() int { return s.Stats().Requests }

// Issued counts tokens issued.
func (s *Server) Issued() int { return s.Stats().Issued }

// Rejected counts OAuth errors decided by the server.
func (s *Server) Rejected() int { return s.Stats().Rejected }

// Failed counts responses shaped by a scripted Fault without a usable token.
func (s *Server) Failed() int { return s.Stats().Failed }

// ByClient counts token requests naming client id, whatever their outcome.
func (s *Server) ByClient(id string) int { return s.Stats().Clients[id].Requests }

// IssuedTo counts tokens issued to client id.
func (s *Server) IssuedTo(id string) int { return s.Stats().Clients[id].Issued }

// LastRequest describes the last token request (zero before the first).
func (s *Server) LastRequest() RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.last
	r.Form = cloneValues(r.Form)
	return r
}

// LastForm is the last token request's form body, client_secret removed.
func (s *Server) LastForm() url.Values { return s.LastRequest().Form }

// Reset zeroes the counters, forgets the last request and drops faults not
// consumed yet; clients stay registered.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Clients: map[string]ClientStats{}}
	s.last = RecordedRequest{}
	s.faults = nil
	s.notifyLocked()
}

// WaitForRequests blocks until at least n token requests were received
// (counted as they arrive, before any scripted delay) or ctx ends.
func (s *Server) WaitForRequests(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.stats.Requests, s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
