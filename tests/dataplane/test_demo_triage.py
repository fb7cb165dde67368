"""The demo's triage with a dataplane: two small workloads run on the node, and explain and
matrix on the live cluster name a blocked and an allowed connection between them; the packets
agree with both answers."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from netiso_devkit.dataplane.nodes import Dataplane
from netiso_devkit.dataplane.probing import Target
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.triage import live_triage
from tests.dataplane.conftest import MakeNamespace


def test_the_demo_runs_two_workloads_and_explains_a_blocked_and_an_allowed_connection(
    dataplane: Dataplane,
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace = make_namespace("demo")
    core = client.CoreV1Api(kube_api)
    networking = client.NetworkingV1Api(kube_api)

    def apply(bodies: list[dict[str, Any]]) -> None:
        for body in bodies:
            if body["kind"] == "Pod":
                core.create_namespaced_pod(namespace, body)
            else:
                networking.create_namespaced_network_policy(namespace, body)

    def running() -> bool:
        pods = core.list_namespaced_pod(namespace).items
        return len(pods) == 2 and all(pod.status.phase == "Running" for pod in pods)

    said: list[str] = []
    live_triage(
        namespace=namespace,
        kubeconfig=str(control_plane.admin_kubeconfig),
        apply=apply,
        pods_running=running,
        say=said.append,
    )
    out = capsys.readouterr().out.splitlines()
    assert f"DENIED: {namespace}/client -> {namespace}/web on 9090/TCP" in out
    assert f"ALLOWED: {namespace}/client -> {namespace}/web on 8080/TCP" in out
    assert [line for line in out if line.startswith("(exit status")] == [
        "(exit status 1)",
        "(exit status 0)",
        "(exit status 0)",
    ]
    # The packets say the same: web listens on both, 8080 connects and 9090 is blocked.
    web = core.read_namespaced_pod("web", namespace).status.pod_ip
    outcomes = dataplane.probe(namespace, "client", [Target(web, 8080), Target(web, 9090)])
    assert outcomes[0].result == "connected"
    assert outcomes[1].result != "connected"
