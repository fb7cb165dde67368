"""Golden files: the exact NetworkPolicies every template renders, for every optional part.

Each case renders a profile for namespace team-a and compares the YAML stream with
tests/golden/<case>.yaml. Regenerate after an intended change with NETISO_UPDATE_GOLDEN=1
(then review the diff); otherwise the comparison is exact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from netiso.model.apiendpoints import api_server_endpoints
from netiso.model.namespaces import NamespaceFacts
from netiso.model.parsing import parse_profile
from netiso.model.planning import ROLES
from netiso.rendering.bodies import render_policies
from netiso.rendering.environment import make_environment

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "golden"
SAMPLES = REPO / "manifests" / "samples"
UPDATE = os.environ.get("NETISO_UPDATE_GOLDEN") == "1"


def sample(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SAMPLES / name).read_text())
    return document


def inline(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "netiso.io/v1alpha1",
        "kind": "IsolationProfile",
        "metadata": {"name": name},
        "spec": spec,
    }


CASES: dict[str, dict[str, Any]] = {
    # All four templates, from the shipped sample.
    "baseline": sample("baseline.yaml"),
    # Staged rollout: ingress deny only, DNS enabled but not planned while egress is open.
    "ingress-only": sample("ingress-only.yaml"),
    # Egress deny only: DNS planned, the gateway allow is not (ingress is open anyway).
    "egress-only": inline(
        "egress-only",
        owner="team-a",
        defaultDeny={"ingress": False, "egress": True},
        gateway={"enabled": True, "namespaces": ["ingress-nginx"], "ports": [{"port": 80}]},
    ),
    # DNS disabled: the default-deny denies egress with no DNS allow.
    "dns-disabled": inline(
        "dns-disabled",
        dns={"enabled": False},
        gateway={"enabled": True, "namespaces": ["ingress-nginx"], "ports": [{"port": 8080}]},
    ),
    # NodeLocal DNSCache: a second, ipBlock peer on the DNS ports; a custom DNS selector.
    "node-local-cache": inline(
        "node-local-cache",
        dns={
            "namespace": "dns-system",
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "coredns"}},
            "nodeLocalCache": {"enabled": True, "address": "169.254.20.10"},
        },
    ),
    # Port ranges (endPort), named ports, UDP and SCTP, target pod selectors.
    "end-port-ranges": inline(
        "end-port-ranges",
        gateway={
            "enabled": True,
            "namespaces": ["gateway-system"],
            "targetPodSelector": {"matchLabels": {"app": "web"}},
            "ports": [
                {"port": 30000, "endPort": 30100},
                {"protocol": "UDP", "port": 443},
                {"port": "https"},
            ],
        },
        monitoring={
            "enabled": True,
            "namespaces": ["monitoring"],
            "ports": [
                {"protocol": "TCP", "port": 9090, "endPort": 9100},
                {"protocol": "SCTP", "port": 9200},
            ],
        },
    ),
    # matchExpressions everywhere, several peer namespaces (one In expression), no gateway pods.
    "match-expressions": inline(
        "match-expressions",
        dns={
            "podSelector": {
                "matchExpressions": [
                    {"key": "k8s-app", "operator": "In", "values": ["kube-dns", "coredns"]}
                ]
            }
        },
        gateway={
            "enabled": True,
            "namespaces": ["ingress-a", "ingress-b"],
            "targetPodSelector": {
                "matchLabels": {"exposed": "true"},
                "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
            },
            "ports": [{"port": 8080}],
        },
        monitoring={
            "enabled": True,
            "namespaces": ["monitoring", "observability"],
            "podSelector": {
                "matchExpressions": [
                    {
                        "key": "app.kubernetes.io/name",
                        "operator": "In",
                        "values": ["prometheus", "vmagent"],
                    },
                    {"key": "shard", "operator": "Exists"},
                ]
            },
            "targetPodSelector": {
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
            },
            "ports": [{"port": "metrics"}],
        },
    ),
    "api-server": inline(
        "api-server",
        apiServer={"enabled": True, "podSelector": {"matchLabels": {"api-access": "true"}}},
    ),
    "api-server-unknown-endpoints": inline(
        "api-server-unknown", apiServer={"enabled": True, "allPods": True}
    ),
}
# The API server's endpoints a case renders with (none known for the others).
ENDPOINTS = {
    "api-server": api_server_endpoints(
        [
            {
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
                "endpoints": [{"addresses": ["192.168.10.2"]}, {"addresses": ["192.168.10.1"]}],
            },
            {"ports": [{"name": "https", "port": 443}], "endpoints": [{"addresses": ["fd00::10"]}]},
        ]
    )
}


def rendered_stream(case: str) -> str:
    policies = render_policies(
        make_environment(),
        parse_profile(CASES[case]),
        NamespaceFacts("team-a"),
        api_server=ENDPOINTS.get(case),
    )
    return yaml.safe_dump_all(
        [policy.body for policy in policies], sort_keys=False, explicit_start=True
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_policies_match_the_golden_file(case: str) -> None:
    actual = rendered_stream(case)
    golden = GOLDEN / f"{case}.yaml"
    if UPDATE:
        golden.write_text(actual)
    assert golden.exists(), f"{golden} missing: run with NETISO_UPDATE_GOLDEN=1"
    assert actual == golden.read_text()


def test_every_golden_file_belongs_to_a_case() -> None:
    assert {path.stem for path in GOLDEN.glob("*.yaml")} == set(CASES)


def test_goldens_together_exercise_every_template_and_optional_part() -> None:
    documents = [
        doc for case in CASES for doc in yaml.safe_load_all((GOLDEN / f"{case}.yaml").read_text())
    ]
    assert {doc["metadata"]["labels"]["netiso.io/policy"] for doc in documents} == set(ROLES)
    text = "\n".join((GOLDEN / f"{case}.yaml").read_text() for case in CASES)
    for part in ("ipBlock", "endPort", "matchExpressions", "protocol: SCTP", "port: https"):
        assert part in text
    policy_types = {
        tuple(doc["spec"]["policyTypes"])
        for doc in documents
        if doc["metadata"]["labels"]["netiso.io/policy"] == "default-deny"
    }
    assert policy_types == {("Ingress", "Egress"), ("Ingress",), ("Egress",)}
