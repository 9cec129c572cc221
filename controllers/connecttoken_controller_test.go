package controllers_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/controllers"
	"github.com/tokenop/connect-token-operator/internal/connect/connecttest"
	"github.com/tokenop/connect-token-operator/internal/operator"
)

const wait = 20 * time.Second

// 1. A new ConnectToken becomes Ready with the exact Secret layout and exactly one request.
func TestIssuesTokenIntoSecretWithExactLayout(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ct := h.connectToken("api")
	ct.Labels = map[string]string{"argocd.argoproj.io/instance": "should-not-be-copied"}
	ct.Annotations = map[string]string{"example.com/note": "not copied either"}
	ct.Spec.Target.Labels = map[string]connectv1alpha1.LabelValue{"team": "payments"}
	ct.Spec.Target.Annotations = map[string]string{"example.com/owner": "payments"}
	ct.Spec.Target.Template = &connectv1alpha1.SecretTemplate{Data: map[string]string{"authorization": "Bearer {{ .AccessToken }}"}}
	h.create(ct)
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)

	s := h.targetSecret("api-token")
	g.Expect(s.Type).To(Equal(corev1.SecretTypeOpaque))
	g.Expect(s.Data).To(HaveLen(4))
	g.Expect(s.Data).To(HaveKey("access_token"))
	g.Expect(string(s.Data["token_type"])).To(Equal("bearer"))
	g.Expect(string(s.Data["authorization"])).To(Equal("Bearer " + string(s.Data["access_token"])))
	g.Expect(time.Parse(time.RFC3339, string(s.Data["expires_at"]))).To(BeTemporally("~", h.clock.Now().Add(300*time.Second), time.Second))
	g.Expect(s.Labels).To(Equal(map[string]string{
		"app.kubernetes.io/managed-by": "connect-token-operator", "connect.tokenop.dev/connect-token": "api", "team": "payments"}))
	g.Expect(s.Annotations).To(HaveKeyWithValue("example.com/owner", "payments"))
	g.Expect(s.Annotations).To(HaveKey("connect.tokenop.dev/issued-at"))
	g.Expect(s.Annotations).To(HaveKey("connect.tokenop.dev/expires-at"))
	g.Expect(s.Annotations).To(HaveKey("connect.tokenop.dev/request-hash"))
	g.Expect(s.Annotations).NotTo(HaveKey("example.com/note"))
	g.Expect(s.OwnerReferences).To(HaveLen(1))
	ref := s.OwnerReferences[0]
	g.Expect(ref.Kind).To(Equal("ConnectToken"))
	g.Expect(ref.Name).To(Equal("api"))
	g.Expect(*ref.Controller).To(BeTrue())

	st := h.get("api").Status
	g.Expect(st.ExpirationTime).NotTo(BeNil())
	g.Expect(st.NextRefreshTime.Time).To(BeTemporally("<", st.ExpirationTime.Time))
	g.Expect(st.TokenType).To(Equal("bearer"))
	g.Expect(st.GrantedScopes).To(Equal([]string{"widgets:read"}))
	g.Expect(st.TokenID).NotTo(BeEmpty())
	g.Expect(st.OrganizationID).To(Equal("org_" + h.ns))
	g.Expect(st.ObservedGeneration).To(Equal(h.get("api").Generation))
	g.Expect(h.requests()).To(Equal(1))
	g.Consistently(h.requests, 2*time.Second, 100*time.Millisecond).Should(Equal(1))
	g.Eventually(func() []string { return eventReasons(h.events("api")) }, wait).Should(ContainElement(controllers.EventTokenIssued))
}

// 2. The scheduled refresh makes one more request, updates status, and emits no event.
func TestRefreshesAtScheduledTimeWithoutEvent(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	first := h.get("api").Status
	oldToken := string(h.secretData("api-token")["access_token"])
	g.Eventually(func() int { return len(h.events("api")) }, wait).Should(Equal(1))

	// Before the refresh time nothing happens.
	h.clock.SetTime(first.NextRefreshTime.Add(-time.Second))
	h.nudge("api")
	g.Consistently(h.requests, time.Second, 100*time.Millisecond).Should(Equal(1))

	h.clock.SetTime(first.NextRefreshTime.Time)
	h.nudge("api")
	g.Eventually(h.requests, wait).Should(Equal(2))
	g.Eventually(func() string { return string(h.secretData("api-token")["access_token"]) }, wait).ShouldNot(Equal(oldToken))
	g.Eventually(func() time.Time { return h.get("api").Status.ExpirationTime.Time }, wait).Should(BeTemporally(">", first.ExpirationTime.Time))
	g.Consistently(func() int { return len(h.events("api")) }, time.Second, 100*time.Millisecond).Should(Equal(1))
	g.Expect(h.requests()).To(Equal(2))
}

// 3. A new manager against valid tokens makes zero token requests and no writes.
func TestRestartMakesNoRequestAndNoWrite(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Eventually(h.requests, wait).Should(Equal(1))
	h.stopManager()
	ctRV := h.get("api").ResourceVersion
	secretRV := h.targetSecret("api-token").ResourceVersion

	h.startManager(env.Config)
	h.nudge("api") // a reconcile certainly runs
	nudged := h.get("api").ResourceVersion
	g.Consistently(h.requests, 2*time.Second, 100*time.Millisecond).Should(Equal(1))
	g.Expect(h.targetSecret("api-token").ResourceVersion).To(Equal(secretRV))
	g.Expect(h.get("api").ResourceVersion).To(Equal(nudged), "no status write after the nudge")
	g.Expect(ctRV).NotTo(BeEmpty())
}

// 4. Rotated credentials and a scope change re-issue once each; metadata changes re-render only.
func TestReissuesOnRequestChangesAndRerendersOnMetadataChanges(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Expect(h.requests()).To(Equal(1))

	// Rotate the client secret at the server and in the credentials Secret.
	h.clock.Step(10 * time.Second) // past the 5 s minimum request interval
	fake.SetSecret(h.clientID, h.secret+"-rotated")
	creds := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "creds"}, creds)).To(Succeed())
	creds.Data["client_secret"] = []byte(h.secret + "-rotated")
	g.Expect(k8s.Update(context.Background(), creds)).To(Succeed())
	g.Eventually(h.requests, wait).Should(Equal(2))
	g.Eventually(func() []string { return eventReasons(h.events("api")) }, wait).Should(ContainElement(controllers.EventTokenReissued))

	h.clock.Step(10 * time.Second) // past the 5 s minimum request interval
	h.update("api", func(ct *connectv1alpha1.ConnectToken) { ct.Spec.Scopes = []string{"widgets:read", "widgets:write"} })
	g.Eventually(h.requests, wait).Should(Equal(3))
	g.Eventually(func() []string { return h.get("api").Status.GrantedScopes }, wait).Should(ConsistOf("widgets:read", "widgets:write"))

	// Labels, annotations and templates re-render the Secret from the current token: no request.
	token := string(h.secretData("api-token")["access_token"])
	h.update("api", func(ct *connectv1alpha1.ConnectToken) {
		ct.Spec.Target.Labels = map[string]connectv1alpha1.LabelValue{"tier": "gold"}
		ct.Spec.Target.Annotations = map[string]string{"example.com/owner": "team-b"}
		ct.Spec.Target.Template = &connectv1alpha1.SecretTemplate{Data: map[string]string{"header": "Bearer {{ .AccessToken }}"}}
	})
	g.Eventually(func() string { return string(h.secretData("api-token")["header"]) }, wait).Should(Equal("Bearer " + token))
	s := h.targetSecret("api-token")
	g.Expect(s.Labels).To(HaveKeyWithValue("tier", "gold"))
	g.Expect(s.Annotations).To(HaveKeyWithValue("example.com/owner", "team-b"))
	g.Consistently(h.requests, time.Second, 100*time.Millisecond).Should(Equal(3))
}

// 5. A deleted, tampered or relabelled target Secret is restored.
func TestRestoresDeletedOrTamperedSecret(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)

	h.clock.Step(10 * time.Second)
	g.Expect(k8s.Delete(context.Background(), h.targetSecret("api-token"))).To(Succeed())
	g.Eventually(func() int { return len(h.secretData("api-token")["access_token"]) }, wait).Should(BeNumerically(">", 0))
	g.Eventually(h.requests, wait).Should(Equal(2))

	h.clock.Step(10 * time.Second)
	s := h.targetSecret("api-token")
	s.Data["access_token"] = []byte("tampered")
	g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	g.Eventually(func() string { return string(h.secretData("api-token")["access_token"]) }, wait).ShouldNot(Equal("tampered"))
	g.Eventually(h.requests, wait).Should(Equal(3))

	s = h.targetSecret("api-token")
	delete(s.Labels, "connect.tokenop.dev/connect-token")
	g.Expect(k8s.Update(context.Background(), s)).To(Succeed())
	g.Eventually(func() map[string]string { return h.targetSecret("api-token").Labels }, wait).Should(HaveKey("connect.tokenop.dev/connect-token"))
	g.Consistently(h.requests, time.Second, 100*time.Millisecond).Should(Equal(3))
}

// 6. A Secret the operator does not control is never touched; a second claimant gets SecretConflict.
func TestSecretConflict(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: h.ns}, Data: map[string][]byte{"x": []byte("keep me")}}
	h.create(foreign)
	ct := h.connectToken("api")
	ct.Spec.Target.Name = "theirs"
	h.create(ct)
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonSecretConflict)
	g.Expect(h.targetSecret("theirs").Data).To(Equal(map[string][]byte{"x": []byte("keep me")}))
	g.Expect(h.requests()).To(Equal(0))
	// Deleting the Secret in the way lets the ConnectToken issue at once, without a nudge.
	g.Expect(k8s.Delete(context.Background(), h.targetSecret("theirs"))).To(Succeed())
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Expect(h.requests()).To(Equal(1))
	h.clock.Step(10 * time.Second)

	h.create(h.connectToken("first"))
	h.waitReason("first", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	before := h.targetSecret("first-token")
	second := h.connectToken("second")
	second.Spec.Target.Name = "first-token"
	h.create(second)
	h.waitReason("second", metav1.ConditionFalse, connectv1alpha1.ReasonSecretConflict)
	g.Expect(h.targetSecret("first-token").ResourceVersion).To(Equal(before.ResourceVersion))
	g.Expect(h.requests()).To(Equal(2))
	g.Eventually(func() []string { return eventReasons(h.events("second")) }, wait).Should(ContainElement(connectv1alpha1.ReasonSecretConflict))
}

// 7. Missing credentials, then created: issued without a nudge. Missing key: CredentialsInvalid.
func TestCredentialsNotFoundThenCreated(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ct := h.connectToken("api")
	ct.Spec.CredentialsSecretRef.Name = "later"
	h.create(ct)
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonCredentialsNotFound)
	h.createCredentials("later", h.clientID, h.secret)
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Expect(h.requests()).To(Equal(1))

	bad := h.connectToken("bad")
	bad.Spec.CredentialsSecretRef.ClientSecretKey = "missing"
	h.create(bad)
	h.waitReason("bad", metav1.ConditionFalse, connectv1alpha1.ReasonCredentialsInvalid)
	g.Expect(h.ready("bad").Message).To(ContainSubstring(`"missing"`))
	g.Expect(h.requests()).To(Equal(1))
}

// 12. The force-refresh annotation: one request per new value; a restart does not repeat it.
func TestForceRefreshAnnotation(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	h.clock.Step(10 * time.Second)
	h.update("api", func(ct *connectv1alpha1.ConnectToken) {
		ct.Annotations = map[string]string{connectv1alpha1.ForceRefreshAnnotation: "1"}
	})
	g.Eventually(h.requests, wait).Should(Equal(2))
	g.Eventually(func() string { return h.get("api").Status.LastForceRefresh }, wait).Should(Equal("1"))
	g.Eventually(func() []string { return eventReasons(h.events("api")) }, wait).Should(ContainElement(controllers.EventForceRefreshed))

	h.stopManager()
	h.startManager(env.Config)
	h.nudge("api")
	g.Consistently(h.requests, 2*time.Second, 100*time.Millisecond).Should(Equal(2))
}

// 11. Suspended: no requests; resuming issues on schedule.
func TestSuspendStopsRequests(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	ct := h.connectToken("api")
	ct.Spec.Suspend = true
	h.create(ct)
	h.waitReason("api", metav1.ConditionUnknown, connectv1alpha1.ReasonSuspended)
	g.Expect(h.requests()).To(Equal(0))
	h.update("api", func(ct *connectv1alpha1.ConnectToken) { ct.Spec.Suspend = false })
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Expect(h.requests()).To(Equal(1))

	// Suspending together with a scope change: the token is for the earlier spec, so not Ready=True.
	h.update("api", func(ct *connectv1alpha1.ConnectToken) {
		ct.Spec.Suspend = true
		ct.Spec.Scopes = []string{"widgets:write"}
	})
	h.waitReason("api", metav1.ConditionUnknown, connectv1alpha1.ReasonSuspended)
	g.Expect(h.ready("api").Message).To(ContainSubstring("earlier spec"))
	g.Expect(h.requests()).To(Equal(1))
}

// 13. A token host outside --allowed-token-hosts is refused before anything is sent.
func TestTokenURLNotAllowed(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(o *operator.Options) { o.AllowedTokenHosts = []string{"*.authkit.app"} })
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonTokenURLNotAllowed)
	g.Expect(h.requests()).To(Equal(0))
}

// 14. A template that fails: clear condition and event, no request, the Secret kept.
func TestTemplateInvalid(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	before := h.targetSecret("api-token")
	h.clock.Step(10 * time.Second)
	h.update("api", func(ct *connectv1alpha1.ConnectToken) {
		ct.Spec.Scopes = []string{"widgets:write"} // would need a new token…
		ct.Spec.Target.Template = &connectv1alpha1.SecretTemplate{Data: map[string]string{"h": "{{ .Nope }}"}}
	})
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonTemplateInvalid)
	g.Expect(h.ready("api").Message).To(ContainSubstring(`key "h"`))
	g.Expect(h.requests()).To(Equal(1), "…but none is requested for a broken template")
	g.Expect(h.targetSecret("api-token").Data).To(Equal(before.Data))
	g.Eventually(func() []string { return eventReasons(h.events("api")) }, wait).Should(ContainElement(connectv1alpha1.ReasonTemplateInvalid))
}

// 8. invalid_client: TokenRequestRejected with a slow backoff; a credentials change resets it.
func TestRejectedBacksOffSlowlyAndResetsOnCredentialsChange(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	fake.SetSecret(h.clientID, "something-else")
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonTokenRequestRejected)
	g.Expect(h.ready("api").Message).To(ContainSubstring("invalid_client"))
	st := h.get("api").Status
	g.Expect(st.FailedAttempts).To(Equal(int32(1)))
	g.Expect(st.NextRefreshTime.Sub(h.clock.Now())).To(BeNumerically(">=", time.Minute))

	// Many reconciles inside the backoff window: no new request.
	for range 5 {
		h.clock.Step(5 * time.Second)
		h.nudge("api")
	}
	g.Consistently(h.requests, time.Second, 100*time.Millisecond).Should(Equal(1))
	// At the backoff time: one more attempt, and the next wait doubles.
	h.clock.SetTime(h.get("api").Status.NextRefreshTime.Time)
	h.nudge("api")
	g.Eventually(h.requests, wait).Should(Equal(2))
	g.Eventually(func() int32 { return h.get("api").Status.FailedAttempts }, wait).Should(Equal(int32(2)))
	g.Expect(h.get("api").Status.NextRefreshTime.Sub(h.clock.Now())).To(BeNumerically(">=", 2*time.Minute))
	g.Expect(eventReasons(h.events("api"))).To(HaveLen(1), "one event per failure streak")

	// Fixing the credentials resets the backoff at once.
	creds := &corev1.Secret{}
	g.Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: "creds"}, creds)).To(Succeed())
	creds.Data["client_secret"] = []byte("something-else")
	g.Expect(k8s.Update(context.Background(), creds)).To(Succeed())
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Expect(h.requests()).To(Equal(3))
	g.Eventually(func() []string { return eventReasons(h.events("api")) }, wait).Should(ContainElement(controllers.EventRecovered))
}

// 9 + 10. Transient failures: Ready stays True while the token is valid, Retry-After is
// honoured, backoff survives a restart, the Secret keeps the last token, TokenExpired at expiry.
func TestTransientFailuresKeepLastTokenUntilExpiry(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t)
	h.create(h.connectToken("api"))
	h.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	token := string(h.secretData("api-token")["access_token"])
	st := h.get("api").Status

	fake.Fail(connecttest.Fault{Status: 503, RetryAfter: "120"})
	h.clock.SetTime(st.NextRefreshTime.Time)
	h.nudge("api")
	g.Eventually(func() int32 { return h.get("api").Status.FailedAttempts }, wait).Should(Equal(int32(1)))
	c := h.ready("api")
	g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	g.Expect(c.Message).To(ContainSubstring("refreshing failed (TokenRequestFailed)"))
	next := h.get("api").Status.NextRefreshTime.Time
	g.Expect(next.Sub(h.clock.Now())).To(BeNumerically(">=", 120*time.Second), "Retry-After honoured")
	g.Expect(string(h.secretData("api-token")["access_token"])).To(Equal(token))

	// A restart keeps the backoff: no request before the retry time.
	h.stopManager()
	h.startManager(env.Config)
	h.clock.Step(30 * time.Second)
	h.nudge("api")
	g.Consistently(h.requests, time.Second, 100*time.Millisecond).Should(Equal(2))

	// Failing until expiry: TokenExpired, the Secret still holds the last token.
	fake.Fail(connecttest.Fault{Status: 500})
	at := st.ExpirationTime.Add(time.Second)
	if next.After(at) {
		at = next
	}
	h.clock.SetTime(at)
	h.nudge("api")
	h.waitReason("api", metav1.ConditionFalse, connectv1alpha1.ReasonTokenExpired)
	g.Expect(string(h.secretData("api-token")["access_token"])).To(Equal(token))
	g.Expect(h.requests()).To(Equal(3))
}

// 2 (schedule edge cases). A missing expires_in uses --default-token-lifetime; a lifetime too
// short to refresh safely is reported as LifetimeTooShort and refreshed at most every 5 s.
func TestLifetimeEdgeCases(t *testing.T) {
	g := NewWithT(t)
	h := newHarness(t, func(o *operator.Options) { o.DefaultTokenLifetime = 7 * time.Minute })
	fake.Fail(connecttest.Fault{OmitExpiresIn: true})
	h.create(h.connectToken("default-lifetime"))
	h.waitReason("default-lifetime", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	st := h.get("default-lifetime").Status
	g.Expect(st.ExpirationTime.Sub(st.LastIssuedTime.Time)).To(Equal(7 * time.Minute))

	fake.Fail(connecttest.Fault{ExpiresIn: 8})
	h.create(h.connectToken("short"))
	h.waitReason("short", metav1.ConditionFalse, connectv1alpha1.ReasonLifetimeTooShort)
	st = h.get("short").Status
	g.Expect(st.NextRefreshTime.Sub(st.LastIssuedTime.Time)).To(Equal(5*time.Second), "never sooner than 5 s after issuance")
	before := h.requests()
	// Reconciles in the same second never request again: no hot loop.
	for range 5 {
		h.nudge("short")
	}
	g.Consistently(h.requests, time.Second, 100*time.Millisecond).Should(Equal(before))
	g.Eventually(func() []string { return eventReasons(h.events("short")) }, wait).Should(ContainElement(connectv1alpha1.ReasonLifetimeTooShort))

	// Refreshing every few seconds stays LifetimeTooShort and emits no event per refresh.
	events := len(h.events("short"))
	for i := range 3 {
		fake.Fail(connecttest.Fault{ExpiresIn: 8})
		h.clock.Step(6 * time.Second)
		h.nudge("short")
		g.Eventually(h.requests, wait).Should(Equal(before + i + 1))
	}
	h.waitReason("short", metav1.ConditionFalse, connectv1alpha1.ReasonLifetimeTooShort)
	g.Consistently(func() int { return len(h.events("short")) }, time.Second, 100*time.Millisecond).Should(Equal(events))
}
