package controllers_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/operator"
)

// Metrics are served on the secured endpoint (TokenReview + SubjectAccessReview by the real API
// server) and follow each scenario.
func TestMetricsOnTheSecuredEndpoint(t *testing.T) {
	g := NewWithT(t)
	addr := freeAddr(t)
	h := newHarness(t, func(o *operator.Options) {
		o.MetricsServer = metricsserver.Options{BindAddress: addr, SecureServing: true,
			FilterProvider: filters.WithAuthenticationAndAuthorization}
	})
	token := metricsReaderToken(t, h.ns)
	host := strings.TrimPrefix(fake.URL(), "http://")
	success := func() float64 {
		return counter(scrape(t, addr, token), "connecttoken_token_requests_total", map[string]string{"result": "success", "host": host})
	}
	rejected := func() float64 {
		return counter(scrape(t, addr, token), "connecttoken_token_requests_total", map[string]string{"result": "rejected", "host": host})
	}
	// Unauthenticated scrapes are refused.
	g.Eventually(func() (int, error) {
		resp, err := insecureClient().Get("https://" + addr + "/metrics")
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}, wait).Should(Equal(http.StatusUnauthorized))

	beforeOK, beforeRejected := success(), rejected()
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	st := h.get("api").Status
	labels := map[string]string{"namespace": h.ns, "name": "api"}
	g.Eventually(func() float64 { return value(scrape(t, addr, token), "connecttoken_ready", labels) }, wait).Should(Equal(1.0))
	families := scrape(t, addr, token)
	g.Expect(value(families, "connecttoken_expiration_timestamp_seconds", labels)).To(Equal(float64(st.ExpirationTime.Unix())))
	g.Expect(value(families, "connecttoken_next_refresh_timestamp_seconds", labels)).To(Equal(float64(st.NextRefreshTime.Unix())))
	g.Expect(success() - beforeOK).To(Equal(1.0))
	g.Expect(families).To(HaveKey("connecttoken_token_request_duration_seconds"))
	g.Expect(families).To(HaveKey("controller_runtime_reconcile_total"))

	// A rejected request: ready drops to 0, the rejected counter moves.
	fake.SetSecret(h.clientID, "rotated-away")
	h.clock.Step(10 * time.Second)
	h.update("api", func(ct *connectv1alpha1.ConnectToken) { ct.Spec.Scopes = []string{"widgets:write"} })
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonTokenRequestRejected)
	g.Eventually(func() float64 { return value(scrape(t, addr, token), "connecttoken_ready", labels) }, wait).Should(Equal(0.0))
	g.Expect(rejected() - beforeRejected).To(Equal(1.0))

	// Deleting the ConnectToken removes its series.
	g.Expect(k8s.Delete(context.Background(), h.get("api"))).To(Succeed())
	g.Eventually(func() float64 { return value(scrape(t, addr, token), "connecttoken_ready", labels) }, wait).Should(Equal(-1.0))
	g.Expect(value(scrape(t, addr, token), "connecttoken_expiration_timestamp_seconds", labels)).To(Equal(-1.0))
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

// metricsReaderToken mints a ServiceAccount token (TokenRequest API) allowed to GET /metrics.
func metricsReaderToken(t *testing.T, ns string) string {
	g := NewWithT(t)
	ctx := context.Background()
	name := "metrics-reader-" + ns
	g.Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "scraper", Namespace: ns}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}})).To(Succeed())
	g.Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "scraper", Namespace: ns}}})).To(Succeed())
	cs, err := kubernetes.NewForConfig(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "scraper", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

// insecureClient scrapes the manager's self-signed test endpoint; it never talks to a token endpoint.
func insecureClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test scraper of a self-signed local endpoint
	}}
}

func scrape(t *testing.T, addr, token string) map[string]*dto.MetricFamily {
	g := NewWithT(t)
	var families map[string]*dto.MetricFamily
	g.Eventually(func() error {
		req, _ := http.NewRequest(http.MethodGet, (&url.URL{Scheme: "https", Host: addr, Path: "/metrics"}).String(), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := insecureClient().Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("scrape: HTTP %d", resp.StatusCode)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err = parser.TextToMetricFamilies(resp.Body)
		return err
	}, wait).Should(Succeed())
	return families
}

// value is the sample of the family with exactly these labels; -1 when there is none.
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return -1
	}
	for _, m := range f.Metric {
		match := 0
		for _, lp := range m.Label {
			if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	return -1
}

// counter is a counter's value, 0 before its first increment.
func counter(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	return max(value(families, name, labels), 0)
}
