"""`netiso explain` and `netiso matrix` on what people name: Services (port -> targetPort,
named target ports resolved per pod), workloads, label selectors, -n/-A, IPs and CIDRs, and
--profile showing every namespace it changes. Every documented error is one line and exit 2.

Unit tests of the top layer, in-process through cli.main(argv), on a small dump written here:
a `shop` namespace with live-like pods of two Deployments behind Services.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso.cli.targets import parse_reference
from tests.unit.cli.running import run

REPO = Path(__file__).resolve().parents[3]
BASELINE = REPO / "manifests" / "samples" / "baseline.yaml"


def pod(name: str, app: str, *, namespace: str = "shop", port: int = 8080) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": port}]}]},
    }


def deployment(name: str, *, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": []}},
        },
    }


def service(name: str, selector: dict[str, str] | None, ports: list[Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"ports": ports}
    if selector is not None:
        spec["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": spec,
    }


POLICIES = [
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "frontend-to-checkout", "namespace": "shop"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "frontend"}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"podSelector": {"matchLabels": {"app": "checkout"}}}]},
                {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]},
            ],
        },
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "checkout-from-frontend", "namespace": "shop"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "checkout"}},
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}],
                    "ports": [{"port": "http"}],
                }
            ],
        },
    },
]
OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
    pod("frontend-1", "frontend"),
    pod("frontend-2", "frontend"),
    # checkout's pods listen on different numbers under one port name: a Service's named
    # targetPort resolves per pod.
    pod("checkout-1", "checkout", port=8080),
    pod("checkout-2", "checkout", port=9090),
    pod("admin-1", "admin"),
    {
        **deployment("frontend"),
        "kind": "ReplicaSet",
        "metadata": {"name": "frontend-rs", "namespace": "shop"},
    },
    service("checkout", {"app": "checkout"}, [{"name": "web", "port": 80, "targetPort": "http"}]),
    service(
        "two",
        {"app": "checkout"},
        [{"name": "a", "port": 80, "targetPort": 8080}, {"name": "b", "port": 81}],
    ),
    service("manual", None, [{"port": 80}]),
    service("empty", {"app": "nothing"}, [{"port": 80}]),
    service("admin", {"app": "admin"}, [{"port": 80, "targetPort": 8080}]),
    *POLICIES,
]


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    # The Deployment object is not in the dump: its pods are, as in `kubectl get pods -o yaml`.
    path.write_text(yaml.safe_dump_all(OBJECTS))
    return path


def explain_json(
    capsys: pytest.CaptureFixture[str], dump: Path, *argv: str
) -> tuple[int, dict[str, Any]]:
    code, out, err = run(capsys, "explain", "-f", str(dump), *argv, "-o", "json")
    assert err == ""
    return code, json.loads(out)


def test_a_service_port_leads_to_each_pods_named_target_port(
    capsys: pytest.CaptureFixture[str], dump: Path
) -> None:
    code, body = explain_json(
        capsys, dump, "--from", "shop/frontend-1", "--to", "shop/svc/checkout:80"
    )
    assert code == 0
    pairs = {(pair["to"], pair["port"]) for pair in body["pairs"]}
    assert pairs == {("shop/checkout-1", 8080), ("shop/checkout-2", 9090)}
    assert all(pair["allowed"] for pair in body["pairs"])
    assert body["service_port"] == "80/TCP (web) -> targetPort http"
    # By the port's name, in -n, with --port: the same answer.
    code, again = explain_json(
        capsys, dump, "-n", "shop", "--from", "frontend-1", "--to", "svc/checkout", "--port", "web"
    )
    assert (code, again["pairs"]) == (0, body["pairs"])


def test_a_service_answer_is_denied_when_one_pod_is(
    capsys: pytest.CaptureFixture[str], dump: Path
) -> None:
    # admin is not allowed by checkout's ingress: from the admin Service's pods, all denied.
    code, body = explain_json(
        capsys, dump, "-n", "shop", "--from", "svc/admin", "--to", "svc/checkout"
    )
    assert code == 1
    assert body["allowed"] is False
    assert body["diagnosis"] == "missing egress allow on the source"
    assert [pair["allowed"] for pair in body["pairs"]] == [False, False]


def test_a_workload_stands_for_its_pods_by_its_selector(
    capsys: pytest.CaptureFixture[str], dump: Path
) -> None:
    code, body = explain_json(
        capsys,
        dump,
        "-n",
        "shop",
        "--from",
        "rs/frontend-rs",
        "--to",
        "shop/checkout-1",
        "--port",
        "http",
    )
    assert code == 0
    assert body["targets"]["from"] == {
        "names": "rs/frontend-rs in shop",
        "members": ["shop/frontend-1", "shop/frontend-2"],
    }
    assert len(body["pairs"]) == 2


def test_a_label_selector_names_pods_in_the_namespace_or_everywhere(
    capsys: pytest.CaptureFixture[str], dump: Path
) -> None:
    code, body = explain_json(
        capsys,
        dump,
        "-n",
        "shop",
        "--from",
        "app in (frontend)",
        "--to",
        "app=checkout",
        "--port",
        "http",
    )
    assert code == 0
    assert len(body["pairs"]) == 4
    code, body = explain_json(
        capsys, dump, "-A", "--from", "app=admin", "--to", "app=checkout", "--port", "http"
    )
    assert code == 1


def test_a_cidr_is_answered_range_by_range(capsys: pytest.CaptureFixture[str], dump: Path) -> None:
    code, body = explain_json(
        capsys, dump, "--from", "shop/frontend-1", "--to", "10.0.0.0/15", "--port", "443"
    )
    assert code == 1
    answers = {pair["to"]: pair["allowed"] for pair in body["pairs"]}
    assert body["targets"]["to"]["members"] == ["10.0.0.0/16", "10.1.0.0/16"]
    assert answers == {"10.0.0.0": True, "10.1.0.0": False}


def test_text_names_every_connection_then_the_first_denied_in_full(
    capsys: pytest.CaptureFixture[str], dump: Path
) -> None:
    code, out, _ = run(
        capsys,
        "explain",
        "-f",
        str(dump),
        "-n",
        "shop",
        "--from",
        "app=frontend",
        "--to",
        "10.0.0.0/15",
        "--port",
        "443",
    )
    assert code == 1
    lines = out.splitlines()
    assert (
        lines[0]
        == "from pods matching app=frontend in namespace shop: shop/frontend-1, shop/frontend-2"
    )
    assert (
        lines[1] == "to 10.0.0.0/15 (2 range(s) the policies treat alike): 10.0.0.0/16, 10.1.0.0/16"
    )
    assert lines[2] == "4 connections: 2 allowed, 2 denied"
    denied = "  DENIED  shop/frontend-1 -> 10.1.0.0 on 443/TCP: "
    assert any(line.startswith(denied) for line in lines)
    assert "the first denied connection in full:" in lines
    assert "DENIED: shop/frontend-1 -> 10.1.0.0 on 443/TCP" in lines


def test_matrix_targets_show_their_pods_and_every_peer(
    capsys: pytest.CaptureFixture[str], dump: Path
) -> None:
    code, out, err = run(
        capsys, "matrix", "-f", str(dump), "-n", "shop", "svc/checkout", "-o", "json"
    )
    assert (code, err) == (0, "")
    body = json.loads(out)
    assert body["pods"] == [
        "shop/checkout-1",
        "shop/checkout-2",
        "shop/frontend-1",
        "shop/frontend-2",
    ]
    assert {(c["src"], c["dst"]) for c in body["connections"]} == {
        (f"shop/frontend-{a}", f"shop/checkout-{b}") for a in (1, 2) for b in (1, 2)
    }


def test_matrix_with_a_profile_shows_every_namespace_it_changes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in ("shop", "ingress-nginx", "kube-system", "quiet")
    ] + [
        pod("web", "web"),
        {
            **pod("controller", "ingress-nginx", namespace="ingress-nginx"),
            "metadata": {
                "name": "controller",
                "namespace": "ingress-nginx",
                "labels": {
                    "app.kubernetes.io/name": "ingress-nginx",
                    "app.kubernetes.io/component": "controller",
                },
            },
        },
        pod("quiet", "quiet", namespace="quiet"),
    ]
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    code, out, err = run(
        capsys, "matrix", "-f", str(path), "--profile", str(BASELINE), "-n", "shop", "-o", "json"
    )
    assert code == 0, err
    pods = json.loads(out)["pods"]
    # The profile isolates shop and admits the ingress controller: both namespaces change;
    # `quiet` changes too (it loses access to shop), kube-system holds no pod.
    assert pods == ["ingress-nginx/controller", "quiet/quiet", "shop/web"]
    assert err == "netiso: --profile also changes namespaces ingress-nginx, quiet: shown too\n"


@pytest.mark.parametrize(
    ("command", "argv", "message"),
    [
        (
            "explain",
            ["--from", "shop/frontend-1", "--to", "svc/nope:80"],
            "--to: no Service default/nope in the input",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "frontend-1", "--to", "svc/manual"],
            "--to: Service shop/manual has no selector: its endpoints are not pods netiso can "
            "name (ask about the pods or addresses behind it)",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "frontend-1", "--to", "svc/empty"],
            "--to: Service shop/empty selects no pod in the input (selector app=nothing)",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "frontend-1", "--to", "svc/two"],
            "--to: Service shop/two has 2 ports (80/TCP (a) -> targetPort 8080, 81/TCP (b) "
            "-> targetPort 81): name one, as svc/two:PORT or with --port",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "frontend-1", "--to", "svc/two:99"],
            "--to: Service shop/two has no port 99 (ports: 80/TCP (a) -> targetPort 8080, "
            "81/TCP (b) -> targetPort 81)",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "frontend-1", "--to", "svc/two:80", "--port", "80"],
            "--port: the port is already named in svc/two:80",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "deploy/nope", "--to", "frontend-1", "--port", "80"],
            "--from: no Deployment shop/nope in the input",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "sts/db", "--to", "frontend-1", "--port", "80"],
            "--from: no StatefulSet shop/db in the input",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "pod/nope", "--to", "frontend-1", "--port", "80"],
            "--from: no pod shop/nope in the input",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "app=nope", "--to", "frontend-1", "--port", "80"],
            "--from: no pod in namespace shop matches 'app=nope'",
        ),
        (
            "explain",
            ["-n", "shop", "--from", "frontend-1", "--to", "checkout-1"],
            "--port: required (a number or a named port of the destination)",
        ),
        (
            "explain",
            ["--from", "a/b/c/d", "--to", "x", "--port", "80"],
            "--from: expected NAMESPACE/POD, KIND/NAME, NAMESPACE/KIND/NAME, a label selector "
            "or an IP address, got 'a/b/c/d'",
        ),
        (
            "explain",
            ["--from", "svc/Bad_Name", "--to", "x", "--port", "80"],
            "--from: 'svc/Bad_Name': not a Kubernetes object name",
        ),
        (
            "explain",
            ["-n", "Bad", "--from", "x", "--to", "y", "--port", "80"],
            "--namespace: must be a DNS-1123 label",
        ),
        (
            "matrix",
            ["10.0.0.1"],
            "TARGET: 10.0.0.1 is an address: matrix shows pods (its External section lists "
            "addresses)",
        ),
        ("matrix", ["svc/nope"], "TARGET: no Service default/nope in the input"),
    ],
)
def test_every_documented_error_is_one_line_and_exit_two(
    capsys: pytest.CaptureFixture[str], dump: Path, command: str, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, command, "-f", str(dump), *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"netiso {command}: error: {message}"), err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "kind", "namespace", "name", "port"),
    [
        ("shop/web", "Key", "shop", "web", ""),
        ("shop/web[Deployment]", "Key", "shop", "web[Deployment]", ""),
        ("web", "Key", None, "web", ""),
        ("deploy/web", "Deployment", None, "web", ""),
        ("shop/sts/db", "StatefulSet", "shop", "db", ""),
        ("svc/api:http", "Service", None, "api", "http"),
        ("shop/service/api:8080", "Service", "shop", "api", "8080"),
        ("app.kubernetes.io/name=web", "Selector", None, "app.kubernetes.io/name=web", ""),
        ("!canary", "Selector", None, "!canary", ""),
        ("fd00:ec2::254", "Address", None, "fd00:ec2::254", ""),
        ("169.254.0.0/16", "Network", None, "169.254.0.0/16", ""),
    ],
)
def test_targets_read_as_kubectl_names_them(
    text: str, kind: str, namespace: str | None, name: str, port: str
) -> None:
    reference = parse_reference(text, option="--to")
    assert (reference.kind, reference.namespace, reference.name, reference.port) == (
        kind,
        namespace,
        name,
        port,
    )
