package controllers

import (
	"time"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// Why a token is requested. They name events and log lines; a routine refresh emits no event.
const (
	whyFirstIssue      = "FirstIssue"
	whyRestore         = "SecretRestored"
	whyRequestChanged  = "RequestChanged"
	whyForceRefresh    = "ForceRefresh"
	whyScheduleRefresh = "RefreshDue"
)

// tokenInput is everything the decision needs; pure data, so the policies are table-tested.
type tokenInput struct {
	ct          *connectv1alpha1.ConnectToken
	current     *tokenState // the token in the target Secret; nil when absent or edited
	requestHash string      // digest of the current request inputs
	now         time.Time
}

// tokenPolicy says whether a token must be requested, and why.
type tokenPolicy func(in tokenInput) (why string, needed bool)

// tokenPolicies are checked in order; the first that asks for a token wins.
var tokenPolicies = []tokenPolicy{
	noToken,
	requestChanged,
	forceRefreshRequested,
	refreshDue,
}

// needsToken runs the policy chain.
func needsToken(in tokenInput) (why string, needed bool) {
	for _, p := range tokenPolicies {
		if why, needed := p(in); needed {
			return why, true
		}
	}
	return "", false
}

// noToken: there is no usable token in the Secret (never issued, deleted or edited).
func noToken(in tokenInput) (string, bool) {
	if in.current != nil {
		return "", false
	}
	if in.ct.Status.LastIssuedTime != nil {
		return whyRestore, true
	}
	return whyFirstIssue, true
}

// requestChanged: the token was issued for other inputs (scopes, URL, credentials, …).
func requestChanged(in tokenInput) (string, bool) {
	return whyRequestChanged, in.current.RequestHash != in.requestHash
}

// forceRefreshRequested: the force-refresh annotation carries a value not handled yet.
func forceRefreshRequested(in tokenInput) (string, bool) {
	v := in.ct.Annotations[connectv1alpha1.ForceRefreshAnnotation]
	return whyForceRefresh, v != "" && v != in.ct.Status.LastForceRefresh && v != in.current.ForceRefresh
}

// refreshDue: the scheduled refresh time has come.
func refreshDue(in tokenInput) (string, bool) {
	at := nextRefresh(in.ct.Spec, in.ct.UID, in.current.IssuedAt, in.current.lifetime())
	return whyScheduleRefresh, !in.now.Before(at)
}

// requestGate is the earliest time a needed token request may be sent: after the backoff of a
// failure streak for these same inputs, and never sooner than minRequestInterval after the last
// issuance (by the status or, fresher, by the token in the Secret). The zero time means now.
func requestGate(ct *connectv1alpha1.ConnectToken, current *tokenState, requestHash string, now time.Time) time.Time {
	var gate time.Time
	st := ct.Status
	if st.FailedAttempts > 0 && st.FailedRequestHash == requestHash && st.NextRefreshTime != nil {
		gate = st.NextRefreshTime.Time
	}
	var last time.Time
	if st.LastIssuedTime != nil {
		last = st.LastIssuedTime.Time
	}
	if current != nil && current.IssuedAt.After(last) {
		last = current.IssuedAt
	}
	if !last.IsZero() {
		if earliest := last.Add(minRequestInterval); earliest.After(gate) {
			gate = earliest
		}
	}
	if !gate.After(now) {
		return time.Time{}
	}
	return gate
}
