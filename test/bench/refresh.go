package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

type refreshResult struct {
	Forced             int     `json:"forced"`
	ForceSeconds       float64 `json:"forceSeconds"`
	WindowSeconds      float64 `json:"windowSeconds"`
	Refreshes          int     `json:"refreshes"` // tokens issued in the window
	TokenRequests      int     `json:"tokenRequests"`
	APIWrites          float64 `json:"apiWrites"`
	Reconciles         float64 `json:"reconciles"`
	WritesPerRefresh   float64 `json:"apiWritesPerRefresh"`
	RequestsPerRefresh float64 `json:"tokenRequestsPerRefresh"`
	// NoOpWritesPerRefresh are the manager's writes that stored no change (write requests minus
	// the ConnectToken and Secret modifications the watch saw), per refresh.
	NoOpWritesPerRefresh float64   `json:"noOpWritesPerRefresh"`
	Breakdown            breakdown `json:"breakdown"`
	Changes              counts    `json:"storedChanges"` // watch events: what the API server stored
}

// steadyRefresh switches the fake server to 30 s tokens, force-refreshes M = min(N, 200)
// ConnectTokens so they hold such tokens, waits until they all do, then counts refreshes
// (tokens issued), token requests and the manager's API writes over the window.
func (r *rig) steadyRefresh(ctx context.Context) (refreshResult, error) {
	res := refreshResult{Forced: min(r.o.N, 200)}
	if err := r.setLifetime(ctx, "30s"); err != nil {
		return res, err
	}
	value := strconv.FormatInt(time.Now().UnixNano(), 10)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, connectv1alpha1.ForceRefreshAnnotation, value)
	start := time.Now()
	if err := parallel(ctx, r.o.Workers, res.Forced, func(i int) error {
		ct := &connectv1alpha1.ConnectToken{}
		ct.Namespace, ct.Name = benchNS, ctName(i)
		return r.c.Patch(ctx, ct, client.RawPatch(types.MergePatchType, patch))
	}); err != nil {
		return res, fmt.Errorf("annotating for a forced refresh: %w", err)
	}
	short := func(ct *connectv1alpha1.ConnectToken) bool {
		st := ct.Status
		return st.LastForceRefresh == value && st.LastIssuedTime != nil && st.ExpirationTime != nil &&
			st.ExpirationTime.Sub(st.LastIssuedTime.Time) <= 31*time.Second
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		done, err := r.countReady(ctx, short)
		if err != nil {
			return res, err
		}
		if done >= res.Forced {
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("forced refresh: %d of %d ConnectTokens hold a 30 s token after 2 minutes", done, res.Forced)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return res, err
		}
	}
	res.ForceSeconds = time.Since(start).Seconds()

	sn0, s0, err := r.counters(ctx)
	if err != nil {
		return res, err
	}
	m0 := sn0.mgr
	stopWatching, err := r.watchChanges(ctx)
	if err != nil {
		return res, err
	}
	t0 := time.Now()
	if err := sleep(ctx, r.o.Window); err != nil {
		return res, err
	}
	res.Changes = stopWatching()
	if err := r.mgr.exitedErr(); err != nil {
		return res, err
	}
	sn1, s1, err := r.counters(ctx)
	if err != nil {
		return res, err
	}
	m1 := sn1.mgr
	res.Breakdown = newBreakdown(sn0, sn1)
	res.WindowSeconds = time.Since(t0).Seconds()
	res.Refreshes = s1.Issued - s0.Issued
	res.TokenRequests = s1.Requests - s0.Requests
	res.APIWrites = m1.apiWrites() - m0.apiWrites()
	res.Reconciles = m1.reconciles() - m0.reconciles()
	if res.Refreshes == 0 {
		return res, fmt.Errorf("no token was refreshed in the %s window", r.o.Window)
	}
	res.WritesPerRefresh = res.APIWrites / float64(res.Refreshes)
	res.RequestsPerRefresh = float64(res.TokenRequests) / float64(res.Refreshes)
	stored := res.Changes["connecttokens MODIFIED"] + res.Changes["secrets MODIFIED"]
	res.NoOpWritesPerRefresh = (res.APIWrites - stored) / float64(res.Refreshes)
	return res, nil
}
