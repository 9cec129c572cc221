package controllers

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/connect"
)

// Metrics exported on the manager's metrics endpoint, next to controller-runtime's own. Labels
// never carry a token, a secret or a URL query: ConnectTokens are named by namespace and name,
// token endpoints by host.
// connectTokenLabels name one ConnectToken.
var connectTokenLabels = []string{"namespace", "name"}

var (
	expirationTimestamp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "connecttoken_expiration_timestamp_seconds",
		Help: "Unix time at which the token in the ConnectToken's target Secret expires.",
	}, connectTokenLabels)
	nextRefreshTimestamp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "connecttoken_next_refresh_timestamp_seconds",
		Help: "Unix time of the ConnectToken's next scheduled token request.",
	}, connectTokenLabels)
	readyGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "connecttoken_ready",
		Help: "1 when the ConnectToken's Ready condition is True, else 0.",
	}, connectTokenLabels)
	tokenRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "connecttoken_token_requests_total",
		Help: "Token requests sent, by result (success, rejected, failed) and token endpoint host.",
	}, []string{"result", "host"})
	tokenRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "connecttoken_token_request_duration_seconds",
		Help:    "Duration of token requests, by result.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"result"})
)

func init() {
	metrics.Registry.MustRegister(expirationTimestamp, nextRefreshTimestamp, readyGauge, tokenRequests, tokenRequestDuration)
}

// ObserveTokenRequest records one token request; it is the token client's Observe hook.
func ObserveTokenRequest(host string, kind connect.Kind, d time.Duration) {
	result := "success"
	switch kind {
	case "":
	case connect.KindRejected:
		result = "rejected"
	default:
		result = "failed"
	}
	tokenRequests.WithLabelValues(result, host).Inc()
	tokenRequestDuration.WithLabelValues(result).Observe(d.Seconds())
}

// observeStatus exports the ConnectToken's status as gauges.
func observeStatus(ct *connectv1alpha1.ConnectToken) {
	ns, name := ct.Namespace, ct.Name
	setTime(expirationTimestamp, ns, name, ct.Status.ExpirationTime)
	setTime(nextRefreshTimestamp, ns, name, ct.Status.NextRefreshTime)
	ready := 0.0
	if meta.IsStatusConditionTrue(ct.Status.Conditions, connectv1alpha1.ConditionReady) {
		ready = 1
	}
	readyGauge.WithLabelValues(ns, name).Set(ready)
}

func setTime(g *prometheus.GaugeVec, ns, name string, t *metav1.Time) {
	if t == nil {
		g.DeleteLabelValues(ns, name)
		return
	}
	g.WithLabelValues(ns, name).Set(float64(t.Unix()))
}

// forgetMetrics removes a deleted ConnectToken's series.
func forgetMetrics(key types.NamespacedName) {
	for _, g := range []*prometheus.GaugeVec{expirationTimestamp, nextRefreshTimestamp, readyGauge} {
		g.DeleteLabelValues(key.Namespace, key.Name)
	}
}
