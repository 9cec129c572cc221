// Command manager runs the connect-token-operator: it keeps WorkOS Connect (OAuth 2.0 client
// credentials) access tokens fresh in Kubernetes Secrets. Flags and wiring only.
package main

import (
	"crypto/tls"
	"flag"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/operator"
)

func main() {
	var (
		metricsAddr, probeAddr, watchNamespaces, allowedHosts, labelSelector string
		leaderElect, secureMetrics, enableHTTP2                              bool
		o                                                                    operator.Options
		qps                                                                  float64
		burst                                                                int
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "Address the metrics endpoint binds to, e.g. :8443 (HTTPS) or :8080 (with --metrics-secure=false); "+
		"0 disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the liveness (/healthz) and readiness (/readyz) probes bind to.")
	flag.StringVar(&o.PprofBindAddress, "pprof-bind-address", "", "Address to serve Go pprof profiles on, e.g. 127.0.0.1:6060; empty disables profiling.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader with a Lease, so only one replica reconciles at a time.")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader-election Lease; the manager's own namespace when empty.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with Kubernetes authentication and authorization.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server (off by default: HTTP/2 Rapid Reset and Stream Cancellation CVEs).")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "How many ConnectTokens are reconciled in parallel.")
	flag.DurationVar(&o.TokenRequestTimeout, "token-request-timeout", 10*time.Second, "Timeout of one token request.")
	flag.Float64Var(&o.TokenRequestsPerSecond, "token-requests-per-second", 10, "Client-side limit of token requests per second, per token host.")
	flag.IntVar(&o.TokenRequestBurst, "token-request-burst", 20, "Burst of the per-token-host request limit.")
	flag.DurationVar(&o.DefaultTokenLifetime, "default-token-lifetime", 5*time.Minute, "Lifetime assumed when the token endpoint sends no expires_in.")
	flag.StringVar(&allowedHosts, "allowed-token-hosts", "", "Comma-separated token endpoint hosts allowed, exact or *.suffix (e.g. *.authkit.app); "+
		"empty allows any https host and loopback http.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch; empty watches all namespaces.")
	flag.StringVar(&labelSelector, "watch-label-selector", "", "Only reconcile ConnectTokens matching this label selector "+
		"(to shard ConnectTokens across several managers).")
	flag.Float64Var(&qps, "kube-api-qps", 50, "Client-side limit of Kubernetes API requests per second.")
	flag.IntVar(&burst, "kube-api-burst", 100, "Burst of the Kubernetes API request limit.")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	selector, err := labels.Parse(labelSelector)
	if err != nil {
		log.Error(err, "Invalid --watch-label-selector")
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(connectv1alpha1.AddToScheme(scheme))

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS, cfg.Burst = float32(qps), burst

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	o.MetricsServer = metricsserver.Options{BindAddress: metricsAddr, SecureServing: secureMetrics, TLSOpts: tlsOpts}
	if secureMetrics {
		o.MetricsServer.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	o.Scheme = scheme
	o.HealthProbeBindAddress = probeAddr
	o.LeaderElection = leaderElect
	o.LeaderElectionID = "connect-token-operator.tokenop.dev"
	o.AllowedTokenHosts = splitList(allowedHosts)
	o.WatchNamespaces = splitList(watchNamespaces)
	o.WatchLabelSelector = selector

	mgr, err := operator.New(cfg, o)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting manager", "watchNamespaces", o.WatchNamespaces, "allowedTokenHosts", o.AllowedTokenHosts,
		"maxConcurrentReconciles", o.MaxConcurrentReconciles)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
