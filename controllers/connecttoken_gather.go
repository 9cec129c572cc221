package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// secretMetadata is an empty metadata-only Secret, read from the manager's metadata cache.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// targetSecret returns the target Secret when this ConnectToken controls it (nil when absent),
// or foreign=true when a Secret of that name belongs to someone else. It reads the caches, and
// the API server only when they have not yet seen our last write or the Secret left the
// label-filtered cache.
func (r *ConnectTokenReconciler) targetSecret(ctx context.Context, ct *connectv1alpha1.ConnectToken) (*corev1.Secret, bool, error) {
	key := client.ObjectKey{Namespace: ct.Namespace, Name: ct.Spec.Target.Name}
	meta := secretMetadata()
	err := r.Get(ctx, key, meta)
	if client.IgnoreNotFound(err) != nil {
		return nil, false, err
	}
	written, wrote := r.writes.Load(client.ObjectKeyFromObject(ct))
	if err == nil && !ownedBy(meta.OwnerReferences, ct.UID) {
		return nil, true, nil
	}
	// A cache miss is confirmed with the API server before anything is written: a Secret created
	// a moment ago by someone else must never be taken over.
	s := &corev1.Secret{}
	if err == nil && (!wrote || written == meta.ResourceVersion) {
		if err := r.Secrets.Get(ctx, key, s); err == nil && s.ResourceVersion == meta.ResourceVersion {
			return s, false, nil
		}
	}
	if err := r.APIReader.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			r.writes.Delete(client.ObjectKeyFromObject(ct))
			return nil, false, nil
		}
		return nil, false, err
	}
	if !ownedBy(s.OwnerReferences, ct.UID) {
		return nil, true, nil
	}
	r.writes.Store(client.ObjectKeyFromObject(ct), s.ResourceVersion)
	return s, false, nil
}

// credentials are the client credentials of one reconcile. Their values are read (uncached,
// from the ConnectToken's own namespace only) just when they are needed: a restart with an
// unchanged credentials Secret verifies the request hash from its resourceVersion alone.
type credentials struct {
	version      string
	hashes       hashes
	read         bool
	clientID     string
	clientSecret string
}

// credentials resolves the request hash, reading the credentials' values only when the token's
// recorded spec digest or credentials version differ from the current ones.
func (r *ConnectTokenReconciler) credentials(ctx context.Context, ct *connectv1alpha1.ConnectToken, current *tokenState) (*credentials, *outcome) {
	meta := secretMetadata()
	key := client.ObjectKey{Namespace: ct.Namespace, Name: ct.Spec.CredentialsSecretRef.Name}
	if err := r.Get(ctx, key, meta); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, credentialsNotFound(ct, current)
		}
		return nil, &outcome{err: err}
	}
	c := &credentials{version: meta.ResourceVersion}
	spec := specHash(ct.Spec)
	if current != nil && current.SpecHash == spec && current.CredentialsVersion == c.version && current.RequestHash != "" {
		c.hashes = hashes{spec: spec, request: current.RequestHash}
		return c, nil
	}
	if stall := r.readCredentialValues(ctx, ct, c); stall != nil {
		stall.token = current
		return nil, stall
	}
	return c, nil
}

// readCredentialValues reads the client id and secret once per reconcile.
func (r *ConnectTokenReconciler) readCredentialValues(ctx context.Context, ct *connectv1alpha1.ConnectToken, c *credentials) *outcome {
	if c.read {
		return nil
	}
	s := &corev1.Secret{}
	key := client.ObjectKey{Namespace: ct.Namespace, Name: ct.Spec.CredentialsSecretRef.Name}
	if err := r.APIReader.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return credentialsNotFound(ct, nil)
		}
		return &outcome{err: err}
	}
	idKey, secretKey := clientIDKey(ct.Spec), clientSecretKey(ct.Spec)
	for _, k := range []string{idKey, secretKey} {
		if len(s.Data[k]) == 0 {
			return stalled(nil, connectv1alpha1.ReasonCredentialsInvalid,
				"Secret %q has no non-empty key %q (keys %q and %q are expected)", key.Name, k, idKey, secretKey)
		}
	}
	c.read, c.version = true, s.ResourceVersion
	c.clientID, c.clientSecret = string(s.Data[idKey]), string(s.Data[secretKey])
	c.hashes = requestHashes(ct.Spec, c.clientID, c.clientSecret)
	return nil
}

func credentialsNotFound(ct *connectv1alpha1.ConnectToken, current *tokenState) *outcome {
	return stalled(current, connectv1alpha1.ReasonCredentialsNotFound,
		"Secret %q with the client credentials was not found in namespace %q", ct.Spec.CredentialsSecretRef.Name, ct.Namespace)
}
