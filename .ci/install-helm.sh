#!/usr/bin/env bash
# Build helm from the Go module proxy once and cache it; print the binary's path on stdout.
#
#   .ci/install-helm.sh            -> ~/.cache/netiso/helm-v3.22.0/helm (built only if missing)
#
# Debian bookworm has no helm package, and the chart tests (tests/ship/test_chart.py) need
# `helm template` and `helm lint`. Same recipe as the control plane binaries
# (netiso_devkit.localcluster.binaries): the `go` on PATH, a throwaway wrapper module, a static
# build, an atomic rename into the cache. Override the version with NETISO_HELM_VERSION and the cache
# with NETISO_CACHE_DIR (as the binaries do).
set -euo pipefail

version=${NETISO_HELM_VERSION:-v3.22.0}
cache=${NETISO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/netiso}
target="$cache/helm-$version"

if [[ -x "$target/helm" ]]; then
    echo "$target/helm"
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    echo "install-helm: \`go\` is not on PATH; it is needed once to build helm $version" >&2
    exit 1
fi

mkdir -p "$cache"
scratch=$(mktemp -d "$cache/.helm-$version.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
log="$scratch/build.log"
echo "install-helm: building helm $version from the Go module proxy (~2-4 min cold)" >&2
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
(
    cd "$scratch"
    printf 'module netiso.local/helm-build\n' >go.mod
    go get "helm.sh/helm/v3/cmd/helm@$version"
    go build -trimpath \
        -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$version" \
        -o "$scratch/out/helm" helm.sh/helm/v3/cmd/helm
) >"$log" 2>&1 || {
    tail -n 30 "$log" >&2
    echo "install-helm: build failed (log above)" >&2
    exit 1
}
chmod 0755 "$scratch/out"
# Another build may have won the race; rename(2) into an existing directory fails, keep theirs.
mv -T "$scratch/out" "$target" 2>/dev/null || true
echo "install-helm: built $("$target/helm" version --short)" >&2
echo "$target/helm"
