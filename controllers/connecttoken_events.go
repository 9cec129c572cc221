package controllers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

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

// recordEvents emits the events of this reconcile, before the status is updated, comparing
// with the status as it was: failures once per streak, stalls once per change of reason.
func (r *ConnectTokenReconciler) recordEvents(ct *connectv1alpha1.ConnectToken, out *outcome) {
	if out.err != nil {
		return
	}
	prevReason := ""
	if c := meta.FindStatusCondition(ct.Status.Conditions, connectv1alpha1.ConditionReady); c != nil {
		prevReason = c.Reason
	}
	warn := func(reason, msg string) {
		r.Recorder.Eventf(ct, nil, corev1.EventTypeWarning, reason, "Reconcile", "%s", msg)
	}
	normal := func(reason, msg string) {
		r.Recorder.Eventf(ct, nil, corev1.EventTypeNormal, reason, "IssueToken", "%s", msg)
	}
	switch {
	case out.stall != nil:
		if prevReason != out.stall.reason {
			warn(out.stall.reason, out.stall.message)
		}
	case out.failure != nil:
		if ct.Status.FailedAttempts == 0 || ct.Status.FailedRequestHash != out.hashes.request {
			warn(out.failure.reason, out.failure.message)
		}
	case out.issued != "":
		expires := "; expires at " + out.token.ExpiresAt.UTC().Format(time.RFC3339)
		switch out.issued {
		case whyFirstIssue:
			normal(EventTokenIssued, "Issued the first token into Secret "+ct.Spec.Target.Name+expires)
		case whyRestore:
			normal(EventSecretRestored, "Secret "+ct.Spec.Target.Name+" was missing or edited; restored it with a new token"+expires)
		case whyRequestChanged:
			normal(EventTokenReissued, "Re-issued the token after a change of spec or credentials"+expires)
		case whyForceRefresh:
			normal(EventForceRefreshed, "Refreshed the token as requested by the "+connectv1alpha1.ForceRefreshAnnotation+" annotation"+expires)
		case whyScheduleRefresh:
			if ct.Status.FailedAttempts > 0 {
				normal(EventRecovered, "Token refreshed after failed attempts"+expires)
			}
		}
	}
	if out.token != nil && out.stall == nil && out.failure == nil && out.issued == "" && prevReason != connectv1alpha1.ReasonTokenExpired &&
		!r.Clock.Now().Before(out.token.ExpiresAt) {
		warn(connectv1alpha1.ReasonTokenExpired, "The token in Secret "+ct.Spec.Target.Name+" expired at "+out.token.ExpiresAt.UTC().Format(time.RFC3339))
	}
}
