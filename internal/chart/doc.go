// Package chart holds the tests of the Helm chart in dist/chart. They render the chart with the
// helm CLI built from the pinned side module hack/helm (bin/helm, or $HELM), parse the manifests
// into k8s.io/api types and check them against the kustomize bases in config/: the CRD and the
// manager's RBAC rules are copies of the generated files, the Deployment keeps the hardened
// security context, and every manager flag of cmd/main.go is reachable from values.
//
// Without helm the tests skip, except under CI (CI set), where they fail. Build helm with
// hack/helm/build.sh; hack/helm/test.sh lints the chart and runs these tests.
package chart
