"""Policies read from a large dump share their equal parts, and the matrix reads them alike."""

from __future__ import annotations

from typing import Any

from netiso.reachability.addresses import parse_address
from netiso.reachability.indexing import compute_matrix
from netiso.reachability.policies import Interner, parse_network_policy
from netiso.reachability.snapshots import make_snapshot
from netiso.reachability.workloads import Pod


def policy(name: str, namespace: str, cidr: str = "10.0.0.0/16") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": cidr, "except": ["10.0.1.0/24"]}}],
                    "ports": [{"port": 443}],
                }
            ],
        },
    }


def test_equal_rules_and_selectors_are_stored_once() -> None:
    interner = Interner()
    first = interner.policy(parse_network_policy(policy("a", "ns-1")))
    second = interner.policy(parse_network_policy(policy("b", "ns-2")))
    assert first.egress is second.egress
    assert first.pod_selector is second.pod_selector
    assert first == parse_network_policy(policy("a", "ns-1"))


def test_an_ip_block_matches_pods_in_its_cidr_but_not_in_its_exceptions() -> None:
    def pod(name: str, address: str) -> Pod:
        ip = parse_address(address)
        assert ip is not None
        return Pod("ns-1", name, labels={"app": "web"}, ips=(ip,))

    pods = [
        pod("inside", "10.0.2.7"),
        pod("excepted", "10.0.1.9"),
        pod("outside", "10.1.0.1"),
        pod("v6", "fd00::1"),
    ]
    matrix = compute_matrix(
        make_snapshot(
            namespaces=(), pods=pods, policies=[parse_network_policy(policy("a", "ns-1"))]
        )
    )
    names = [p.name for p in matrix.pods]
    source = names.index("outside")
    reached = {names[j] for j, ports in matrix.egress[source].items() if not ports.empty}
    assert reached == {"inside"}
