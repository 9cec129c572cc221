package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
	"github.com/tokenop/connect-token-operator/internal/operator"
	"github.com/tokenop/connect-token-operator/internal/testenv"
)

var (
	env  *testenv.Env
	k8s  client.Client
	fake *connecttest.Server
	logs = &syncBuffer{}
)

// syncBuffer collects the managers' logs so tests can scan them for secrets.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.DebugLevel)))
	env = testenv.MustStart()
	k8s = env.Client
	fake = connecttest.NewServer(connecttest.Config{Lifetime: 300 * time.Second})
	fake.Start()
	code := m.Run()
	fake.Close()
	_ = env.Stop()
	os.Exit(code)
}

// harness is one test's namespace, client id and running manager.
type harness struct {
	t        *testing.T
	ns       string
	clientID string
	secret   string
	clock    *clocktesting.FakeClock
	stop     context.CancelFunc
	done     chan struct{}

	lastManager *operator.Operator
}

// newHarness creates a namespace, a fake Connect client with its credentials Secret, and
// starts a manager watching only that namespace.
func newHarness(t *testing.T, mutate ...func(*operator.Options)) *harness {
	t.Helper()
	g := NewWithT(t)
	h := &harness{t: t, ns: fmt.Sprintf("t-%d", time.Now().UnixNano()), clock: clocktesting.NewFakeClock(time.Now().Truncate(time.Second))}
	h.clientID = "client_" + h.ns
	h.secret = "s3cr3t-" + h.ns + "-VALUE"
	g.Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}})).To(Succeed())
	fake.AddClient(h.clientID, h.secret, "org_"+h.ns, "widgets:read", "widgets:write")
	h.createCredentials("creds", h.clientID, h.secret)
	t.Cleanup(func() {
		if n := fake.PendingFaults(); n != 0 {
			t.Errorf("%d scripted faults were not consumed", n)
			fake.Reset()
		}
	})
	h.startManager(env.Config, mutate...)
	return h
}

func (h *harness) createCredentials(name, id, secret string) {
	h.t.Helper()
	NewWithT(h.t).Expect(k8s.Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
		StringData: map[string]string{"client_id": id, "client_secret": secret},
	})).To(Succeed())
}

func (h *harness) startManager(cfg *rest.Config, mutate ...func(*operator.Options)) {
	h.t.Helper()
	o := operator.Options{
		Scheme:                 testenv.Scheme(),
		MetricsServer:          metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		DefaultTokenLifetime:   5 * time.Minute,
		TokenRequestTimeout:    2 * time.Second,
		TokenRequestsPerSecond: 100,
		TokenRequestBurst:      100,
		WatchNamespaces:        []string{h.ns},
		Clock:                  h.clock,
		SkipNameValidation:     true,
	}
	for _, m := range mutate {
		m(&o)
	}
	mgr, err := operator.New(cfg, o)
	NewWithT(h.t).Expect(err).NotTo(HaveOccurred())
	h.lastManager = mgr
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		if err := mgr.Start(ctx); err != nil {
			h.t.Errorf("manager: %v", err)
		}
	}()
	h.t.Cleanup(h.stopManager)
}

func (h *harness) stopManager() {
	if h.stop != nil {
		h.stop()
		<-h.done
		h.stop = nil
	}
}

// connectToken is a well-formed ConnectToken against the fake server.
func (h *harness) connectToken(name string) *connectv1alpha1.ConnectToken {
	return &connectv1alpha1.ConnectToken{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
		Spec: connectv1alpha1.ConnectTokenSpec{
			IssuerURL:            fake.URL(),
			CredentialsSecretRef: connectv1alpha1.CredentialsSecretReference{Name: "creds"},
			Scopes:               []string{"widgets:read"},
			Target:               connectv1alpha1.TargetSecret{Name: name + "-token"},
		},
	}
}

func (h *harness) create(obj client.Object) {
	h.t.Helper()
	NewWithT(h.t).Expect(k8s.Create(context.Background(), obj)).To(Succeed())
}

func (h *harness) get(name string) *connectv1alpha1.ConnectToken {
	ct := &connectv1alpha1.ConnectToken{}
	NewWithT(h.t).Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name}, ct)).To(Succeed())
	return ct
}

func (h *harness) secretData(name string) map[string][]byte {
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name}, s); err != nil {
		return nil
	}
	return s.Data
}

func (h *harness) targetSecret(name string) *corev1.Secret {
	s := &corev1.Secret{}
	NewWithT(h.t).Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: name}, s)).To(Succeed())
	return s
}

// ready returns the Ready condition (nil when absent).
func (h *harness) ready(name string) *metav1.Condition {
	return meta.FindStatusCondition(h.get(name).Status.Conditions, connectv1alpha1.ConditionReady)
}

// waitReason waits until Ready has the given status and reason.
func (h *harness) waitReason(name string, status metav1.ConditionStatus, reason string) {
	h.t.Helper()
	NewWithT(h.t).Eventually(func() string {
		c := h.ready(name)
		if c == nil {
			return "no condition"
		}
		return string(c.Status) + "/" + c.Reason + ": " + c.Message
	}, 20*time.Second, 50*time.Millisecond).Should(HavePrefix(string(status) + "/" + reason))
}

// requests is the number of token requests of this test's client.
func (h *harness) requests() int { return fake.ByClient(h.clientID) }

// update applies fn to the latest ConnectToken, retrying on conflicts.
func (h *harness) update(name string, fn func(*connectv1alpha1.ConnectToken)) {
	h.t.Helper()
	NewWithT(h.t).Eventually(func() error {
		ct := h.get(name)
		fn(ct)
		return k8s.Update(context.Background(), ct)
	}, 10*time.Second, 50*time.Millisecond).Should(Succeed())
}

// nudge triggers a reconcile the way time would, by touching an annotation the operator ignores.
func (h *harness) nudge(name string) {
	h.update(name, func(ct *connectv1alpha1.ConnectToken) {
		if ct.Annotations == nil {
			ct.Annotations = map[string]string{}
		}
		ct.Annotations["test/nudge"] = fmt.Sprint(time.Now().UnixNano())
	})
}

// events lists the events about one ConnectToken.
func (h *harness) events(name string) []corev1.Event {
	var list corev1.EventList
	NewWithT(h.t).Expect(k8s.List(context.Background(), &list, client.InNamespace(h.ns))).To(Succeed())
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out
}

func eventReasons(evs []corev1.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Reason)
	}
	return out
}
