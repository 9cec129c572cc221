package controllers_test

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/operator"
)

// Two managers with --leader-elect: only the leader requests tokens; when it dies (its Lease is
// not released, as with SIGKILL) the standby takes over within the lease duration and, with
// valid tokens, makes no token request.
func TestLeaderElectionFailoverWithoutTokenRequests(t *testing.T) {
	g := NewWithT(t)
	const lease = 4 * time.Second
	var ns string
	elect := func(o *operator.Options) {
		o.LeaderElection = true
		o.LeaderElectionID = "connect-token-operator-test"
		o.LeaderElectionNamespace = ns
		o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = lease, 3*time.Second, 500*time.Millisecond
		o.KeepLeaseOnStop = true
	}
	leader := newHarness(t, func(o *operator.Options) { ns = o.WatchNamespaces[0]; elect(o) })
	g.Eventually(leader.lastManager.Elected(), 2*lease).Should(BeClosed())

	// The standby shares namespace, clock and client; it runs but is not elected.
	standby := &harness{t: t, ns: leader.ns, clientID: leader.clientID, secret: leader.secret, clock: leader.clock}
	standby.startManager(env.Config, elect)
	g.Consistently(standby.lastManager.Elected(), time.Second).ShouldNot(BeClosed())

	leader.create(leader.connectToken("api"))
	leader.waitReason("api", metav1.ConditionTrue, connectv1alpha1.ReasonTokenIssued)
	g.Expect(leader.requests()).To(Equal(1))
	secretRV := leader.targetSecret("api-token").ResourceVersion

	killed := time.Now()
	leader.stopManager()
	g.Eventually(standby.lastManager.Elected(), lease+5*time.Second).Should(BeClosed())
	t.Logf("standby took over %s after the leader stopped (lease duration %s)", time.Since(killed).Round(100*time.Millisecond), lease)
	standby.nudge("api") // the new leader reconciles it for certain
	g.Consistently(standby.requests, 2*time.Second, 100*time.Millisecond).Should(Equal(1))
	g.Expect(standby.targetSecret("api-token").ResourceVersion).To(Equal(secretRV))
	g.Expect(standby.ready("api").Status).To(Equal(metav1.ConditionTrue))
}
