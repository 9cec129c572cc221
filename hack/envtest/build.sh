#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from Go modules into $1 (default bin/k8s/<version>-<os>-<arch>).
# Idempotent: binaries that already exist are not rebuilt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=1.37.2
out=${1:-"$here/../../bin/k8s/${version}-$(go env GOOS)-$(go env GOARCH)"}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=v${version} -X ${pkg}.gitMajor=${version%%.*}"
  minor=${version#*.}; minor=${minor%%.*}
  ldflags+=" -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
done
cd "$here"
build() { # name package
  if [ -x "$out/$1" ]; then return; fi
  echo "building $1 (first time only; later builds reuse the Go build cache)" >&2
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$1.tmp" "$2"
  mv "$out/$1.tmp" "$out/$1"
}
build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kubectl k8s.io/kubernetes/cmd/kubectl
echo "$out"
