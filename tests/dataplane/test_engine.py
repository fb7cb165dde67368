"""netiso's engine against packets: for generated workloads and policies, every connection
`netiso matrix` predicts is probed on the dataplane.

The model's reference mode (no deviations) must agree with the engine on every probe: two
independent readings of the API reference. The packets must agree with the model of the
test-only enforcer (kube-router v2.1.0 with its documented deviations, enforcermodel.py) on
every probe, so a deviation that appears or disappears fails; the counts are printed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes import client

from netiso_devkit.dataplane.nodeconfigs import POD_CIDR
from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.localcluster.controlplane import ControlPlane
from tests.dataplane import enforcermodel
from tests.dataplane.conftest import MakeNamespace
from tests.dataplane.traffic import (
    Probe,
    Scene,
    ScenePod,
    describe,
    mismatches,
    observe,
    start_scene,
)

# Scenarios per run; NETISO_DATAPLANE_SCENARIOS raises it for a longer search.
SCENARIOS = int(os.environ.get("NETISO_DATAPLANE_SCENARIOS", "6"))
POLICIES_PER_SCENARIO = 3
TCP_PORTS = (80, 8080, 8081, 9090)
UDP_PORT = 53
NAMED_PORTS = (
    ("http", 8080, "TCP"),
    ("http", 8081, "TCP"),
    ("metrics", 9090, "TCP"),
    ("dns", 53, "UDP"),
    ("web", 80, "TCP"),
)
LABELS = {"app": ("a", "b", "c"), "tier": ("web", "db")}
STABLE_ROUNDS_MAX = 8


def _named_ports(rng: random.Random) -> dict[str, tuple[int, str]]:
    chosen: dict[str, tuple[int, str]] = {}
    for name, number, protocol in rng.sample(NAMED_PORTS, rng.randint(0, 3)):
        chosen.setdefault(name, (number, protocol))
    return chosen


def _selector(rng: random.Random) -> dict[str, Any]:
    choice = rng.randrange(4)
    if choice == 0:
        return {}
    if choice == 1:
        return {"matchLabels": {"app": rng.choice(LABELS["app"])}}
    if choice == 2:
        return {"matchLabels": {"tier": rng.choice(LABELS["tier"])}}
    return {
        "matchExpressions": [
            {"key": "app", "operator": "NotIn", "values": [rng.choice(LABELS["app"])]}
        ]
    }


def _peer(rng: random.Random, addresses: list[str]) -> dict[str, Any]:
    choice = rng.randrange(5)
    if choice == 0:
        return {"podSelector": _selector(rng)}
    if choice == 1:
        return {"namespaceSelector": {"matchLabels": {"team": rng.choice(("x", "y"))}}}
    if choice == 2:
        return {
            "namespaceSelector": {"matchLabels": {"team": rng.choice(("x", "y"))}},
            "podSelector": _selector(rng),
        }
    if choice == 3:
        return {"ipBlock": {"cidr": f"{rng.choice(addresses)}/32"}}
    return {"ipBlock": {"cidr": POD_CIDR, "except": [f"{rng.choice(addresses)}/32"]}}


def _ports(rng: random.Random) -> list[dict[str, Any]]:
    options: list[dict[str, Any]] = [
        {"protocol": "TCP", "port": 80},
        {"protocol": "TCP", "port": 8080, "endPort": 8081},
        {"protocol": "TCP", "port": "http"},
        {"protocol": "TCP", "port": "metrics"},
        {"protocol": "UDP", "port": 53},
        {"protocol": "UDP", "port": "dns"},
        {"protocol": "TCP", "port": "web"},
    ]
    if rng.random() < 0.3:
        return []
    return rng.sample(options, rng.randint(1, 2))


def generate_policies(
    rng: random.Random, *, namespaces: list[str], addresses: list[str], count: int
) -> list[dict[str, Any]]:
    """`count` random NetworkPolicies over the namespaces, peers and ports above."""
    policies = []
    for index in range(count):
        types = rng.choice((["Ingress"], ["Egress"], ["Ingress", "Egress"]))
        spec: dict[str, Any] = {"podSelector": _selector(rng), "policyTypes": types}
        for direction, key in (("Ingress", "ingress"), ("Egress", "egress")):
            if direction not in types:
                continue
            rules = []
            for _ in range(rng.randint(0, 2)):
                rule: dict[str, Any] = {}
                peers = [_peer(rng, addresses) for _ in range(rng.randint(0, 2))]
                if peers:
                    rule["from" if direction == "Ingress" else "to"] = peers
                ports = _ports(rng)
                if ports:
                    rule["ports"] = ports
                rules.append(rule)
            spec[key] = rules
        policies.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"gen-{index}", "namespace": rng.choice(namespaces)},
                "spec": spec,
            }
        )
    return policies


def predicted(kubeconfig: Path, namespaces: list[str]) -> dict[tuple[str, str], Any]:
    """`netiso matrix -o json` on the live cluster: (src, dst) -> its `allowed` entry."""
    netiso = str(Path(sys.executable).with_name("netiso"))
    args = [netiso, "matrix", "-o", "json", "--kubeconfig", str(kubeconfig)]
    for namespace in namespaces:
        args += ["-n", namespace]
    result = subprocess.run(args, capture_output=True, text=True, check=True, timeout=120)
    matrix = json.loads(result.stdout)
    return {(c["src"], c["dst"]): c["allowed"] for c in matrix["connections"]}


def admitted(allowed: Any, port: int, protocol: str) -> bool:
    if allowed is None:
        return False
    if allowed.get("all"):
        return True
    return any(first <= port <= last for first, last in allowed.get(protocol, []))


def live_cluster(kube_api: client.ApiClient) -> enforcermodel.Cluster:
    """The enforcer model's view of every pod, namespace and policy in the cluster now."""
    core = client.CoreV1Api(kube_api)
    networking = client.NetworkingV1Api(kube_api)
    serialize = kube_api.sanitize_for_serialization
    return enforcermodel.Cluster.of(
        pods=[serialize(p) for p in core.list_pod_for_all_namespaces().items],
        namespaces=[serialize(n) for n in core.list_namespace().items],
        policies=[serialize(p) for p in networking.list_network_policy_for_all_namespaces().items],
    )


def stable_observation(dataplane: Dataplane, scene: Scene) -> dict[Probe, str]:
    """Probe until two rounds in a row agree (the enforcer has caught up), bounded."""
    probes = scene.probes()
    previous = observe(dataplane, scene, probes)
    for _ in range(STABLE_ROUNDS_MAX):
        time.sleep(0.3)
        current = observe(dataplane, scene, probes)
        opened = {p: r == "connected" for p, r in current.items()}
        if opened == {p: r == "connected" for p, r in previous.items()}:
            return current
        previous = current
    return previous


def test_engine_predictions_match_packets_up_to_known_enforcer_deviations(
    dataplane: Dataplane,
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    dataplane_report: list[str],
) -> None:
    rng = random.Random(21)
    namespaces = [make_namespace("eng-x", labels={"team": "x"}),
                  make_namespace("eng-y", labels={"team": "y"})]  # fmt: skip
    pods = []
    for index in range(6):
        labels = {key: rng.choice(values) for key, values in LABELS.items()}
        pods.append(ScenePod(namespaces[index % 2], f"pod-{index}", labels, _named_ports(rng)))
    scene = Scene(pods=pods, tcp_ports=TCP_PORTS, udp_port=UDP_PORT)
    start_scene(dataplane, scene)
    addresses = list(scene.addresses.values())
    networking = client.NetworkingV1Api(kube_api)

    # Known open: with no policy, every pod answers on every port.
    before = observe(dataplane, scene, scene.probes())
    closed = [describe(p) for p, r in before.items() if r != "connected"]
    assert not closed, "servers not answering before any policy:\n" + "\n".join(closed)

    counts: Counter[str] = Counter()
    failures: list[str] = []
    for scenario in range(SCENARIOS):
        for namespace in namespaces:
            networking.delete_collection_namespaced_network_policy(namespace)
        policies = generate_policies(
            rng, namespaces=namespaces, addresses=addresses, count=POLICIES_PER_SCENARIO
        )
        for policy in policies:
            networking.create_namespaced_network_policy(policy["metadata"]["namespace"], policy)
        observed = stable_observation(dataplane, scene)
        prediction = predicted(control_plane.admin_kubeconfig, namespaces)
        cluster = live_cluster(kube_api)
        by_key = {pod.key: pod for pod in cluster.pods}
        for probe, result in observed.items():
            (src_ns, src_name), (dst_ns, dst_name), port, protocol = probe
            src, dst = by_key[f"{src_ns}/{src_name}"], by_key[f"{dst_ns}/{dst_name}"]
            engine = admitted(prediction.get((src.key, dst.key)), port, protocol)
            reference = enforcermodel.allows(
                cluster, src=src, dst=dst, port=port, protocol=protocol
            )
            counts["probes"] += 1
            where = f"scenario {scenario}: {describe(probe)}"
            if engine != reference:
                failures.append(f"{where}: engine says {engine}, reference model {reference}")
                continue
            is_open = result == "connected"
            # The packets must do exactly what the enforcer model says kube-router does: a
            # documented deviation that stops showing is a failure too, so a change in the
            # enforcer or in either model is caught, never absorbed.
            enforcer = enforcermodel.enforcer_outcomes(
                cluster, src=src, dst=dst, port=port, protocol=protocol
            )
            if is_open not in enforcer:
                modelled = " or ".join(sorted("open" if o else "blocked" for o in enforcer))
                failures.append(
                    f"{where}: engine and reference say {'open' if engine else 'blocked'}, "
                    f"kube-router's model {modelled}, packets {result}\n  policies: "
                    + json.dumps([{p["metadata"]["namespace"]: p["spec"]} for p in policies])
                )
                continue
            if is_open == engine:
                counts["agree"] += 1
                continue
            explained = enforcermodel.explain(
                cluster, src=src, dst=dst, port=port, protocol=protocol, observed_open=is_open
            )
            counts["explained"] += 1
            counts[f"explained: {' + '.join(explained)}"] += 1
        counts["failures"] = len(failures)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    dataplane_report.append(f"engine vs packets ({SCENARIOS} scenarios): {summary}")
    print(summary)
    assert counts["probes"] == SCENARIOS * len(scene.probes())
    assert not failures, "\n".join(failures[:20])


def test_toless_egress_named_ports_follow_kube_routers_known_deviation_on_packets(
    dataplane: Dataplane,
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    dataplane_report: list[str],
) -> None:
    """The case the 30-scenario run left unexplained, pinned: an egress rule without `to`
    naming `metrics`, from a namespace where no pod declares it, to a pod of another namespace
    that does. The reference (and the engine) admit TCP 9090; kube-router v2.1.0 resolves the
    name on the policy's own namespace (policy.go, buildNetworkPoliciesInfo) and admits
    nothing for it, while `http`, which a pod there declares as 8081, opens 8081 to every
    destination. Either side changing fails here."""
    x = make_namespace("eng-x", labels={"team": "x"})
    y = make_namespace("eng-y", labels={"team": "y"})
    target = ScenePod(x, "pod-0", {"app": "a"}, {"metrics": (9090, "TCP"), "http": (8080, "TCP")})
    source = ScenePod(y, "source", {"app": "b"})
    peer = ScenePod(y, "peer", {"app": "c"}, {"http": (8081, "TCP")})
    scene = Scene(pods=[target, source, peer], tcp_ports=TCP_PORTS, udp_port=UDP_PORT)
    start_scene(dataplane, scene)
    probes: list[Probe] = [(source.key, target.key, port, "TCP") for port in TCP_PORTS]
    before = observe(dataplane, scene, probes)
    assert all(r == "connected" for r in before.values()), before
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "toless-named", "namespace": y},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {"ports": [{"protocol": "TCP", "port": "metrics"},
                           {"protocol": "TCP", "port": "http"}]}
            ],
        },
    }  # fmt: skip
    networking = client.NetworkingV1Api(kube_api)
    networking.create_namespaced_network_policy(y, policy)

    # What the reference says (named ports resolved on pod-0) and kube-router does.
    reference_open = {80: False, 8080: True, 8081: False, 9090: True}
    kube_router_open = {80: False, 8080: False, 8081: True, 9090: False}
    _, wrong = mismatches(dataplane, scene, lambda probe: kube_router_open[probe[2]], probes=probes)
    assert not wrong, "packets differ from kube-router's known deviation:\n" + "\n".join(wrong)

    prediction = predicted(control_plane.admin_kubeconfig, [x, y])
    cluster = live_cluster(kube_api)
    by_key = {pod.key: pod for pod in cluster.pods}
    src, dst = by_key[f"{y}/source"], by_key[f"{x}/pod-0"]
    for port in TCP_PORTS:
        engine = admitted(prediction.get((src.key, dst.key)), port, "TCP")
        assert engine is reference_open[port], f"engine on {port}: {engine}"
        assert (
            enforcermodel.allows(cluster, src=src, dst=dst, port=port, protocol="TCP")
            is (reference_open[port])
        )
        assert enforcermodel.enforcer_outcomes(
            cluster, src=src, dst=dst, port=port, protocol="TCP"
        ) == {kube_router_open[port]}
        deviation = enforcermodel.explain(
            cluster, src=src, dst=dst, port=port, protocol="TCP",
            observed_open=kube_router_open[port],
        )  # fmt: skip
        expected = (
            (enforcermodel.Deviation.ANY_DESTINATION_NAMED_PORTS,)
            if reference_open[port] != kube_router_open[port]
            else ()
        )
        assert deviation == expected, f"port {port}: {deviation}"
    dataplane_report.append(
        "to-less egress named ports: engine = reference on 8080/9090 open, packets follow "
        "kube-router (8081 open, 8080/9090 blocked)"
    )
