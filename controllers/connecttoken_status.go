package controllers

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// setStatus derives the whole status from the outcome. Times are truncated to seconds.
func setStatus(ct *connectv1alpha1.ConnectToken, out *outcome, now time.Time) {
	if out.err != nil {
		return // nothing was learned; the queue retries
	}
	st := &ct.Status
	if t := out.token; t != nil {
		st.LastIssuedTime = timeRef(t.IssuedAt)
		st.ExpirationTime = timeRef(t.ExpiresAt)
		st.TokenType = t.TokenType
	}
	if out.issued != "" {
		st.GrantedScopes = slices.Clone(out.token.Scopes)
		st.TokenID, st.OrganizationID = out.claims.TokenID, out.claims.OrganizationID
		st.FailedAttempts, st.FailedRequestHash = 0, ""
		st.LastForceRefresh = ct.Annotations[connectv1alpha1.ForceRefreshAnnotation]
	}
	switch {
	case out.failure != nil:
		if st.FailedRequestHash != out.hashes.request {
			st.FailedAttempts = 0 // a change of spec or credentials starts a new streak
		}
		st.FailedAttempts++
		st.FailedRequestHash = out.hashes.request
		st.LastFailureTime = timeRef(now)
		st.NextRefreshTime = timeRef(now.Add(backoff(out.failure.rejected, st.FailedAttempts, out.failure.retryAfter, ct.UID)))
	case !out.waitUntil.IsZero():
		st.NextRefreshTime = timeRef(out.waitUntil)
		clearStaleFailure(st, out)
	case out.token != nil && out.stall == nil && !out.suspended:
		st.NextRefreshTime = timeRef(nextRefresh(ct.Spec, ct.UID, out.token.IssuedAt, out.token.lifetime()))
		clearStaleFailure(st, out)
	default:
		st.NextRefreshTime = nil
	}
	ready := readyCondition(ct, out, now)
	ready.Type = connectv1alpha1.ConditionReady
	ready.ObservedGeneration = ct.Generation
	meta.SetStatusCondition(&st.Conditions, ready)
	if out.stall == nil && out.failure == nil {
		st.ObservedGeneration = ct.Generation
	}
}

// clearStaleFailure ends a failure streak that belonged to other inputs (for example a wrong
// client secret that was since corrected) once the current inputs are served.
func clearStaleFailure(st *connectv1alpha1.ConnectTokenStatus, out *outcome) {
	if st.FailedAttempts > 0 && out.hashes.request != "" && st.FailedRequestHash != out.hashes.request {
		st.FailedAttempts, st.FailedRequestHash = 0, ""
	}
}

// readyCondition is True iff the Secret holds an unexpired token issued for the current spec.
func readyCondition(ct *connectv1alpha1.ConnectToken, out *outcome, now time.Time) metav1.Condition {
	t := out.token
	valid := t != nil && now.Before(t.ExpiresAt)
	validForSpec := valid && (out.hashes.request == "" || t.RequestHash == out.hashes.request)
	expires := func() string { return t.ExpiresAt.UTC().Format(time.RFC3339) }
	switch {
	case out.stall != nil:
		return falseCondition(out.stall.reason, out.stall.message)
	case out.suspended && valid && out.staleSpec:
		return metav1.Condition{Status: metav1.ConditionUnknown, Reason: connectv1alpha1.ReasonSuspended,
			Message: fmt.Sprintf("Suspended: the token in the Secret (valid until %s) was issued for an earlier spec", expires())}
	case out.suspended && valid:
		return trueCondition(fmt.Sprintf("Suspended: no token requests; the current token stays valid until %s", expires()))
	case out.suspended && t != nil:
		return falseCondition(connectv1alpha1.ReasonTokenExpired, fmt.Sprintf("Suspended: the token expired at %s", expires()))
	case out.suspended:
		return metav1.Condition{Status: metav1.ConditionUnknown, Reason: connectv1alpha1.ReasonSuspended,
			Message: "Suspended before a token was issued; set spec.suspend to false to issue one"}
	case out.failure == nil && t != nil && lifetimeTooShort(t.lifetime()):
		// Reported as the cause whether or not the short-lived token has expired yet, so the
		// condition (and its events) do not flip at every refresh.
		return falseCondition(connectv1alpha1.ReasonLifetimeTooShort, fmt.Sprintf(
			"The token endpoint issues tokens valid for %s, too short to refresh safely (at least %s needed); tokens are refreshed at most every %s",
			t.lifetime(), minSafeLifetime, minRequestInterval))
	case out.failure != nil && validForSpec:
		return trueCondition(fmt.Sprintf("Token valid until %s, but refreshing failed (%s): %s; next attempt at %s",
			expires(), out.failure.reason, out.failure.message, formatTime(ct.Status.NextRefreshTime)))
	case out.failure != nil && t != nil && !valid:
		return falseCondition(connectv1alpha1.ReasonTokenExpired, fmt.Sprintf("The token expired at %s and refreshing failed (%s): %s; next attempt at %s",
			expires(), out.failure.reason, out.failure.message, formatTime(ct.Status.NextRefreshTime)))
	case out.failure != nil:
		return falseCondition(out.failure.reason, fmt.Sprintf("%s; next attempt at %s", out.failure.message, formatTime(ct.Status.NextRefreshTime)))
	case !out.waitUntil.IsZero() && validForSpec:
		return trueCondition(fmt.Sprintf("Token valid until %s; a new token will be requested at %s", expires(), out.waitUntil.UTC().Format(time.RFC3339)))
	case !out.waitUntil.IsZero() && t != nil && !valid:
		return falseCondition(connectv1alpha1.ReasonTokenExpired, fmt.Sprintf("The token expired at %s; a new token will be requested at %s",
			expires(), out.waitUntil.UTC().Format(time.RFC3339)))
	case !out.waitUntil.IsZero():
		return waitingCondition(ct, out.waitUntil)
	case valid:
		return trueCondition(fmt.Sprintf("Token valid until %s; next refresh at %s", expires(), formatTime(ct.Status.NextRefreshTime)))
	case t != nil:
		return falseCondition(connectv1alpha1.ReasonTokenExpired, fmt.Sprintf("The token expired at %s", expires()))
	default:
		return metav1.Condition{Status: metav1.ConditionUnknown, Reason: connectv1alpha1.ReasonIssuing, Message: "Requesting the first token"}
	}
}

// waitingCondition: a needed request is held back by a backoff or the minimum request interval
// and no token exists for the current spec. A failure streak keeps its reason and message.
func waitingCondition(ct *connectv1alpha1.ConnectToken, until time.Time) metav1.Condition {
	if prev := meta.FindStatusCondition(ct.Status.Conditions, connectv1alpha1.ConditionReady); prev != nil && ct.Status.FailedAttempts > 0 &&
		prev.Status == metav1.ConditionFalse {
		return falseCondition(prev.Reason, prev.Message)
	}
	return metav1.Condition{Status: metav1.ConditionUnknown, Reason: connectv1alpha1.ReasonIssuing,
		Message: fmt.Sprintf("A new token will be requested at %s", until.UTC().Format(time.RFC3339))}
}

func trueCondition(msg string) metav1.Condition {
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: connectv1alpha1.ReasonTokenIssued, Message: msg}
}

func falseCondition(reason, msg string) metav1.Condition {
	return metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: msg}
}

func timeRef(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

func formatTime(t *metav1.Time) string {
	if t == nil {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}
