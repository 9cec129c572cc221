#!/usr/bin/env bash
# Builds promtool from the Prometheus module pinned in this side module into $1 (default bin/promtool).
# Idempotent: an existing binary is not rebuilt (delete it after changing go.mod).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/../../bin/promtool"}
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi
cd "$here"
# The module v0.316.0 is Prometheus 3.16.0: its VERSION file says so, and promtool --version shows it.
go mod download github.com/prometheus/prometheus
version=$(cat "$(go list -m -f '{{.Dir}}' github.com/prometheus/prometheus)/VERSION")
echo "building promtool ${version} (first time only; later builds reuse the Go build cache)" >&2
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${version}" \
  -o "$out.tmp" github.com/prometheus/prometheus/cmd/promtool
mv "$out.tmp" "$out"
echo "$out"
