package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// profiles captures CPU profiles over the first repetition's issuance phase (-profile-dir): the
// API server's (kube-apiserver serves /debug/pprof to an admin) and, with -manager-pprof, the
// manager's (--pprof-bind-address).
type profiles struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []string
}

func (r *rig) startProfiles(ctx context.Context, seconds int) *profiles {
	p := &profiles{}
	if r.o.ProfileDir == "" || r.rep != 1 {
		return p
	}
	grab := func(name string, hc *http.Client, url string) {
		p.wg.Go(func() {
			if err := fetchProfile(ctx, hc, fmt.Sprintf("%s?seconds=%d", url, seconds), filepath.Join(r.o.ProfileDir, name)); err != nil {
				p.mu.Lock()
				p.errs = append(p.errs, fmt.Sprintf("%s: %v", name, err))
				p.mu.Unlock()
			}
		})
	}
	grab("apiserver-issuance.pprof", r.apiHC, r.apiServerURL+"/debug/pprof/profile")
	if r.o.ManagerPprof != "" {
		grab("manager-issuance.pprof", http.DefaultClient, "http://"+r.o.ManagerPprof+"/debug/pprof/profile")
	}
	return p
}

// wait waits for the profiles and reports any that could not be captured.
func (p *profiles) wait() {
	p.wg.Wait()
	for _, e := range p.errs {
		say("    profile not captured: %s", e)
	}
}

func fetchProfile(ctx context.Context, hc *http.Client, url, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
