package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// CredentialsSecretNameIndex indexes ConnectTokens by spec.credentialsSecretRef.name, so a
// change of a credentials Secret finds the ConnectTokens that use it.
const CredentialsSecretNameIndex = "spec.credentialsSecretRef.name"

// IndexCredentialsSecretName registers CredentialsSecretNameIndex.
func IndexCredentialsSecretName(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &connectv1alpha1.ConnectToken{}, CredentialsSecretNameIndex, func(o client.Object) []string {
		return []string{o.(*connectv1alpha1.ConnectToken).Spec.CredentialsSecretRef.Name}
	})
}

// connectTokensForSecret maps a Secret (metadata only) to the ConnectTokens concerned: its
// controlling ConnectToken, and every ConnectToken of its namespace that reads it as credentials.
func (r *ConnectTokenReconciler) connectTokensForSecret(ctx context.Context, s client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, ref := range s.GetOwnerReferences() {
		if ref.Controller != nil && *ref.Controller && ref.Kind == "ConnectToken" &&
			ref.APIVersion == connectv1alpha1.GroupVersion.String() {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.GetNamespace(), Name: ref.Name}})
		}
	}
	var list connectv1alpha1.ConnectTokenList
	if err := r.List(ctx, &list, client.InNamespace(s.GetNamespace()),
		client.MatchingFields{CredentialsSecretNameIndex: s.GetName()}); err == nil {
		for i := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}
