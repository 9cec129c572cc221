// Package v1alpha1 contains the ConnectToken API of the connect.tokenop.dev group.
// +kubebuilder:object:generate=true
// +groupName=connect.tokenop.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "connect.tokenop.dev", Version: "v1alpha1"}

	// SchemeBuilder adds the Go types to a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the ConnectToken types; the API package depends only on apimachinery.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ConnectToken{}, &ConnectTokenList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
