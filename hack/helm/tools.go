//go:build tools

// Package tools pins the helm command this side module builds (hack/helm/build.sh).
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
