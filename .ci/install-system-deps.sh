#!/usr/bin/env bash
# Install the Debian packages netiso's tests and tools need, idempotently.
#
#   openssl     the local control plane's throwaway PKI (netiso_devkit.localcluster.certificates)
#   prometheus  promtool and prometheus, for checking the alert rules and /metrics output
#   chromium    a real headless browser that opens `netiso matrix -o html` in the ship tests
#   containerd, runc, containernetworking-plugins, iptables, ipset, busybox-static
#               the dev kit's one-node dataplane (netiso_devkit.dataplane) and its traffic tests:
#               the container runtime, the pod bridge, the test-only enforcer's iptables and
#               ipsets, and a shell in the test image. containerd's service is not started.
#   mmdebstrap, buildah
#               the operator image (netiso_devkit.operatorimage): a Debian base made from
#               packages (no registry is reachable) and the Dockerfile built on it; runc (above)
#               runs the image in the ship tests.
#   golang (Go) is NOT installed here: the control plane binaries are built with the `go` on
#               PATH; Debian's Go is too old for Kubernetes 1.35.
#
# etcd is built from the Go module proxy; Debian's etcd-server (3.4.x) is only the fallback
# when that build fails. Set NETISO_ETCD_FALLBACK=1 to install it too.
# apt is skipped entirely when every needed command is already present.
set -euo pipefail

declare -A wanted=(
    [openssl]=openssl
    [promtool]=prometheus
    [prometheus]=prometheus
    [chromium]=chromium
    [containerd]=containerd
    [ctr]=containerd
    [runc]=runc
    [iptables]=iptables
    [ipset]=ipset
    [nsenter]=util-linux
    [mmdebstrap]=mmdebstrap
    [buildah]=buildah
)
# Not commands on PATH: files the dataplane needs, and the package that installs each.
declare -A wanted_files=(
    [/usr/lib/cni/bridge]=containernetworking-plugins
    [/usr/lib/cni/host-local]=containernetworking-plugins
    [/bin/busybox]=busybox-static
)
if [[ "${NETISO_ETCD_FALLBACK:-0}" == 1 ]]; then
    wanted[etcd]=etcd-server
fi

missing=()
for command in "${!wanted[@]}"; do
    if ! command -v "$command" >/dev/null 2>&1; then
        missing+=("${wanted[$command]}")
    fi
done

for file in "${!wanted_files[@]}"; do
    if [[ ! -e "$file" ]]; then
        missing+=("${wanted_files[$file]}")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-system-deps: all present (${!wanted[*]} ${!wanted_files[*]})"
    exit 0
fi

# Deduplicate: promtool and prometheus come from one package.
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-system-deps: installing ${packages[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# prometheus, etcd-server and containerd ship services that must not start on a developer or CI
# machine; a policy-rc.d that answers 101 tells invoke-rc.d not to start them (container images
# often have one already; otherwise one is put in place for the install only).
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
