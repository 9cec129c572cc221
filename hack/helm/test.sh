#!/usr/bin/env bash
# Lints and renders the Helm chart in dist/chart with the pinned helm (built into bin/helm when
# missing), then runs the chart's Go tests (internal/chart), which render it again with many value
# sets and compare it with config/. Set KEEP_RENDERED=1 to keep the rendered manifests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"

# $HELM when set; otherwise bin/helm, built (or rebuilt after a version change) from hack/helm.
if [ -z "${HELM:-}" ]; then
  HELM="$repo/bin/helm"
  start=$(date +%s)
  "$here/build.sh" "$HELM" >/dev/null
  echo "helm ready in $(( $(date +%s) - start ))s"
fi
export HELM
"$HELM" version --short

out=$(mktemp -d)
trap '[ -n "${KEEP_RENDERED:-}" ] || rm -rf "$out"' EXIT
# Keep helm's cache, config and data out of the user's home.
export HELM_CACHE_HOME="$out/.helm/cache" HELM_CONFIG_HOME="$out/.helm/config" HELM_DATA_HOME="$out/.helm/data"

chart=dist/chart
echo "--- helm lint"
"$HELM" lint "$chart"
echo "--- helm lint --strict"
"$HELM" lint --strict "$chart"
"$HELM" lint --strict "$chart" --set rbac.namespaced=true --set 'watchNamespaces={team-a,team-b}'

render() { # name helm-template-args...
  local name=$1; shift
  "$HELM" template tokens "$chart" --namespace ops "$@" >"$out/$name.yaml"
  echo "rendered $name: $(grep -c '^kind:' "$out/$name.yaml") objects"
}
echo "--- helm template"
render defaults --include-crds
render namespaced --set rbac.namespaced=true --set 'watchNamespaces={team-a,team-b}'
render monitoring --set metrics.serviceMonitor.enabled=true --set prometheus.rules.enabled=true \
  --set networkPolicy.enabled=true --set grafana.dashboard.enabled=true
render replicas --set replicas=2
# The README's install command, as a client-side dry run (no cluster here).
"$HELM" install connect-token-operator "$chart" -n connect-token-operator-system --create-namespace \
  --set allowedTokenHosts='{*.authkit.app}' --dry-run=client >"$out/readme-install.txt"
grep -q -- '--allowed-token-hosts=\*.authkit.app' "$out/readme-install.txt" || { echo "README install: --allowed-token-hosts not rendered"; exit 1; }
echo "README install command renders"
# NOTES.txt is rendered only on install; a client-side dry run renders it without a cluster.
"$HELM" install tokens "$chart" --namespace ops --dry-run=client >"$out/install-dry-run.txt"
grep -q 'Next steps' "$out/install-dry-run.txt" || { echo "NOTES.txt did not render"; exit 1; }
echo "rendered NOTES.txt"
if "$HELM" template tokens "$chart" --set rbac.namespaced=true >/dev/null 2>"$out/fail.txt"; then
  echo "rbac.namespaced without watchNamespaces must fail"; exit 1
fi
grep -q 'rbac.namespaced=true needs watchNamespaces' "$out/fail.txt"
echo "rbac.namespaced without watchNamespaces fails: $(grep -o 'rbac.namespaced=true needs watchNamespaces' "$out/fail.txt")"
[ -z "${KEEP_RENDERED:-}" ] || echo "rendered manifests kept in $out"

echo "--- go test ./internal/chart/"
go test ./internal/chart/ -count=1
