// Package controllers holds the ConnectToken reconciler: it keeps a fresh OAuth client
// credentials token in each ConnectToken's target Secret.
package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
	"github.com/tokenop/connect-token-operator/internal/connect"
)

// TokenRequester performs the client credentials grant; *connect.Client implements it.
type TokenRequester interface {
	// Token requests a token; errors are *connect.Error, classified.
	Token(ctx context.Context, r connect.Request) (*connect.Token, error)
	// CheckURL applies the token URL policy without sending anything.
	CheckURL(tokenURL string) error
}

// ConnectTokenReconciler reconciles ConnectTokens into target Secrets.
type ConnectTokenReconciler struct {
	// Client reads ConnectTokens and Secret metadata from the manager's cache and writes.
	client.Client
	// APIReader reads uncached: credentials values, and target Secrets the caches lag behind on.
	APIReader client.Reader
	// Secrets reads the operator's own target Secrets from a cache filtered on the managed-by label.
	Secrets client.Reader
	// Tokens requests tokens.
	Tokens TokenRequester
	// Clock is the only source of time of the reconciler.
	Clock clock.PassiveClock
	// Recorder emits events on ConnectTokens.
	Recorder events.EventRecorder
	// DefaultTokenLifetime applies when the server sends no (or a zero) expires_in.
	DefaultTokenLifetime time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles (default 4).
	MaxConcurrentReconciles int

	// writes remembers the resourceVersion of each target Secret we last wrote, so a reconcile
	// that runs before the caches have seen our write reads the API server instead of issuing
	// a second token. It decides where to read from, never what the state is.
	writes sync.Map // types.NamespacedName (ConnectToken) → string
	// seen remembers the resourceVersion of each ConnectToken as of our last reconcile (after its
	// status patch), so a reconcile that runs before the cache has our status patch reads the API
	// server instead of patching from a stale status.
	seen sync.Map // types.NamespacedName → string
}

// +kubebuilder:rbac:groups=connect.tokenop.dev,resources=connecttokens,verbs=get;list;watch
// +kubebuilder:rbac:groups=connect.tokenop.dev,resources=connecttokens/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile gathers the ConnectToken's Secrets, decides whether a token is needed, acts (at
// most one token request and one Secret apply), and writes the status once.
func (r *ConnectTokenReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ct := &connectv1alpha1.ConnectToken{}
	if err := r.Get(ctx, req.NamespacedName, ct); err != nil {
		if apierrors.IsNotFound(err) {
			r.writes.Delete(req.NamespacedName)
			r.seen.Delete(req.NamespacedName)
			forgetMetrics(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rv, ok := r.seen.Load(req.NamespacedName); ok && rv != ct.ResourceVersion {
		// The cache lags behind our own status patch, or holds someone's newer change: read it fresh.
		if err := r.APIReader.Get(ctx, req.NamespacedName, ct); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if !ct.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // garbage collection removes the Secret through its ownerReference
	}
	base := ct.DeepCopy()
	now := r.Clock.Now()

	out := r.act(ctx, ct, now)
	setStatus(ct, out, now)
	r.recordEvents(ct, out, meta.FindStatusCondition(base.Status.Conditions, connectv1alpha1.ConditionReady), base.Status.FailedAttempts)

	observeStatus(ct)
	if !equality.Semantic.DeepEqual(base.Status, ct.Status) {
		if err := r.Status().Patch(ctx, ct, client.MergeFrom(base)); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	r.seen.Store(req.NamespacedName, ct.ResourceVersion)
	var next *time.Time
	if ct.Status.NextRefreshTime != nil {
		next = &ct.Status.NextRefreshTime.Time
	}
	return out.result(now, next)
}

// act runs the steps in order; the first that cannot go on says why in the outcome.
func (r *ConnectTokenReconciler) act(ctx context.Context, ct *connectv1alpha1.ConnectToken, now time.Time) *outcome {
	target, foreign, err := r.targetSecret(ctx, ct)
	if err != nil {
		return &outcome{err: err}
	}
	if foreign {
		return stalled(nil, connectv1alpha1.ReasonSecretConflict,
			"Secret %q exists and is not controlled by this ConnectToken; delete it or choose another spec.target.name", ct.Spec.Target.Name)
	}
	out := &outcome{token: tokenFromSecret(target, ct.Status.GrantedScopes)}
	if ct.Spec.Suspend {
		out.suspended = true
		out.staleSpec = out.token != nil && out.token.SpecHash != specHash(ct.Spec)
		return out
	}
	if err := checkTemplates(ct.Spec); err != nil {
		return stalled(out.token, connectv1alpha1.ReasonTemplateInvalid, "spec.target.template.data: %s", err.Error())
	}
	if err := r.Tokens.CheckURL(tokenURL(ct.Spec)); err != nil {
		return stalled(out.token, connectv1alpha1.ReasonTokenURLNotAllowed, "%s", err.Error())
	}
	creds, stall := r.credentials(ctx, ct, out.token)
	if stall != nil {
		return stall
	}
	out.hashes = creds.hashes
	why, needed := needsToken(tokenInput{ct: ct, current: out.token, requestHash: creds.hashes.request, now: now})
	if needed {
		if gate := requestGate(ct, out.token, creds.hashes.request, now); !gate.IsZero() {
			out.waitUntil = gate
			return out
		}
		if out = r.requestToken(ctx, ct, creds, out, why); out.failure != nil || out.stall != nil {
			return out
		}
	}
	return r.applySecret(ctx, ct, target, out)
}

// requestToken makes the one token request of this reconcile.
func (r *ConnectTokenReconciler) requestToken(ctx context.Context, ct *connectv1alpha1.ConnectToken, creds *credentials,
	out *outcome, why string) *outcome {
	if stall := r.readCredentialValues(ctx, ct, creds); stall != nil {
		stall.token = out.token
		return stall
	}
	out.hashes = creds.hashes // the values just read are the truth, whatever the cache said
	tok, err := r.Tokens.Token(ctx, connect.Request{
		TokenURL:             tokenURL(ct.Spec),
		ClientID:             creds.clientID,
		ClientSecret:         creds.clientSecret,
		Scopes:               ct.Spec.Scopes,
		AuthMethod:           authMethod(ct.Spec),
		AdditionalParameters: ct.Spec.AdditionalParameters,
		CABundle:             []byte(ct.Spec.CABundle),
	})
	if err != nil {
		out.failure = failureFrom(err)
		return out
	}
	out.previous = out.token
	out.token = tokenFromResponse(tok, r.DefaultTokenLifetime, creds.hashes, creds.version, ct.Annotations[connectv1alpha1.ForceRefreshAnnotation])
	out.issued = why
	out.claims = tok.Claims
	ctrl.LoggerFrom(ctx).Info("Issued token", "secret", ct.Spec.Target.Name, "reason", why,
		"expiresAt", out.token.ExpiresAt.Format(time.RFC3339))
	return out
}

// applySecret writes the target Secret when it differs from what the token and spec want.
func (r *ConnectTokenReconciler) applySecret(ctx context.Context, ct *connectv1alpha1.ConnectToken, target *corev1.Secret,
	out *outcome) *outcome {
	desired, err := desiredSecret(ct, out.token)
	if err != nil {
		return stalled(out.previousOrCurrent(), connectv1alpha1.ReasonTemplateInvalid, "spec.target.template.data: %s", err.Error())
	}
	if secretMatches(target, desired) {
		return out
	}
	if err := r.Apply(ctx, desired, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		if out.issued == "" {
			return &outcome{err: err}
		}
		// The new token could not be stored: count it as a failed attempt so the backoff, not the
		// work queue, paces the next request. The API error's reason is enough; its text may quote values.
		out.failure = &failure{reason: connectv1alpha1.ReasonTokenRequestFailed,
			message: "token issued but the Secret could not be written: " + string(apierrors.ReasonForError(err))}
		out.token, out.issued = out.previous, ""
		return out
	}
	if desired.ResourceVersion != nil { // Apply decodes the written object into desired
		r.writes.Store(client.ObjectKeyFromObject(ct), *desired.ResourceVersion)
	}
	out.secretWritten = true
	return out
}

// SetupWithManager wires the watches: ConnectTokens (spec, labels, annotations), and Secrets as
// metadata only: a change of an owned target Secret or of a referenced credentials Secret
// enqueues the ConnectTokens concerned.
func (r *ConnectTokenReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil || r.APIReader == nil || r.Secrets == nil || r.Tokens == nil || r.Clock == nil || r.Recorder == nil {
		return errors.New("ConnectTokenReconciler needs Client, APIReader, Secrets, Tokens, Clock and Recorder")
	}
	if r.DefaultTokenLifetime <= 0 {
		return errors.New("ConnectTokenReconciler needs a positive DefaultTokenLifetime")
	}
	if err := IndexSecretNames(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	concurrency := r.MaxConcurrentReconciles
	if concurrency <= 0 {
		concurrency = 4
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&connectv1alpha1.ConnectToken{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.connectTokensForSecret),
			builder.WithPredicates(predicate.Funcs{CreateFunc: r.notOwnWrite, UpdateFunc: r.notOwnWriteUpdate})).
		WithOptions(controller.Options{MaxConcurrentReconciles: concurrency}).
		Named("connecttoken").
		Complete(r)
}
