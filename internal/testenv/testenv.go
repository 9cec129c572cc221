// Package testenv starts a real kube-apiserver and etcd (controller-runtime envtest) with the
// ConnectToken CRD installed, from the binaries `make envtest` builds from Go modules.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	connectv1alpha1 "github.com/tokenop/connect-token-operator/api/v1alpha1"
)

// K8sVersion is the Kubernetes release hack/envtest builds.
const K8sVersion = "1.37.2"

// Root is the repository root, found from this file's location so tests in any package agree.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir is where the control-plane binaries are: KUBEBUILDER_ASSETS when set, else bin/k8s.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(Root(), "bin", "k8s", fmt.Sprintf("%s-%s-%s", K8sVersion, runtime.GOOS, runtime.GOARCH))
}

// Scheme holds the built-in types and the ConnectToken API.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	must(clientgoscheme.AddToScheme(s))
	must(connectv1alpha1.AddToScheme(s))
	return s
}

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	// Client is an admin client with Scheme().
	Client client.Client
}

// Start starts etcd and kube-apiserver and installs the CRDs of config/crd/bases.
func Start() (*Env, error) {
	assets := AssetsDir()
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("control-plane binaries not found in %s: run 'make envtest' first (or set KUBEBUILDER_ASSETS)", assets)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(Root(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                Scheme(),
	}
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop() // a half-started control plane (e.g. a CRD refused) must not outlive us
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Environment: env, Config: cfg, Client: c}, nil
}

// GVK is the ConnectToken GroupVersionKind, for unstructured objects in tests.
var GVK = schema.GroupVersionKind{Group: connectv1alpha1.GroupVersion.Group, Version: connectv1alpha1.GroupVersion.Version, Kind: "ConnectToken"}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// MustStart starts the control plane for a TestMain, or exits with the reason.
func MustStart() *Env {
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return env
}
