"""Generator of reachability benchmark inputs: N namespaces under netiso's baseline profile.

Each namespace gets the policies the sample baseline profile renders (four), five workloads
(Deployments with named ports) and two application policies; plus kube-system/kube-dns,
ingress-nginx's controller and monitoring's Prometheus: 5N + 3 workloads, 6N policies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.rendering.bodies import render_policies
from netiso.rendering.environment import make_environment

ROOT: Final = Path(__file__).resolve().parents[1]
SAMPLE_PROFILE: Final = ROOT / "manifests" / "samples" / "baseline.yaml"
# name -> (labels, named container ports (name, number, protocol))
WORKLOADS: Final[dict[str, tuple[dict[str, str], tuple[tuple[str, int, str], ...]]]] = {
    "web": ({"app": "web", "tier": "frontend"}, (("http", 8080, "TCP"),)),
    "api": ({"app": "api", "tier": "backend"}, (("http", 8080, "TCP"), ("grpc", 9090, "TCP"))),
    "worker": ({"app": "worker", "tier": "backend"}, (("metrics", 9100, "TCP"),)),
    "db": ({"app": "db", "tier": "data"}, (("pg", 5432, "TCP"),)),
    "cache": ({"app": "cache", "tier": "data"}, (("redis", 6379, "TCP"),)),
}


def namespace_name(index: int) -> str:
    """The name of the index-th generated application namespace."""
    return f"team-{index:05d}"


def deployment(
    key: str, *, labels: dict[str, str], ports: tuple[tuple[str, int, str], ...]
) -> dict[str, Any]:
    """A Deployment `namespace/name` whose pod template has `labels` and named ports."""
    namespace, _, name = key.partition("/")
    container_ports = [
        {"name": port_name, "containerPort": number, "protocol": protocol}
        for port_name, number, protocol in ports
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": "app", "ports": container_ports}]},
            },
        },
    }


def application_policies(namespace: str) -> list[dict[str, Any]]:
    """Two policies a namespace owner would add: who may call the backends, and app egress."""
    meta = {"namespace": namespace}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-backends", **meta},
            "spec": {
                "podSelector": {
                    "matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["backend", "data"]}
                    ]
                },
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"tier": "frontend"}}}],
                        "ports": [{"port": "http"}],
                    },
                    {
                        "from": [{"podSelector": {"matchLabels": {"tier": "backend"}}}],
                        "ports": [{"port": "pg"}, {"port": "redis"}],
                    },
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-app-egress", **meta},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": {}}]},
                    {
                        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                        "ports": [{"port": 443}],
                    },
                ],
            },
        },
    ]


def platform_objects() -> list[dict[str, Any]]:
    """kube-system with kube-dns, ingress-nginx's controller, monitoring's Prometheus."""
    namespaces = ["kube-system", "ingress-nginx", "monitoring"]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in namespaces
    ]
    objects.append(
        deployment(
            "kube-system/coredns",
            labels={"k8s-app": "kube-dns"},
            ports=(("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")),
        )
    )
    objects.append(
        deployment(
            "ingress-nginx/ingress-nginx-controller",
            labels={
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
            },
            ports=(("http", 80, "TCP"),),
        )
    )
    objects.append(
        deployment(
            "monitoring/prometheus",
            labels={"app.kubernetes.io/name": "prometheus"},
            ports=(("web", 9090, "TCP"),),
        )
    )
    return objects


def generate(directory: Path, *, namespaces: int) -> int:
    """Write the inputs as one YAML file per namespace; returns the number of objects."""
    directory.mkdir(parents=True, exist_ok=True)
    profile = parse_profile(yaml.safe_load(SAMPLE_PROFILE.read_text()))
    environment = make_environment(None)
    count = 0
    platform = platform_objects()
    (directory / "platform.yaml").write_text(yaml.safe_dump_all(platform, sort_keys=False))
    count += len(platform)
    for index in range(namespaces):
        name = namespace_name(index)
        labels = {"netiso.io/profile": profile.name, "team": f"t{index % 10}"}
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        ]
        objects.extend(
            deployment(f"{name}/{workload}", labels=workload_labels, ports=ports)
            for workload, (workload_labels, ports) in WORKLOADS.items()
        )
        objects.extend(
            policy.body
            for policy in render_policies(environment, profile, NamespaceFacts(name, labels))
        )
        objects.extend(application_policies(name))
        (directory / f"{name}.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
        count += len(objects)
    return count
