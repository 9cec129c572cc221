package controllers

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// CredentialsSecretNameIndex indexes ConnectTokens by spec.credentialsSecretRef.name, so a
// change of a credentials Secret finds the ConnectTokens that use it.
const CredentialsSecretNameIndex = "spec.credentialsSecretRef.name"

// TargetSecretNameIndex indexes ConnectTokens by spec.target.name, so the deletion of a Secret
// that blocked a ConnectToken (SecretConflict) lets it issue at once.
const TargetSecretNameIndex = "spec.target.name"

// IndexSecretNames registers CredentialsSecretNameIndex and TargetSecretNameIndex.
func IndexSecretNames(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &connectv1alpha1.ConnectToken{}, CredentialsSecretNameIndex, func(o client.Object) []string {
		return []string{o.(*connectv1alpha1.ConnectToken).Spec.CredentialsSecretRef.Name}
	}); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &connectv1alpha1.ConnectToken{}, TargetSecretNameIndex, func(o client.Object) []string {
		return []string{o.(*connectv1alpha1.ConnectToken).Spec.Target.Name}
	})
}

// notOwnWrite drops the watch event that merely echoes the operator's own write of a target
// Secret (its resourceVersion is the one the apply returned): reconciling again would only
// re-read what was just written. Deletions, and changes by anyone else, always pass.
func (r *ConnectTokenReconciler) notOwnWrite(e event.CreateEvent) bool {
	return !r.isOwnWrite(e.Object)
}

func (r *ConnectTokenReconciler) notOwnWriteUpdate(e event.UpdateEvent) bool {
	return !r.isOwnWrite(e.ObjectNew)
}

func (r *ConnectTokenReconciler) isOwnWrite(s client.Object) bool {
	ref := metav1.GetControllerOf(s)
	if ref == nil || ref.Kind != "ConnectToken" || ref.APIVersion != connectv1alpha1.GroupVersion.String() {
		return false
	}
	written, ok := r.writes.Load(types.NamespacedName{Namespace: s.GetNamespace(), Name: ref.Name})
	return ok && written == s.GetResourceVersion()
}

// connectTokensForSecret maps a Secret (metadata only) to the ConnectTokens concerned: its
// controlling ConnectToken, and every ConnectToken of its namespace that reads it as credentials
// or names it as target (one blocked by SecretConflict).
func (r *ConnectTokenReconciler) connectTokensForSecret(ctx context.Context, s client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, ref := range s.GetOwnerReferences() {
		if ref.Controller != nil && *ref.Controller && ref.Kind == "ConnectToken" &&
			ref.APIVersion == connectv1alpha1.GroupVersion.String() {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.GetNamespace(), Name: ref.Name}})
		}
	}
	for _, index := range []string{CredentialsSecretNameIndex, TargetSecretNameIndex} {
		var list connectv1alpha1.ConnectTokenList
		if err := r.List(ctx, &list, client.InNamespace(s.GetNamespace()), client.MatchingFields{index: s.GetName()}); err == nil {
			for i := range list.Items {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
			}
		}
	}
	return reqs
}
