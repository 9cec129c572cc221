package controllers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// Event reasons besides the condition reasons. A routine scheduled refresh emits no event:
// 2 000 tokens refreshed every few minutes would write 40 000 events an hour into etcd.
const (
	EventTokenIssued    = "TokenIssued"
	EventTokenReissued  = "TokenReissued"
	EventForceRefreshed = "ForceRefreshed"
	EventSecretRestored = "SecretRestored"
	EventRecovered      = "Recovered"
)

// recordEvents emits the events of this reconcile, after the status was computed: failures
// once per streak, a Ready=False reason once when it is entered, issuances by why.
func (r *ConnectTokenReconciler) recordEvents(ct *connectv1alpha1.ConnectToken, out *outcome, prev *metav1.Condition, prevFailed int32) {
	if out.err != nil {
		return
	}
	warn := func(reason, msg string) {
		r.Recorder.Eventf(ct, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
	}
	normal := func(reason, msg string) {
		r.Recorder.Eventf(ct, nil, corev1.EventTypeNormal, reason, "IssueToken", "%s", msg)
	}
	if out.failure != nil && ct.Status.FailedAttempts == 1 {
		warn(out.failure.reason, out.failure.message)
	}
	if out.issued != "" {
		expires := "; expires at " + out.token.ExpiresAt.UTC().Format(time.RFC3339)
		switch {
		case prevFailed > 0:
			normal(EventRecovered, fmt.Sprintf("Token issued after %d failed attempts%s", prevFailed, expires))
		case prev != nil && prev.Status == metav1.ConditionFalse && readyTrue(ct):
			normal(EventRecovered, "Token issued after "+prev.Reason+expires)
		case out.issued == whyFirstIssue:
			normal(EventTokenIssued, "Issued the first token into Secret "+ct.Spec.Target.Name+expires)
		case out.issued == whyRestore:
			normal(EventSecretRestored, "Secret "+ct.Spec.Target.Name+" was missing or edited; restored it with a new token"+expires)
		case out.issued == whyRequestChanged:
			normal(EventTokenReissued, "Re-issued the token after a change of spec or credentials"+expires)
		case out.issued == whyForceRefresh:
			normal(EventForceRefreshed, "Refreshed the token as requested by the "+connectv1alpha1.ForceRefreshAnnotation+" annotation"+expires)
		}
	}
	now := meta.FindStatusCondition(ct.Status.Conditions, connectv1alpha1.ConditionReady)
	if out.issued == "" && now != nil && now.Status == metav1.ConditionTrue && prev != nil && prev.Status == metav1.ConditionFalse {
		normal(EventRecovered, "Ready again after "+prev.Reason+": "+now.Message)
	}
	entered := now != nil && now.Status == metav1.ConditionFalse && (prev == nil || prev.Reason != now.Reason)
	if entered && (out.failure == nil || now.Reason != out.failure.reason) {
		warn(now.Reason, now.Message)
	}
}

func readyTrue(ct *connectv1alpha1.ConnectToken) bool {
	return meta.IsStatusConditionTrue(ct.Status.Conditions, connectv1alpha1.ConditionReady)
}
