"""The dev kit's dataplane itself: pods run, Deployments schedule, a policy acts on packets,
and stopping the enforcer opens the traffic again."""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client

from netiso_devkit.dataplane.nodes import Dataplane, agnhost_pod
from netiso_devkit.dataplane.probing import Target
from netiso_devkit.processes import wait_for
from tests.dataplane.conftest import MakeNamespace

DENY_INGRESS_TO_SERVER: Any = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny-8080"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "server"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"protocol": "TCP", "port": 9090}]}],
    },
}


def test_a_pod_runs_and_a_policy_is_enforced_on_packets(
    dataplane: Dataplane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    dataplane_report: list[str],
) -> None:
    namespace = make_namespace("kit")
    started = time.monotonic()
    addresses = dataplane.run_pods(
        [
            agnhost_pod(
                name="server", namespace=namespace, labels={"app": "server"},
                tcp_ports=(8080, 9090), udp_port=53,
            ),
            agnhost_pod(name="client", namespace=namespace, labels={"app": "client"}),
        ]
    )  # fmt: skip
    dataplane_report.append(f"two pods Ready in {time.monotonic() - started:.2f} s")
    server = addresses[(namespace, "server")]
    targets = [Target(server, 8080), Target(server, 9090), Target(server, 53, "UDP")]
    before = dataplane.probe(namespace, "client", targets)
    assert [o.result for o in before] == ["connected"] * 3

    networking = client.NetworkingV1Api(kube_api)
    body = {**DENY_INGRESS_TO_SERVER, "metadata": {"name": "only-9090", "namespace": namespace}}
    networking.create_namespaced_network_policy(namespace, body)
    applied = time.monotonic()

    def enforced() -> list[str] | None:
        # A short timeout: connections on the bridge complete in well under a millisecond.
        outcomes = dataplane.probe(namespace, "client", targets, timeout=0.25)
        results = [o.result for o in outcomes]
        # 9090 stays open: the control that tells "blocked" from "server gone".
        return results if results[1] == "connected" and results[0] != "connected" else None

    after = wait_for("the policy to act on packets", enforced, timeout=30, interval=0.05)
    latency = time.monotonic() - applied
    dataplane_report.append(
        f"a NetworkPolicy acted on packets {latency:.2f} s after it was applied"
    )
    assert after[0] in ("refused", "timeout")
    assert after[2] in ("refused", "timeout")

    dataplane.stop_enforcer()
    try:
        open_again = [o.result for o in dataplane.probe(namespace, "client", targets)]
        assert open_again == ["connected"] * 3
    finally:
        dataplane.start_enforcer()
    # Back under enforcement, the policy holds again.
    again = wait_for("the restarted enforcer to act", enforced, timeout=30, interval=0.1)
    assert again[0] != "connected"


def test_a_deployment_is_scheduled_onto_the_node(
    dataplane: Dataplane, kube_api: client.ApiClient, make_namespace: MakeNamespace
) -> None:
    namespace = make_namespace("deploy")
    template = agnhost_pod(name="x", namespace=namespace, labels={"app": "web"}, tcp_ports=(8080,))
    spec = dict(template["spec"])
    del spec["nodeName"]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec},
        },
    }
    client.AppsV1Api(kube_api).create_namespaced_deployment(namespace, deployment)

    def available() -> int | None:
        status = (
            client.AppsV1Api(kube_api)
            .read_namespaced_deployment(namespace=namespace, name="web")
            .status
        )
        return status.available_replicas if status.available_replicas == 2 else None

    wait_for("the Deployment's two replicas to be available", available, timeout=90, interval=0.5)
    pods = client.CoreV1Api(kube_api).list_namespaced_pod(namespace).items
    assert {p.spec.node_name for p in pods} == {dataplane.node_name}
