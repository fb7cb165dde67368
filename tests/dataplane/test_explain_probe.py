"""`netiso explain --probe` on real packets: the prediction next to the observation, and the
plain sentence when the network plugin allows what the policies deny."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubernetes import client

from netiso_devkit.dataplane.nodes import Dataplane, agnhost_pod
from netiso_devkit.dataplane.probing import Target
from netiso_devkit.localcluster.controlplane import ControlPlane
from netiso_devkit.processes import wait_for
from tests.dataplane.conftest import MakeNamespace


def explain_probe(plane: ControlPlane, *, source: str, target: str, port: int) -> dict[str, Any]:
    netiso = str(Path(sys.executable).with_name("netiso"))
    result = subprocess.run(
        [netiso, "explain", "--from", source, "--to", target, "--port", str(port), "--probe",
         "--probe-image", Dataplane.agnhost_image_name(), "--probe-timeout", "2",
         "-o", "json", "--kubeconfig", str(plane.admin_kubeconfig)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    body: dict[str, Any] = json.loads(result.stdout)
    assert (result.returncode == 0) is body["allowed"]
    probe: dict[str, Any] = body["probe"]
    return probe


def test_explain_probe_puts_the_packets_next_to_the_prediction(
    dataplane: Dataplane,
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    make_namespace: MakeNamespace,
    dataplane_report: list[str],
) -> None:
    namespace = make_namespace("probe")
    addresses = dataplane.run_pods(
        [
            agnhost_pod(name="server", namespace=namespace, labels={"app": "server"},
                        tcp_ports=(8080, 9090)),
            agnhost_pod(name="client", namespace=namespace, labels={"app": "client"}),
        ]
    )  # fmt: skip
    server = addresses[(namespace, "server")]
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "only-9090", "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": 9090}]}],
        },
    }
    client.NetworkingV1Api(kube_api).create_namespaced_network_policy(namespace, policy)
    wait_for(
        "the policy to act on packets",
        lambda: (
            dataplane.probe(namespace, "client", [Target(server, 8080)], timeout=0.25)[0].result
            != "connected"
        ),
        timeout=30,
    )
    source, target = f"{namespace}/client", f"{namespace}/server"

    blocked = explain_probe(control_plane, source=source, target=target, port=8080)
    assert blocked["predicted"] == "denied"
    assert blocked["observed"] in ("refused", "timeout")
    assert "agree" in blocked["conclusion"]

    allowed = explain_probe(control_plane, source=source, target=target, port=9090)
    assert (allowed["predicted"], allowed["observed"]) == ("allowed", "connected")
    dataplane_report.append(
        f"explain --probe round (ephemeral container added, run, read): "
        f"{blocked['seconds']} s blocked, {allowed['seconds']} s open"
    )

    dataplane.stop_enforcer()
    try:
        leak = explain_probe(control_plane, source=source, target=target, port=8080)
    finally:
        dataplane.start_enforcer()
    assert (leak["predicted"], leak["observed"]) == ("denied", "connected")
    assert leak["conclusion"] == "the network plugin allows what the policies deny"
