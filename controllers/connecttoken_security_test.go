package controllers_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
	"github.com/tokenop/connect-token-operator/internal/testenv"
)

// 15. The client secret and the tokens never appear in logs, events or status, whatever happens.
func TestSecretsNeverLeakIntoLogsEventsOrStatus(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ct := h.connectToken("api")
	ct.Spec.Target.Template = &connectv1alpha1.SecretTemplate{Data: map[string]string{"auth": "Bearer {{ .AccessToken }}"}}
	h.create(ct)
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	tokens := []string{string(h.secretData("api-token")["access_token"])}

	// A failing refresh with an error description, then a rejected one, then a broken template.
	fake.Fail(connecttest.Fault{Status: 500, Body: `{"error":"server_error","error_description":"boom"}`})
	h.clock.SetTime(h.get("api").Status.NextRefreshTime.Time)
	h.nudge("api")
	g.Eventually(func() int32 { return h.get("api").Status.FailedAttempts }, wait).Should(Equal(int32(1)))
	h.clock.SetTime(h.get("api").Status.NextRefreshTime.Time)
	h.nudge("api")
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Eventually(func() int32 { return h.get("api").Status.FailedAttempts }, wait).Should(Equal(int32(0)))
	tokens = append(tokens, string(h.secretData("api-token")["access_token"]))
	fake.SetSecret(h.clientID, "changed-at-server")
	h.clock.Step(10 * time.Second)
	h.update("api", func(ct *connectv1alpha1.ConnectToken) {
		ct.Annotations = map[string]string{connectv1alpha1.ForceRefreshAnnotation: "now"}
	})
	g.Eventually(func() int32 { return h.get("api").Status.FailedAttempts }, wait).Should(Equal(int32(1)))
	h.update("api", func(ct *connectv1alpha1.ConnectToken) {
		ct.Spec.Target.Template = &connectv1alpha1.SecretTemplate{Data: map[string]string{"auth": "{{ .AccessToken | bad }}"}}
	})
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonTemplateInvalid)

	status, err := json.Marshal(h.get("api").Status)
	g.Expect(err).NotTo(HaveOccurred())
	var evs strings.Builder
	for _, e := range h.events("api") {
		evs.WriteString(e.Message + "\n")
	}
	g.Expect(evs.String()).To(ContainSubstring("invalid_client"), "the events do say what went wrong")
	for _, haystack := range map[string]string{"logs": logs.String(), "events": evs.String(), "status": string(status)} {
		g.Expect(haystack).NotTo(ContainSubstring(h.secret))
		for _, tok := range tokens {
			g.Expect(tok).NotTo(BeEmpty())
			g.Expect(haystack).NotTo(ContainSubstring(tok))
			g.Expect(haystack).NotTo(ContainSubstring(tok[len(tok)-20:]), "not even the token's signature")
		}
	}
}

// 16. Least privilege: a manager running as a user bound only to the generated ClusterRole
// works, and a credentials Secret in another namespace is never read.
func TestWorksWithOnlyTheGeneratedClusterRole(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(testenv.Root(), "config", "rbac", "role.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	g.Expect(yaml.Unmarshal(raw, role)).To(Succeed())
	role.Name = "least-privilege-" + time.Now().Format("150405")
	g.Expect(k8s.Create(ctx, role)).To(Succeed())
	user, err := env.AddUser(envtest.User{Name: "operator-" + role.Name}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(k8s.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "User", Name: "operator-" + role.Name, APIGroup: "rbac.authorization.k8s.io"}},
	})).To(Succeed())
	g.Expect(role.Rules).NotTo(ContainElement(HaveField("Verbs", ContainElement("delete"))))

	h := newHarnessWithConfig(t, user.Config())
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Expect(h.requests()).To(Equal(1))

	// A credentials Secret of the same name in another namespace is never used.
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns + "-other"}}
	g.Expect(k8s.Create(ctx, other)).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: other.Name},
		StringData: map[string]string{"client_id": h.clientID, "client_secret": h.secret}})).To(Succeed())
	ct := h.connectToken("cross")
	ct.Spec.CredentialsSecretRef.Name = "elsewhere"
	h.create(ct)
	h.waitReason("cross", metav1.ConditionFalse, connectv1alpha1.ReasonCredentialsNotFound)
	g.Expect(h.requests()).To(Equal(1))
}

func newHarnessWithConfig(t *testing.T, cfg *rest.Config) *harness {
	h := newHarness(t)
	h.stopManager()
	h.startManager(cfg)
	return h
}

// 17. Unrelated Secrets never enter a full-object cache, and the metadata cache holds no annotations.
func TestUnrelatedSecretsAreCachedAsMetadataOnly(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	big := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "big", Namespace: h.ns,
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("v", 1024)}},
		Data: map[string][]byte{"blob": []byte(strings.Repeat("x", 512*1024))},
	}
	h.create(big)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)

	mgr := h.lastManager
	g.Expect(mgr).NotTo(BeNil())
	// The manager's client serves Secret metadata from its cache, without annotations…
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	g.Eventually(func() error { return mgr.GetCache().Get(context.Background(), client.ObjectKeyFromObject(big), m) }, wait).Should(Succeed())
	g.Expect(m.Annotations).To(BeEmpty())
	// …and the only full Secrets it holds are its own target Secrets.
	var full corev1.SecretList
	g.Expect(mgr.TargetSecrets.List(context.Background(), &full, client.InNamespace(h.ns))).To(Succeed())
	names := []string{}
	for _, s := range full.Items {
		names = append(names, s.Name)
	}
	g.Expect(names).To(Equal([]string{"api-token"}))
}
