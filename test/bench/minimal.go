package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// minimalResult is a diagnostic ceiling: the rate at which this API server takes the three
// writes one issuance cannot do without — the user's ConnectToken create, the target Secret
// create and one status patch — with no operator involved.
type minimalResult struct {
	Items       int     `json:"items"`
	Seconds     float64 `json:"seconds"`
	ItemsPerSec float64 `json:"itemsPerSecond"`
	CPU         counts  `json:"cpuSecondsByProcess"`
	LatencyMs   counts  `json:"apiServerMeanLatencyMs"`
}

// minimalCeiling runs before the manager starts, in its own namespace, and deletes what it
// created so the manager never sees it.
func (r *rig) minimalCeiling(ctx context.Context, ns string, n, workers int) (minimalResult, error) {
	c, issuer := r.c, r.fakeURL
	if err := ensureNamespace(ctx, c, ns); err != nil {
		return minimalResult{}, err
	}
	item := func(name string) error {
		ct := connectToken(ns, name, issuer)
		if err := c.Create(ctx, ct); err != nil {
			return fmt.Errorf("minimal ceiling, creating ConnectToken %s: %w", ct.Name, err)
		}
		s := &corev1.Secret{}
		s.Namespace, s.Name = ns, ct.Spec.Target.Name
		targetShaped(s, ct.Name)
		s.OwnerReferences = []metav1.OwnerReference{{APIVersion: connectv1alpha1.GroupVersion.String(), Kind: "ConnectToken",
			Name: ct.Name, UID: ct.UID, Controller: new(true), BlockOwnerDeletion: new(true)}}
		if err := c.Create(ctx, s); err != nil {
			return fmt.Errorf("minimal ceiling, creating Secret %s: %w", s.Name, err)
		}
		base := ct.DeepCopy()
		now := metav1.NewTime(time.Now().UTC().Truncate(time.Second))
		exp := metav1.NewTime(now.Add(time.Hour))
		next := metav1.NewTime(now.Add(40 * time.Minute))
		ct.Status = connectv1alpha1.ConnectTokenStatus{
			ObservedGeneration: ct.Generation, LastIssuedTime: &now, ExpirationTime: &exp, NextRefreshTime: &next,
			TokenType: "bearer", GrantedScopes: []string{benchScope}, TokenID: "tok_" + ct.Name, OrganizationID: "org_bench",
		}
		meta.SetStatusCondition(&ct.Status.Conditions, metav1.Condition{Type: connectv1alpha1.ConditionReady,
			Status: metav1.ConditionTrue, Reason: connectv1alpha1.ReasonTokenIssued, ObservedGeneration: ct.Generation,
			Message: fmt.Sprintf("Token valid until %s; next refresh at %s", exp.Format(time.RFC3339), next.Format(time.RFC3339))})
		if err := c.Status().Patch(ctx, ct, client.MergeFrom(base)); err != nil {
			return fmt.Errorf("minimal ceiling, patching the status of %s: %w", ct.Name, err)
		}
		return nil
	}
	// Warm up: the first requests for a CRD in a fresh API server are slow (storage and CEL
	// set-up); the issuance phase, which comes later, does not pay for that either.
	if err := parallel(ctx, workers, workers, func(i int) error { return item(fmt.Sprintf("warm-up-%02d", i)) }); err != nil {
		return minimalResult{}, err
	}
	api0, err := scrapeWith(ctx, r.apiHC, r.apiMetrics)
	if err != nil {
		return minimalResult{}, err
	}
	cpu0 := processCPU()
	start := time.Now()
	err = parallel(ctx, workers, n, func(i int) error { return item(ctName(i)) })
	elapsed := time.Since(start)
	cpu := processCPU().minus(cpu0)
	if err != nil {
		return minimalResult{}, err
	}
	api1, err := scrapeWith(ctx, r.apiHC, r.apiMetrics)
	if err != nil {
		return minimalResult{}, err
	}
	// envtest runs no garbage collector: delete both kinds explicitly.
	if err := c.DeleteAllOf(ctx, &connectv1alpha1.ConnectToken{}, client.InNamespace(ns)); err != nil {
		return minimalResult{}, fmt.Errorf("cleaning up the minimal ceiling: %w", err)
	}
	if err := c.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns)); err != nil {
		return minimalResult{}, fmt.Errorf("cleaning up the minimal ceiling: %w", err)
	}
	return minimalResult{Items: n, Seconds: elapsed.Seconds(), ItemsPerSec: float64(n) / elapsed.Seconds(), CPU: cpu,
		LatencyMs: requestLatency(api0, api1)}, nil
}
