"""`netiso matrix` and `netiso explain` on a live cluster give the answers they give offline
for the same objects.

Namespaces, Pods (the API server accepts them without a kubelet) and NetworkPolicies are
created in the real local control plane; the same objects are written to a file; the live run
(the user's kubeconfig, no -f) and the offline run (-f) must print identical JSON.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netiso.cli.app import main

from .conftest import MakeNamespace


def pod(
    *, namespace: str, name: str, labels: dict[str, str], ports: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": name, "image": "registry.invalid/app:1", "ports": ports}],
        },
    }


def network_policy(*, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def objects(*, front: str, back: str, team: str) -> list[dict[str, Any]]:
    return [
        pod(
            namespace=back,
            name="api",
            labels={"app": "api"},
            ports=[
                {"name": "http", "containerPort": 8081},
                {"name": "dns", "containerPort": 5353, "protocol": "UDP"},
            ],
        ),
        pod(
            namespace=back,
            name="db",
            labels={"app": "db", "tier": "data"},
            ports=[{"name": "pg", "containerPort": 5432}],
        ),
        pod(
            namespace=front,
            name="web",
            labels={"app": "web"},
            ports=[{"name": "http", "containerPort": 8080}],
        ),
        pod(namespace=front, name="batch", labels={"app": "batch", "tier": "jobs"}, ports=[]),
        network_policy(
            namespace=back,
            name="deny-all",
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        ),
        network_policy(
            namespace=back,
            name="api-from-web",
            spec={
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"team": team}},
                                "podSelector": {"matchLabels": {"app": "web"}},
                            }
                        ],
                        "ports": [{"port": "http"}, {"port": "dns", "protocol": "UDP"}],
                    }
                ],
            },
        ),
        network_policy(
            namespace=back,
            name="db-from-api",
            spec={
                "podSelector": {"matchLabels": {"tier": "data"}},
                "ingress": [
                    {
                        "from": [
                            {
                                "podSelector": {
                                    "matchExpressions": [
                                        {"key": "app", "operator": "In", "values": ["api"]}
                                    ]
                                }
                            }
                        ],
                        "ports": [{"port": 5000, "endPort": 5500}],
                    }
                ],
            },
        ),
        network_policy(
            namespace=back,
            name="api-egress",
            spec={
                "podSelector": {"matchLabels": {"app": "api"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"podSelector": {"matchLabels": {"tier": "data"}}}],
                        "ports": [{"port": "pg"}],
                    },
                    {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]}}]},
                ],
            },
        ),
        network_policy(
            namespace=front,
            name="web-egress",
            spec={
                "podSelector": {
                    "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["jobs"]}]
                },
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": back}
                                }
                            }
                        ],
                        "ports": [{"port": "http"}, {"protocol": "UDP"}],
                    }
                ],
            },
        ),
    ]


def create(kube_api: client.ApiClient, body: dict[str, Any]) -> None:
    namespace = body["metadata"]["namespace"]
    if body["kind"] == "NetworkPolicy":
        client.NetworkingV1Api(kube_api).create_namespaced_network_policy(namespace, body)
        return
    deadline = time.monotonic() + 60
    while True:
        try:
            client.CoreV1Api(kube_api).create_namespaced_pod(namespace, body)
            return
        except ApiException as error:
            # The service account controller creates `default` shortly after the namespace.
            if "serviceaccount" not in str(error.body).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "error" not in err, err
    return code, json.loads(out)


def test_live_answers_equal_offline_answers_for_the_same_objects(
    make_namespace: MakeNamespace,
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    team = f"t{uuid.uuid4().hex[:8]}"
    front = make_namespace("reach-front", labels={"team": team})
    back = make_namespace("reach-back", labels={"team": f"{team}-back"})
    bodies = objects(front=front, back=back, team=team)
    for body in bodies:
        create(kube_api, body)
    namespaces = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": front, "labels": {"team": team}},
        },
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": back, "labels": {"team": f"{team}-back"}},
        },
    ]
    offline = tmp_path / "objects.yaml"
    offline.write_text(yaml.safe_dump_all(namespaces + bodies))
    live_args = ("--kubeconfig", str(admin_kubeconfig))
    shown = ("--namespace", front, "--namespace", back)

    _, live = run(capsys, "matrix", *live_args, *shown, "-o", "json")
    _, files = run(capsys, "matrix", "-f", str(offline), *shown, "-o", "json")
    assert live["pods"] == sorted(
        f"{body['metadata']['namespace']}/{body['metadata']['name']}"
        for body in bodies
        if body["kind"] == "Pod"
    )
    assert live == files
    # The policies do something: web reaches api on its named ports only, api reaches db.
    connections = {(entry["src"], entry["dst"]): entry["allowed"] for entry in live["connections"]}
    assert connections[(f"{front}/web", f"{back}/api")] == {
        "TCP": [[8081, 8081]],
        "UDP": [[5353, 5353]],
        "SCTP": [],
    }
    assert connections[(f"{back}/api", f"{back}/db")] == {
        "TCP": [[5432, 5432]],
        "UDP": [],
        "SCTP": [],
    }
    assert (f"{front}/batch", f"{back}/api") not in connections

    _, narrowed = run(capsys, "matrix", *live_args, "--namespace", back, "-o", "json")
    _, narrowed_files = run(capsys, "matrix", "-f", str(offline), "--namespace", back, "-o", "json")
    assert narrowed == narrowed_files

    for source, destination, port, status in (
        (f"{front}/web", f"{back}/api", "http", 0),
        (f"{front}/web", f"{back}/api", "5353/UDP", 0),
        (f"{front}/batch", f"{back}/api", "8081", 1),
        (f"{back}/api", f"{back}/db", "5432", 0),
        (f"{back}/db", f"{back}/api", "8081", 1),
        (f"{back}/api", "10.1.2.3", "443", 0),
        (f"{back}/api", "10.96.0.1", "443", 1),
    ):
        question = ("--from", source, "--to", destination, "--port", port, "-o", "json")
        live_code, live_answer = run(capsys, "explain", *live_args, *question)
        file_code, file_answer = run(capsys, "explain", "-f", str(offline), *question)
        assert (live_code, live_answer) == (file_code, file_answer)
        assert live_code == status, live_answer


def run_any(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_live_services_and_workloads_resolve_to_their_pods(
    make_namespace: MakeNamespace,
    kube_api: client.ApiClient,
    admin_kubeconfig: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Deployment's pods and a Service's named targetPort, asked about by name on the real
    API server."""
    team = f"t{uuid.uuid4().hex[:8]}"
    front = make_namespace("reach-front", labels={"team": team})
    back = make_namespace("reach-back", labels={"team": f"{team}-back"})
    for body in objects(front=front, back=back, team=team):
        create(kube_api, body)
    client.AppsV1Api(kube_api).create_namespaced_deployment(
        front,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web", "rollout": "x"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "rollout": "x"}},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "containers": [{"name": "web", "image": "registry.invalid/app:1"}],
                    },
                },
            },
        },
    )
    client.CoreV1Api(kube_api).create_namespaced_service(
        back,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "api"},
            "spec": {
                "selector": {"app": "api"},
                "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
            },
        },
    )
    # The test control plane runs no workload controllers: the pods a ReplicaSet would make
    # (the template's labels, generated names) are created here. netiso finds them the way it
    # finds them in any cluster: by the Deployment's spec.selector.
    for suffix in ("7d9f-a1", "7d9f-b2"):
        replica = pod(
            namespace=front, name=f"web-{suffix}", labels={"app": "web", "rollout": "x"}, ports=[]
        )
        create(kube_api, replica)
    names = [f"{front}/web-7d9f-a1", f"{front}/web-7d9f-b2"]
    live = ("--kubeconfig", str(admin_kubeconfig))

    code, out, err = run_any(
        capsys, "explain", *live, "-n", front, "--from", "deploy/web",
        "--to", f"{back}/svc/api:web", "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    body = json.loads(out)
    assert body["targets"]["from"]["members"] == names
    assert [(pair["to"], pair["port"]) for pair in body["pairs"]] == [(f"{back}/api", 8081)] * 2
    assert body["service_port"] == "80/TCP (web) -> targetPort http"

    # A pod the policies do not admit: denied (1), never confused with a bad question (2).
    code, out, _ = run_any(
        capsys, "explain", *live, "--from", f"{front}/pod/batch", "--to", f"{back}/svc/api",
    )  # fmt: skip
    assert code == 1
    assert out.startswith(f"to svc/api in {back}: {back}/api\n")
    code, out, err = run_any(
        capsys, "explain", *live, "-n", front, "--from", "deploy/web", "--to", "svc/api:80"
    )
    assert (code, out) == (2, "")
    assert err == f"netiso explain: error: --to: no Service {front}/api in the input\n"

    code, out, err = run_any(capsys, "matrix", *live, "-n", back, "svc/api", "-o", "json")
    assert code == 0, err
    shown = json.loads(out)["pods"]
    assert shown == sorted([f"{back}/api", f"{back}/db", f"{front}/web", *names])
