package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// point is one poll of the Ready count, T seconds after the first ConnectToken was created.
type point struct {
	T     float64 `json:"t"`
	Ready int     `json:"ready"`
}

type issuanceResult struct {
	N                   int       `json:"n"`
	Seconds             float64   `json:"seconds"`
	PerSecond           float64   `json:"issuancesPerSecond"`
	RatioToRaw          float64   `json:"ratioToRawCeiling"`
	RatioToMinimal      float64   `json:"ratioToMinimalWritesCeiling"`
	TokenRequests       int       `json:"tokenRequests"`
	TokensIssued        int       `json:"tokensIssued"`
	RequestsPerIssuance float64   `json:"tokenRequestsPerIssuance"` // issued / N
	APIWrites           float64   `json:"apiWrites"`
	WritesPerIssuance   float64   `json:"apiWritesPerIssuance"`
	Reconciles          float64   `json:"reconciles"`
	CPUSeconds          float64   `json:"cpuSeconds"`
	CPUMsPerIssuance    float64   `json:"cpuMsPerIssuance"`
	ReconcileP50Ms      float64   `json:"reconcileP50Ms"`
	ReconcileP99Ms      float64   `json:"reconcileP99Ms"`
	ListMsMedian        float64   `json:"readyListMsMedian"`
	Breakdown           breakdown `json:"breakdown"`
	CPU                 counts    `json:"cpuSecondsByProcess"`
	LatencyMs           counts    `json:"apiServerMeanLatencyMs"`
	Polls               int       `json:"readyPolls"`
	CreateSeconds       float64   `json:"createSeconds"` // until the benchmark had created all N
	Series              []point   `json:"readySeries"`
}

func connectToken(ns, name, issuer string) *connectv1alpha1.ConnectToken {
	return &connectv1alpha1.ConnectToken{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: connectv1alpha1.ConnectTokenSpec{
			IssuerURL:            issuer,
			CredentialsSecretRef: connectv1alpha1.CredentialsSecretReference{Name: credsName},
			Scopes:               []string{benchScope},
			Target:               connectv1alpha1.TargetSecret{Name: name + "-token"},
		},
	}
}

func ctName(i int) string { return fmt.Sprintf("ct-%05d", i) }

// issuance starts the manager, creates the credentials Secret and N ConnectTokens (k goroutines)
// and polls a List every 200 ms until all are Ready=True. Time and CPU run until all are Ready;
// request counts and the reconcile histogram until the manager has settled after that.
func (r *rig) issuance(ctx context.Context, rawPerSec, minimalPerSec float64) (issuanceResult, error) {
	n := r.o.N
	res := issuanceResult{N: n}
	if err := r.startManager(ctx); err != nil {
		return res, err
	}
	if err := ensureNamespace(ctx, r.c, benchNS); err != nil {
		return res, err
	}
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: benchNS, Name: credsName},
		StringData: map[string]string{"client_id": clientID, "client_secret": clientSecret},
	}
	if err := r.c.Create(ctx, creds); err != nil {
		return res, fmt.Errorf("creating the credentials Secret: %w", err)
	}
	sn0, s0, err := r.counters(ctx)
	if err != nil {
		return res, err
	}
	m0 := sn0.mgr
	cpu0, err := r.managerCPU()
	if err != nil {
		return res, err
	}

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(n)*100*time.Millisecond)
	defer cancel()
	countReady := func() (int, error) { return r.countReady(ctx, nil) }
	if r.o.ReadyWatch {
		rw, err := r.watchReady(ctx)
		if err != nil {
			return res, err
		}
		defer rw.close()
		countReady = rw.count
	}
	prof := r.startProfiles(ctx, max(1, int(math.Ceil(float64(n)/minimalPerSec))))
	defer prof.wait()
	allCPU0 := processCPU()
	start := time.Now()
	createErr := make(chan error, 1)
	var createdAt time.Time
	go func() {
		err := r.createConnectTokens(ctx, n)
		createdAt = time.Now()
		createErr <- err
	}()

	var (
		listTimes []float64
		created   bool
	)
	for {
		t0 := time.Now()
		ready, err := countReady()
		if err != nil {
			return res, fmt.Errorf("polling Ready (%d/%d so far): %w", lastReady(res.Series), n, err)
		}
		now := time.Now()
		listTimes = append(listTimes, float64(now.Sub(t0).Microseconds())/1000)
		res.Series = append(res.Series, point{T: now.Sub(start).Seconds(), Ready: ready})
		if ready >= n {
			break
		}
		if !created {
			select {
			case err := <-createErr:
				if err != nil {
					return res, err
				}
				created = true
			default:
			}
		}
		if err := r.mgr.exitedErr(); err != nil {
			return res, err
		}
		if err := sleep(ctx, time.Until(t0.Add(200*time.Millisecond))); err != nil {
			return res, fmt.Errorf("waiting for Ready (%d/%d): %w", lastReady(res.Series), n, err)
		}
	}
	res.Seconds = res.Series[len(res.Series)-1].T
	res.CPU = processCPU().minus(allCPU0)
	cpu1, err := r.managerCPU()
	if err != nil {
		return res, err
	}
	if !created { // all Ready means all created, but wait for the goroutine's answer
		select {
		case err := <-createErr:
			if err != nil {
				return res, err
			}
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	// Count the requests once the work all Ready triggered (the reconciles that follow the
	// operator's own Secret writes) is done: the queue is empty and the counters still.
	if _, err := r.settle(ctx); err != nil {
		return res, err
	}
	sn1, s1, err := r.counters(ctx)
	if err != nil {
		return res, err
	}
	m1 := sn1.mgr
	res.Breakdown = newBreakdown(sn0, sn1)
	res.LatencyMs = requestLatency(sn0.api, sn1.api)
	res.Polls = len(listTimes)
	res.CreateSeconds = createdAt.Sub(start).Seconds()
	res.PerSecond = float64(n) / res.Seconds
	res.RatioToRaw = res.PerSecond / rawPerSec
	res.RatioToMinimal = res.PerSecond / minimalPerSec
	res.TokenRequests = s1.Requests - s0.Requests
	res.TokensIssued = s1.Issued - s0.Issued
	res.RequestsPerIssuance = float64(res.TokensIssued) / float64(n)
	res.APIWrites = m1.apiWrites() - m0.apiWrites()
	res.WritesPerIssuance = res.APIWrites / float64(n)
	res.Reconciles = m1.reconciles() - m0.reconciles()
	res.CPUSeconds = cpu1 - cpu0
	res.CPUMsPerIssuance = 1000 * res.CPUSeconds / float64(n)
	h := m1.reconcileTime().minus(m0.reconcileTime())
	if h.total <= 0 {
		return res, fmt.Errorf("the manager reported no ConnectToken reconcile (controller_runtime_reconcile_time_seconds)")
	}
	res.ReconcileP50Ms, res.ReconcileP99Ms = 1000*h.quantile(0.50), 1000*h.quantile(0.99)
	res.ListMsMedian = median(listTimes)
	return res, nil
}

func lastReady(s []point) int {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].Ready
}

// createConnectTokens creates ct-00000 … in the bench namespace on r.o.Workers goroutines.
func (r *rig) createConnectTokens(ctx context.Context, n int) error {
	return parallel(ctx, r.o.Workers, n, func(i int) error {
		if err := r.c.Create(ctx, connectToken(benchNS, ctName(i), r.fakeURL)); err != nil {
			return fmt.Errorf("creating ConnectToken %s: %w", ctName(i), err)
		}
		return nil
	})
}

// countReady lists the bench namespace's ConnectTokens and counts those Ready=True that also
// pass ok (nil: all).
func (r *rig) countReady(ctx context.Context, ok func(*connectv1alpha1.ConnectToken) bool) (int, error) {
	var list connectv1alpha1.ConnectTokenList
	if err := r.c.List(ctx, &list, client.InNamespace(benchNS)); err != nil {
		return 0, err
	}
	ready := 0
	for i := range list.Items {
		ct := &list.Items[i]
		if meta.IsStatusConditionTrue(ct.Status.Conditions, connectv1alpha1.ConditionReady) && (ok == nil || ok(ct)) {
			ready++
		}
	}
	return ready, nil
}

type restartResult struct {
	GracefulStop  bool      `json:"gracefulStop"`
	StopSeconds   float64   `json:"stopSeconds"`
	VerifySeconds float64   `json:"verifySeconds"` // exec → reconcile_total ≥ N
	WorkersAfter  float64   `json:"workersStartedSeconds"`
	Reconciles    float64   `json:"reconciles"`
	TokenRequests int       `json:"tokenRequests"`
	APIWrites     float64   `json:"apiWrites"`
	APIGets       float64   `json:"apiGets"`
	RSSSettled    int64     `json:"rssSettledBytes"`
	Breakdown     breakdown `json:"breakdown"`
}

// restart SIGTERMs the manager, starts it again with the same flags and measures what it costs
// to re-verify every ConnectToken: token requests, API writes and reads, time.
func (r *rig) restart(ctx context.Context) (restartResult, error) {
	var res restartResult
	s0, err := r.stats(ctx)
	if err != nil {
		return res, err
	}
	api0, err := scrapeWith(ctx, r.apiHC, r.apiMetrics)
	if err != nil {
		return res, err
	}
	t := time.Now()
	res.GracefulStop = r.mgr.stop(30 * time.Second)
	res.StopSeconds = time.Since(t).Seconds()
	exec := time.Now()
	if err := r.startManager(ctx); err != nil {
		return res, err
	}
	res.WorkersAfter = time.Since(exec).Seconds()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		m, err := scrapeMetrics(ctx, r.metricsURL)
		if err != nil {
			return res, err
		}
		if m.reconciles() >= float64(r.o.N) {
			res.VerifySeconds = time.Since(exec).Seconds()
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("restart: %.0f of %d ConnectTokens reconciled after 5 minutes", m.reconciles(), r.o.N)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return res, err
		}
	}
	// Settle: the queue is empty and no request was made for 2 s.
	m, err := r.settle(ctx)
	if err != nil {
		return res, err
	}
	s1, err := r.stats(ctx)
	if err != nil {
		return res, err
	}
	api1, err := scrapeWith(ctx, r.apiHC, r.apiMetrics)
	if err != nil {
		return res, err
	}
	// The new process's counters started at zero: its totals are the restart's cost.
	res.Breakdown = newBreakdown(snapshot{api: api0}, snapshot{mgr: m, api: api1})
	res.Reconciles = m.reconciles()
	res.TokenRequests = s1.Requests - s0.Requests
	res.APIWrites = m.apiWrites()
	res.APIGets = m.apiRequests("GET")
	if res.RSSSettled, err = r.managerRSS(); err != nil {
		return res, err
	}
	return res, nil
}

// settle waits until the ConnectToken queue is empty and the manager's API request count has
// not moved for 2 s (at most a minute), and returns the last scrape.
func (r *rig) settle(ctx context.Context) (scrape, error) {
	var last float64 = -1
	stableSince := time.Now()
	deadline := time.Now().Add(time.Minute)
	for {
		m, err := scrapeMetrics(ctx, r.metricsURL)
		if err != nil {
			return nil, err
		}
		total := m.sum("rest_client_requests_total", nil)
		if total != last || m.queueDepth() > 0 {
			last, stableSince = total, time.Now()
		}
		if time.Since(stableSince) >= 2*time.Second || time.Now().After(deadline) {
			return m, nil
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
