// Package operator assembles the manager: caches, clients, the token client and the
// ConnectToken reconciler. cmd/main.go turns flags into Options; tests use the same assembly.
package operator

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/controllers"
	"github.com/tokenop/connect-token-operator/internal/connect"
)

// Options are the manager's settings; every field is a flag of cmd/main.go.
type Options struct {
	Scheme                 *runtime.Scheme
	MetricsServer          metricsserver.Options
	HealthProbeBindAddress string
	// PprofBindAddress serves net/http/pprof when set (profiling; off by default).
	PprofBindAddress        string
	LeaderElection          bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election; controller-runtime's
	// defaults (15 s, 10 s, 2 s) when zero.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// KeepLeaseOnStop keeps the Lease when the manager stops, as a killed process would
	// (tests only); by default a stopping leader releases it so a standby takes over at once.
	KeepLeaseOnStop         bool
	MaxConcurrentReconciles int
	TokenRequestTimeout     time.Duration
	TokenRequestsPerSecond  float64
	TokenRequestBurst       int
	DefaultTokenLifetime    time.Duration
	AllowedTokenHosts       []string
	WatchNamespaces         []string
	WatchLabelSelector      labels.Selector
	// Clock is the reconciler's clock; the real clock when nil (tests pass a fake one).
	Clock clock.PassiveClock
	// Tokens replaces the token client (tests only); built from the options above when nil.
	Tokens controllers.TokenRequester
	// SkipNameValidation allows several managers in one process (tests only).
	SkipNameValidation bool
}

// Operator is the assembled manager and the label-filtered cache of the target Secrets.
type Operator struct {
	ctrl.Manager
	// TargetSecrets is the only cache holding whole Secrets: those labelled managed-by the operator.
	TargetSecrets cache.Cache
}

// New builds a manager with the ConnectToken controller, ready to Start.
//
// Caching (DESIGN §4): ConnectTokens are cached (optionally only those matching
// WatchLabelSelector); Secrets are cached only as metadata cluster-wide, with annotations and
// managed fields stripped, so memory does not follow the size of unrelated Secrets (nor the
// last-applied-configuration annotations kubectl leaves, which hold Secret values). The
// operator's own target Secrets are cached whole in a second cache filtered on the managed-by label.
func New(cfg *rest.Config, o Options) (*Operator, error) {
	namespaces := map[string]cache.Config{}
	for _, ns := range o.WatchNamespaces {
		namespaces[ns] = cache.Config{}
	}
	if len(namespaces) == 0 {
		namespaces = nil
	}
	byObject := map[client.Object]cache.ByObject{}
	if o.WatchLabelSelector != nil && !o.WatchLabelSelector.Empty() {
		byObject[&connectv1alpha1.ConnectToken{}] = cache.ByObject{Label: o.WatchLabelSelector}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        o.Scheme,
		Metrics:                       o.MetricsServer,
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		PprofBindAddress:              o.PprofBindAddress,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: !o.KeepLeaseOnStop,
		LeaseDuration:                 durationOrNil(o.LeaseDuration),
		RenewDeadline:                 durationOrNil(o.RenewDeadline),
		RetryPeriod:                   durationOrNil(o.RetryPeriod),
		Cache: cache.Options{
			DefaultNamespaces: namespaces,
			ByObject:          byObject,
			DefaultTransform:  stripForCache,
		},
		Controller: config.Controller{SkipNameValidation: &o.SkipNameValidation},
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	targets, err := cache.New(cfg, cache.Options{
		Scheme:            mgr.GetScheme(),
		Mapper:            mgr.GetRESTMapper(),
		DefaultNamespaces: namespaces,
		ByObject: map[client.Object]cache.ByObject{&corev1.Secret{}: {
			Label: labels.SelectorFromSet(labels.Set{controllers.LabelManagedBy: controllers.ManagedByValue}),
		}},
		DefaultTransform: cache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, fmt.Errorf("creating the target Secret cache: %w", err)
	}
	if err := mgr.Add(targets); err != nil {
		return nil, err
	}
	// Start the Secret informer with the cache, so reads never block on a lazy informer start.
	if _, err := targets.GetInformer(context.Background(), &corev1.Secret{}); err != nil {
		return nil, fmt.Errorf("registering the target Secret informer: %w", err)
	}

	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	tokens := o.Tokens
	if tokens == nil {
		tokens = connect.NewClient(connect.Options{
			Timeout:           o.TokenRequestTimeout,
			RequestsPerSecond: o.TokenRequestsPerSecond,
			Burst:             o.TokenRequestBurst,
			AllowedHosts:      o.AllowedTokenHosts,
			Clock:             clk,
			UserAgent:         "connect-token-operator",
			Observe:           controllers.ObserveTokenRequest,
		})
	}
	r := &controllers.ConnectTokenReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Secrets:                 targets,
		Tokens:                  tokens,
		Clock:                   clk,
		Recorder:                mgr.GetEventRecorder("connect-token-operator"),
		DefaultTokenLifetime:    o.DefaultTokenLifetime,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the ConnectToken controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return &Operator{Manager: mgr, TargetSecrets: targets}, nil
}

// stripForCache drops managed fields from everything cached, and annotations from Secret
// metadata: the operator needs only names, labels, ownerReferences and resourceVersions of
// Secrets from this cache, and annotations such as kubectl's last-applied-configuration can
// hold Secret values.
func stripForCache(in any) (any, error) {
	if m, ok := in.(*metav1.PartialObjectMetadata); ok {
		m.Annotations = nil
	}
	return cache.TransformStripManagedFields()(in)
}

func durationOrNil(d time.Duration) *time.Duration {
	if d <= 0 {
		return nil
	}
	return &d
}
