package controllers

import (
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/connect"
)

// outcome is what one reconcile found and did. It is the single place each kind of problem
// maps to its consequence: stalled (the user must act; no requeue but at expiry), waiting
// (a gate or backoff; requeue then), transient API error (returned; the queue backs off).
type outcome struct {
	token     *tokenState // the token now in the Secret (new or existing); nil when none
	previous  *tokenState // the token before this reconcile's request
	hashes    hashes
	issued    string // why a token was issued in this reconcile; "" when none was
	claims    connect.Claims
	suspended bool
	staleSpec bool // suspended with a token issued for an earlier spec

	secretWritten bool
	waitUntil     time.Time  // a needed request is gated until then
	failure       *failure   // the token request failed
	stall         *condition // the user must act
	err           error      // an API error: returned so the work queue retries
}

// failure is a classified failed token request.
type failure struct {
	reason     string // ReasonTokenRequestRejected or ReasonTokenRequestFailed
	message    string
	rejected   bool
	retryAfter time.Duration
}

type condition struct {
	reason, message string
}

func stalled(token *tokenState, reason, format string, args ...any) *outcome {
	return &outcome{token: token, stall: &condition{reason: reason, message: fmt.Sprintf(format, args...)}}
}

func (o *outcome) previousOrCurrent() *tokenState {
	if o.issued != "" {
		return o.previous
	}
	return o.token
}

// failureFrom classifies a token client error; its message is already free of secrets.
func failureFrom(err error) *failure {
	var ce *connect.Error
	if errors.As(err, &ce) && ce.Kind == connect.KindRejected {
		return &failure{reason: connectv1alpha1.ReasonTokenRequestRejected, message: err.Error(), rejected: true, retryAfter: ce.RetryAfter}
	}
	f := &failure{reason: connectv1alpha1.ReasonTokenRequestFailed, message: err.Error()}
	if ce != nil {
		f.retryAfter = ce.RetryAfter
	}
	return f
}

// result turns the outcome into the requeue: never later than the token's expiry, so Ready
// turns False (TokenExpired) on time when refreshing keeps failing.
func (o *outcome) result(now time.Time, next *time.Time) (ctrl.Result, error) {
	if o.err != nil {
		return ctrl.Result{}, o.err
	}
	var at time.Time
	if next != nil && !o.suspended && o.stall == nil {
		at = *next
	}
	if o.token != nil && o.token.ExpiresAt.After(now) && (at.IsZero() || o.token.ExpiresAt.Before(at)) {
		at = o.token.ExpiresAt
	}
	if at.IsZero() {
		return ctrl.Result{}, nil
	}
	d := at.Sub(now)
	if d < time.Second {
		d = time.Second
	}
	return ctrl.Result{RequeueAfter: d}, nil
}
