#!/usr/bin/env bash
# Builds the helm CLI pinned in hack/helm/go.mod into $1 (default bin/helm at the repository root).
# Idempotent: an existing binary of the pinned version is not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../bin/helm"}
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
cd "$here"
version=$(go list -m -f '{{.Version}}' helm.sh/helm/v4)
if [ -x "$out" ] && [ "$("$out" version --template '{{.Version}}' 2>/dev/null || true)" = "$version" ]; then
  echo "$out"
  exit 0
fi
echo "building helm ${version} (first time only; later builds reuse the Go build cache)" >&2
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=${version} -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
  -o "$out.tmp" helm.sh/helm/v4/cmd/helm
mv "$out.tmp" "$out"
echo "$out"
