package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tokenop/connect-token-operator/internal/testenv"
)

// Names used in every repetition.
const (
	benchNS      = "bench"
	credsName    = "bench-credentials"
	clientID     = "bench-client"
	clientSecret = "bench-secret"
	benchScope   = "bench:read"
)

// rig is one repetition's control plane, fake Connect server and manager.
type rig struct {
	o            options
	root, dir    string
	env          *testenv.Env
	kubeconfig   string
	c            client.Client // the benchmark's own client, QPS raised so it is not the brake
	fake         *proc
	fakeURL      string
	mgr          *proc
	mgrRuns      int
	metricsURL   string
	mgrFlags     []string
	apiHC        *http.Client // authenticated client for the API server's own /metrics
	apiMetrics   string
	cfg          *rest.Config // the benchmark's admin config, QPS raised
	apiServerURL string
	rep          int
}

func newRig(o options, rep int) (*rig, error) {
	dir, err := os.MkdirTemp("", "connect-token-bench-")
	if err != nil {
		return nil, err
	}
	return &rig{o: o, root: testenv.Root(), dir: dir, rep: rep}, nil
}

func (r *rig) start(ctx context.Context) error {
	var err error
	if r.env, err = testenv.Start(); err != nil {
		return err
	}
	admin, err := r.env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	r.kubeconfig = filepath.Join(r.dir, "kubeconfig")
	if err := os.WriteFile(r.kubeconfig, kc, 0o600); err != nil {
		return err
	}
	cfg := *admin.Config()
	cfg.QPS, cfg.Burst = 2000, 4000
	r.cfg = &cfg
	if r.c, err = client.New(&cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return err
	}
	if r.apiHC, err = rest.HTTPClientFor(&cfg); err != nil {
		return err
	}
	r.apiServerURL = strings.TrimSuffix(cfg.Host, "/")
	r.apiMetrics = r.apiServerURL + "/metrics"
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	r.fake, err = startProc(r.dir, "fake-connect", filepath.Join(r.root, "bin", "fake-connect"),
		"--listen", addr, "--lifetime", "1h", "--client", clientID+":"+clientSecret+":"+benchScope)
	if err != nil {
		return err
	}
	r.fakeURL = "http://" + addr
	if err := waitHTTP(ctx, r.fake, r.fakeURL+"/.well-known/openid-configuration", 30*time.Second); err != nil {
		return fmt.Errorf("fake Connect server: %w", err)
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	r.metricsURL = "http://" + metricsAddr + "/metrics"
	r.mgrFlags = managerFlags(metricsAddr, r.o)
	return ctx.Err()
}

// startManager starts bin/manager and waits until its ConnectToken workers run and its
// metrics endpoint answers.
func (r *rig) startManager(ctx context.Context) error {
	r.mgrRuns++
	args := append([]string{"--kubeconfig", r.kubeconfig}, r.mgrFlags...)
	p, err := startProc(r.dir, fmt.Sprintf("manager-%d", r.mgrRuns), filepath.Join(r.root, "bin", "manager"), args...)
	if err != nil {
		return err
	}
	r.mgr = p
	if err := p.waitLog(ctx, "Starting workers", 2*time.Minute); err != nil {
		return err
	}
	return waitHTTP(ctx, p, r.metricsURL, 30*time.Second)
}

func (r *rig) cleanup() {
	if r.mgr != nil {
		r.mgr.stop(15 * time.Second)
	}
	if r.fake != nil {
		r.fake.stop(5 * time.Second)
	}
	if r.env != nil {
		if err := r.env.Stop(); err != nil {
			say("stopping the control plane: %v", err)
		}
	}
	_ = os.RemoveAll(r.dir)
}

// fakeStats are the fake Connect server's counters (GET /fake/stats).
type fakeStats struct {
	Requests int `json:"requests"`
	Issued   int `json:"issued"`
	Rejected int `json:"rejected"`
	Failed   int `json:"failed"`
}

func (r *rig) stats(ctx context.Context) (fakeStats, error) {
	var st fakeStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.fakeURL+"/fake/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /fake/stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (r *rig) setLifetime(ctx context.Context, lifetime string) error {
	body, _ := json.Marshal(map[string]string{"lifetime": lifetime})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.fakeURL+"/fake/lifetime", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST /fake/lifetime: %s", resp.Status)
	}
	return nil
}

// managerCPU and managerRSS read the running manager's /proc figures.
func (r *rig) managerCPU() (float64, error) { return cpuSeconds(r.mgr.pid()) }
func (r *rig) managerRSS() (int64, error)   { return rssBytes(r.mgr.pid()) }

// snapshot is a scrape of the manager's and the API server's metrics at one moment.
type snapshot struct{ mgr, api scrape }

// counters reads everything a phase is measured with: process and metric snapshots, and the
// fake server's counts.
func (r *rig) counters(ctx context.Context) (snapshot, fakeStats, error) {
	sn, err := r.snapshot(ctx)
	if err != nil {
		return sn, fakeStats{}, err
	}
	st, err := r.stats(ctx)
	return sn, st, err
}

func (r *rig) snapshot(ctx context.Context) (snapshot, error) {
	var sn snapshot
	var err error
	if sn.mgr, err = scrapeMetrics(ctx, r.metricsURL); err != nil {
		return sn, err
	}
	if sn.api, err = scrapeWith(ctx, r.apiHC, r.apiMetrics); err != nil {
		return sn, fmt.Errorf("API server metrics: %w", err)
	}
	return sn, nil
}

// breakdown explains a phase's API traffic: the manager's requests by method and code, the API
// server's writes by verb, resource and code (all clients), the reconciles by result.
type breakdown struct {
	ManagerRequests  counts `json:"managerRequestsByMethodCode"`
	ServerWrites     counts `json:"apiServerWritesByVerbResourceCode"`
	ReconcileResults counts `json:"reconcilesByResult"`
}

func newBreakdown(before, after snapshot) breakdown {
	b := breakdown{ServerWrites: after.api.serverWrites().minus(before.api.serverWrites())}
	if after.mgr != nil {
		var m0, r0 counts
		if before.mgr != nil {
			m0, r0 = before.mgr.managerRequests(), before.mgr.reconcileResults()
		}
		b.ManagerRequests = after.mgr.managerRequests().minus(m0)
		b.ReconcileResults = after.mgr.reconcileResults().minus(r0)
	}
	return b
}

func (b breakdown) String() string {
	return fmt.Sprintf("manager requests %s; API server writes %s; reconciles %s",
		b.ManagerRequests, b.ServerWrites, b.ReconcileResults)
}
