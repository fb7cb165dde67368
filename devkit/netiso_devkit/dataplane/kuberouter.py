"""TEST-ONLY NetworkPolicy enforcer for the dev kit's dataplane: kube-router v2.1.0, firewall only.

Never in the operator's image, manifests, chart or wheel: v2.1.0 is the only version the Go
module proxy serves, it has reported security flaws and it deviates from the NetworkPolicy
semantics (tests/dataplane/ models how). Built from the proxy and cached; run with
--run-firewall only; its chains and ipsets are removed here (its --cleanup-config panics
without IP_VS). Part of netiso_devkit.dataplane.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from netiso_devkit.dataplane.nodebuilds import build_go_module
from netiso_devkit.localcluster.binaries import cache_dir
from netiso_devkit.localcluster.cacheentries import Built
from netiso_devkit.localcluster.gotoolchain import say_on_stderr
from netiso_devkit.localcluster.progress import Progress

VERSION: Final = "v2.1.0"
MODULE: Final = "github.com/cloudnativelabs/kube-router/v2"
USER: Final = "netiso-dp:kube-router"
# Every chain and ipset kube-router's firewall creates starts with one of these.
CHAIN_PREFIXES: Final = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
IPSET_PREFIXES: Final = ("KUBE-SRC-", "KUBE-DST-", "inet6:KUBE-SRC-", "inet6:KUBE-DST-")
_TABLES: Final = ("filter", "nat", "mangle", "raw")
# What the firewall controller watches (its informers), read-only.
CLUSTER_ROLE: Final[dict[str, Any]] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "netiso-dp-kube-router"},
    "rules": [
        {
            "apiGroups": [""],
            "resources": ["pods", "namespaces", "nodes", "services", "endpoints"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["get", "list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["get", "list", "watch"],
        },
    ],
}


def ensure_kube_router(
    *, cache: Path | None = None, progress: Progress | None = None
) -> tuple[Path, Built]:
    """The cached kube-router binary, built from the module proxy on first use (~6 min cold)."""
    directory, built = build_go_module(
        cache or cache_dir(),
        entry=f"kube-router-{VERSION}",
        module=(MODULE, VERSION),
        package=f"{MODULE}/cmd/kube-router",
        program="kube-router",
        go_directive="1.21",
        say=progress or say_on_stderr,
    )
    return directory / "kube-router", built


def command(binary: Path, *, kubeconfig: Path, node_name: str, service_range: str) -> list[str]:
    """kube-router as a NetworkPolicy firewall only: no routes, no BGP, no service proxy."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node_name}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-cni=false",
        "--health-port=0",
        "--metrics-port=0",
        f"--service-cluster-ip-range={service_range}",
        "--v=1",
    ]


def sweep_chains(names: Sequence[str]) -> list[str]:
    """Remove these chains (exact names) and the rules jumping to them, in every table."""
    iptables = shutil.which("iptables")
    if iptables is None:
        return []
    removed: list[str] = []
    for table in _TABLES:
        removed += _sweep_table(iptables, table, ours=lambda chain: chain in names)
    return removed


def sweep_firewall() -> list[str]:
    """Remove every kube-router chain (and the rules jumping to them) and its ipsets.

    Idempotent; returns what was removed. Rules in chains that are not kube-router's are
    deleted only when they jump to one of its chains.
    """
    removed: list[str] = []
    iptables = shutil.which("iptables")
    if iptables is not None:
        for table in _TABLES:
            removed += _sweep_table(iptables, table, ours=_ours)
    ipset = shutil.which("ipset")
    if ipset is not None:
        names = _run([ipset, "list", "-n"]).split()
        for name in names:
            if name.startswith(IPSET_PREFIXES):
                _run([ipset, "destroy", name], check=False)
                removed.append(f"ipset {name}")
    return removed


def _ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def _sweep_table(iptables: str, table: str, *, ours: Callable[[str], bool]) -> list[str]:
    dump = _run([f"{iptables}-save", "-t", table], check=False)
    chains = [line[1:].split()[0] for line in dump.splitlines() if line.startswith(":")]
    mine = [chain for chain in chains if ours(chain)]
    if not mine:
        return []
    for line in dump.splitlines():
        if not line.startswith("-A "):
            continue
        words = shlex.split(line)
        chain = words[1]
        target = words[words.index("-j") + 1] if "-j" in words else ""
        if not ours(chain) and ours(target):
            _run([iptables, "-t", table, "-D", chain, *words[2:]], check=False)
    for chain in mine:
        _run([iptables, "-t", table, "-F", chain], check=False)
    for chain in mine:
        _run([iptables, "-t", table, "-X", chain], check=False)
    return [f"iptables -t {table} chain {chain}" for chain in mine]


def _run(args: list[str], *, check: bool = True) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout
