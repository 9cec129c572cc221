package connecttest

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// routes serves the WorkOS Connect endpoints and, under /fake/, controls for
// a server running in another process (the demo, benchmarks, e2e tests):
//
//	GET    /fake/stats         Stats as JSON
//	POST   /fake/clients       {"id","secret","organizationId","scopes"}: add a client or rotate its secret
//	DELETE /fake/clients/{id}  remove a client
//	POST   /fake/faults        a JSON list of Fault (or one Fault), appended to the script
//	POST   /fake/lifetime      {"lifetime":"30s"}
//	POST   /fake/reset         zero the counters, drop pending faults
//	GET    /fake/ca.pem        the TLS certificate to trust (404 without TLS)
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", s.handleToken)
	mux.HandleFunc("GET /oauth2/jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.jwksJSON())
	})
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.discovery())
	})
	mux.HandleFunc("GET /fake/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("POST /fake/clients", s.handleClients)
	mux.HandleFunc("DELETE /fake/clients/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.RemoveClient(r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /fake/faults", s.handleFaults)
	mux.HandleFunc("POST /fake/lifetime", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Lifetime string `json:"lifetime"`
		}
		if !decode(w, r, &body) {
			return
		}
		d, err := time.ParseDuration(body.Lifetime)
		if err != nil || d < 0 {
			http.Error(w, "lifetime must be a non-negative Go duration such as 30s", http.StatusBadRequest)
			return
		}
		s.SetLifetime(d)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /fake/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /fake/ca.pem", func(w http.ResponseWriter, _ *http.Request) {
		if len(s.caPEM) == 0 {
			http.Error(w, "not serving TLS", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.caPEM)
	})
	return mux
}

// ClientUpdate is the body of POST /fake/clients.
type ClientUpdate struct {
	ID             string   `json:"id"`
	Secret         string   `json:"secret"`
	OrganizationID string   `json:"organizationId,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
}

// handleClients adds a client, or for a known one rotates the secret and
// replaces the organization and scopes that are given.
func (s *Server) handleClients(w http.ResponseWriter, r *http.Request) {
	var u ClientUpdate
	if !decode(w, r, &u) {
		return
	}
	if u.ID == "" || u.Secret == "" {
		http.Error(w, `"id" and "secret" are required`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[u.ID]
	if !ok {
		c = &registeredClient{}
		s.clients[u.ID] = c
	}
	c.secret = u.Secret
	if u.OrganizationID != "" {
		c.orgID = u.OrganizationID
	}
	if u.Scopes != nil {
		c.scopes = u.Scopes
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var faults []Fault
	if err := json.Unmarshal(body, &faults); err != nil {
		var one Fault
		if err1 := json.Unmarshal(body, &one); err1 != nil {
			http.Error(w, "want a JSON list of faults: "+err.Error(), http.StatusBadRequest)
			return
		}
		faults = []Fault{one}
	}
	s.Fail(faults...)
	w.WriteHeader(http.StatusNoContent)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		http.Error(w, "invalid JSON body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}
