"""The dataplane tests' second model: reference semantics, and each kube-router deviation
switched on alone changing exactly the answer it describes."""

from __future__ import annotations

from typing import Any

from tests.dataplane.enforcermodel import Cluster, Deviation, Pod, allows, explain

A = Pod("ns", "a", {"app": "a"}, "10.244.0.2", ())
B = Pod("ns", "b", {"app": "b"}, "10.244.0.3", (("http", "TCP", 8080),))
C = Pod("ns", "c", {"app": "c"}, "10.244.0.4", (("http", "TCP", 8080), ("metrics", "TCP", 9090)))


def policy(spec: dict[str, Any], name: str = "p") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def cluster(*policies: dict[str, Any], pods: tuple[Pod, ...] = (A, B, C)) -> Cluster:
    return Cluster(pods, {"ns": {"team": "x"}}, policies)


def test_reference_semantics_named_ports_resolve_on_the_destination() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": "http"}]}],
            }
        )
    )
    assert allows(world, src=A, dst=B, port=8080, protocol="TCP")
    assert not allows(world, src=A, dst=B, port=9090, protocol="TCP")
    assert not allows(world, src=B, dst=A, port=8080, protocol="TCP")


def test_cross_direction_rules_are_too_permissive_when_one_policy_selects_both() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [{"to": [{"podSelector": {}}]}],
            }
        )
    )
    assert not allows(world, src=A, dst=B, port=80, protocol="TCP")
    assert explain(world, src=A, dst=B, port=80, protocol="TCP", observed_open=True) == (
        Deviation.CROSS_DIRECTION,
    )


def test_unresolved_named_ports_admit_every_port() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"app": "a"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {}}],
                        "ports": [{"protocol": "TCP", "port": "http"}],
                    }
                ],
            }
        )
    )
    assert not allows(world, src=B, dst=A, port=443, protocol="TCP")
    assert Deviation.UNRESOLVED_NAMED_PORTS in explain(
        world, src=B, dst=A, port=443, protocol="TCP", observed_open=True
    )


def test_named_ports_on_egress_ip_blocks_admit_nothing() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {"matchLabels": {"app": "a"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{"ipBlock": {"cidr": "10.244.0.0/24"}}],
                        "ports": [{"protocol": "TCP", "port": "http"}],
                    }
                ],
            }
        )
    )
    assert allows(world, src=A, dst=B, port=8080, protocol="TCP")
    assert explain(world, src=A, dst=B, port=8080, protocol="TCP", observed_open=False) == (
        Deviation.EGRESS_IPBLOCK_NAMED_PORTS,
    )


def test_a_shared_named_port_can_leak_a_pod_into_another_named_port_list() -> None:
    world = cluster(
        policy(
            {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": "metrics"}]}],
            }
        )
    )
    # B shares http/8080 with C; C's list for `metrics` may then hold B's address.
    assert not allows(world, src=A, dst=B, port=9090, protocol="TCP")
    assert explain(world, src=A, dst=B, port=9090, protocol="TCP", observed_open=True) == (
        Deviation.NAMED_PORT_IP_LEAK,
    )
    # A declares no named port: nothing links it to C.
    assert explain(world, src=B, dst=A, port=9090, protocol="TCP", observed_open=True) == ()


def test_a_disagreement_no_deviation_explains_is_reported_as_such() -> None:
    world = cluster(policy({"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}))
    assert explain(world, src=A, dst=B, port=80, protocol="TCP", observed_open=True) == ()
