"""Benchmark of the enforcement probe on the dev kit's real dataplane: prints the figures.

    sudo .venv/bin/python -m bench.enforcement_probe [--rounds 5] [--out bench/results/X.md]

Starts its own control plane and node (containerd, kubelet, test-only kube-router) and
measures: the node's bring-up phases; how long a NetworkPolicy takes to act on packets after
it is applied (polled every 0.05 s from inside a pod); and the probe round time (the same
`run_round` the operator and `netiso probe` run) with the enforcer running (`enforced`) and
stopped (`not-enforced`, which runs a second source to confirm). Prints numbers, asserts no
timing; the verdicts must be right or the run fails. Holds the machine's one dataplane lock
for its whole run (about a minute warm).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kubernetes import client, config

from netiso.model.enforcement import EnforcementProbe, EnforcementState
from netiso.probing.podspecs import Owner
from netiso.probing.rounds import RoundPlan, run_round
from netiso.runtime.client import ApiClient, load_credentials
from netiso_devkit.dataplane.nodes import Dataplane, agnhost_pod
from netiso_devkit.dataplane.probing import Target
from netiso_devkit.localcluster.commandlines import CONTROLLERS, WORKLOAD_CONTROLLERS
from netiso_devkit.localcluster.controlplane import ControlPlane

TARGET_NAMESPACE = "bench-probed"
SOURCE_NAMESPACE = "netiso-system"
DENY_ALL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny-all"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def spread(values: list[float]) -> str:
    """min / median / max, in seconds."""
    return (
        f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f} s "
        f"(n={len(values)})"
    )


def wait_until(check: Callable[[], bool], *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:g} s: the enforcer does not act")
        time.sleep(0.05)


def policy_latencies(node: Dataplane, api: client.ApiClient, *, samples: int) -> list[float]:
    """Seconds from a deny-all policy's create to the first blocked connection on packets."""
    core, networking = client.CoreV1Api(api), client.NetworkingV1Api(api)
    namespace = "bench-latency"
    core.create_namespace({"metadata": {"name": namespace}})
    addresses = node.run_pods(
        [
            agnhost_pod(name="server", namespace=namespace, labels={"app": "s"}, tcp_ports=(8080,)),
            agnhost_pod(name="client", namespace=namespace, labels={"app": "c"}),
        ]
    )
    target = Target(addresses[(namespace, "server")], 8080)
    latencies = []
    for _ in range(samples):
        started = time.monotonic()
        networking.create_namespaced_network_policy(namespace, DENY_ALL)
        wait_until(lambda: not node.probe(namespace, "client", [target], timeout=0.2)[0].open)
        latencies.append(time.monotonic() - started)
        networking.delete_namespaced_network_policy("deny-all", namespace)
        wait_until(lambda: node.probe(namespace, "client", [target], timeout=0.2)[0].open)
    core.delete_namespace(namespace)
    return latencies


async def rounds(
    kubeconfig: Path, plan: RoundPlan, *, count: int, expected: EnforcementState
) -> list[float]:
    """`count` rounds' durations; stops at the first round whose verdict is not `expected`."""
    api = ApiClient(load_credentials(str(kubeconfig), context=None), timeout=30, retries=3)
    seconds = []
    try:
        for _ in range(count):
            verdict = await run_round(api, plan)
            if verdict.state != expected:
                raise SystemExit(f"expected {expected}, got {verdict.state}: {verdict.message}")
            seconds.append(verdict.seconds)
        return seconds
    finally:
        await api.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="probe rounds per state")
    parser.add_argument("--latency-samples", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the figures as Markdown here")
    args = parser.parse_args()
    # With the node lifecycle controller, which lifts the not-ready taint: the probe's pods are
    # scheduled, as in a cluster (the latency pods set nodeName).
    plane = ControlPlane(progress=say, controllers=CONTROLLERS + WORKLOAD_CONTROLLERS)
    plane.start(timeout=180)
    try:
        started = time.monotonic()
        node = Dataplane(plane, progress=say)
        node.start()
        try:
            api = config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
            core = client.CoreV1Api(api)
            for name in (TARGET_NAMESPACE, SOURCE_NAMESPACE):
                core.create_namespace({"metadata": {"name": name}})
            client.NetworkingV1Api(api).create_namespaced_network_policy(TARGET_NAMESPACE, DENY_ALL)
            latencies = policy_latencies(node, api, samples=args.latency_samples)
            plan = RoundPlan(
                owner=Owner("bench"),
                probe=EnforcementProbe(enabled=True, image=Dataplane.agnhost_image_name()),
                namespace=TARGET_NAMESPACE,
                source_namespace=SOURCE_NAMESPACE,
            )
            enforced = asyncio.run(
                rounds(
                    plane.admin_kubeconfig,
                    plan,
                    count=args.rounds,
                    expected=EnforcementState.ENFORCED,
                )
            )
            node.stop_enforcer()
            try:
                leaking = asyncio.run(
                    rounds(
                        plane.admin_kubeconfig,
                        plan,
                        count=args.rounds,
                        expected=EnforcementState.NOT_ENFORCED,
                    )
                )
            finally:
                node.start_enforcer()
            timings = node.timings
        finally:
            node.stop()
    finally:
        plane.stop()
    lines = [
        f"# Enforcement probe on the dev kit's dataplane, {datetime.now(UTC):%Y-%m-%d}",
        "",
        "`python -m bench.enforcement_probe` on the 2-core VM shared with other work "
        f"(whole run {time.monotonic() - started:.0f} s).",
        "",
        "| What | Figure (min / median / max) |",
        "| --- | --- |",
        f"| Node bring-up (warm: containerd, images, kubelet Ready, kube-router) | "
        f"{timings.total if timings else 0:.2f} s ({timings}) |",
        f"| A NetworkPolicy acting on packets after it is created (polled every 0.05 s) | "
        f"{spread(latencies)} |",
        f"| Probe round, enforced (2 server pods Ready, engine check, 1 source, cleanup) | "
        f"{spread(enforced)} |",
        f"| Probe round, not-enforced (as above plus a confirming second source) | "
        f"{spread(leaking)} |",
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
